// Package system is understage's backend system, in the shape of
// Backstage's: a Backend is a list of features (plugins and the modules
// that extend them) added to it. Each feature registers what it provides
// (services, extension points) and an init that declares the services it
// needs; the backend initialises plugins in dependency order, every module
// of a plugin before the plugin itself (so the plugin's extension points
// are filled when it starts), then runs the lifecycle: startup hooks and
// loops in that order, shutdown in reverse, databases closed last.
//
// Core services every plugin gets through its Env: config, logger,
// lifecycle, its own database, its own HTTP router under /api/<id>, its own
// scheduler, and the URL reader. Services that plugins provide to others
// (auth, permissions, the catalog) are named by refs in package services.
package system

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/lifecycle"
	"github.com/understage/understage/plugins/backend/metrics"
	"github.com/understage/understage/plugins/backend/scheduler"
	"github.com/understage/understage/plugins/backend/urlreaders"
	"github.com/understage/understage/plugins/github"
)

// ServiceRef names a service of type T that one plugin provides and others
// depend on.
type ServiceRef[T any] struct{ ID string }

// ExtensionPoint names an extension point of type T owned by one plugin
// and used by its modules.
type ExtensionPoint[T any] struct{ ID string }

// Feature is a plugin or a module.
type Feature interface{ featureID() string }

// Plugin is a backend plugin: Register registers its extension points and
// its init.
type Plugin struct {
	ID       string
	Register func(r *Registrar)
}

// Module extends the plugin PluginID, through its extension points.
type Module struct {
	PluginID, ModuleID string
	Register           func(r *Registrar)
}

func (p Plugin) featureID() string { return p.ID }
func (m Module) featureID() string { return m.PluginID + "." + m.ModuleID }

// Init is a feature's initialisation: Deps are the ids of the services
// (ServiceRef.ID) it needs, Provides those it provides; Func runs once
// every dependency has been provided.
type Init struct {
	Deps     []string
	Provides []string
	Func     func(ctx context.Context, env *Env) error
}

// Registrar is what a feature's Register receives.
type Registrar struct {
	b       *Backend
	feature string
	plugin  string
	inits   []Init
}

// RegisterInit adds an init.
func (r *Registrar) RegisterInit(in Init) { r.inits = append(r.inits, in) }

// RegisterExtensionPoint makes impl the extension point ep of r's plugin.
func RegisterExtensionPoint[T any](r *Registrar, ep ExtensionPoint[T], impl T) {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	if _, dup := r.b.extensionPoints[ep.ID]; dup {
		r.b.errs = append(r.b.errs, fmt.Errorf("extension point %s registered twice", ep.ID))
		return
	}
	r.b.extensionPoints[ep.ID] = extensionPoint{plugin: r.plugin, impl: impl}
}

type extensionPoint struct {
	plugin string
	impl   any
}

// Options configure New.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// URLReader is the URL reader service; nil builds the allow-listed
	// readers of the integrations (plugins/backend/urlreaders).
	URLReader catalog.URLReader
}

// Backend is a list of features and the services they share.
type Backend struct {
	cfg       *config.Config
	log       *slog.Logger
	server    *httpserver.Server
	urls      catalog.URLReader
	github    *github.Clients
	lifecycle *lifecycle.Service
	obs       *observability
	gates     []func(context.Context) error // readiness waits for them

	features []Feature

	mu              sync.Mutex
	services        map[string]any
	extensionPoints map[string]extensionPoint
	databases       map[string]*database.DB
	schedulers      map[string]*scheduler.Scheduler
	errs            []error
	started         bool
}

// New returns an empty backend.
func New(o Options) *Backend {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Backend{
		cfg: o.Config, log: o.Logger, urls: o.URLReader,
		lifecycle:       lifecycle.New(lifecycle.Options{Logger: o.Logger.With("service", "lifecycle")}),
		services:        map[string]any{},
		extensionPoints: map[string]extensionPoint{},
		databases:       map[string]*database.DB{},
		schedulers:      map[string]*scheduler.Scheduler{},
	}
}

// Add adds features; the order of Add does not matter.
func (b *Backend) Add(features ...Feature) { b.features = append(b.features, features...) }

// Server is the root HTTP router.
func (b *Backend) Server() *httpserver.Server { return b.server }

// Lifecycle is the root lifecycle.
func (b *Backend) Lifecycle() *lifecycle.Service { return b.lifecycle }

// Provide makes v the service ref for every feature; for root services
// given by the caller (tests, the binary).
func Provide[T any](b *Backend, ref ServiceRef[T], v T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.services[ref.ID] = v
}

// Lookup is the service ref once it has been provided (after Init).
func Lookup[T any](b *Backend, ref ServiceRef[T]) (T, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.services[ref.ID].(T)
	return v, ok
}

type unit struct {
	feature string
	plugin  string
	module  bool
	init    Init
}

// Init registers every feature and runs their inits in dependency order.
// Nothing runs yet (see Run). On an error, what was opened is closed.
func (b *Backend) Init(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			b.lifecycle.Close()
		}
	}()
	if err := CheckConfig(b.cfg, b.log); err != nil {
		return err
	}
	opsCfg, err := readOpsConfig(b.cfg)
	if err != nil {
		return err
	}
	if b.obs, err = newObservability(opsCfg); err != nil {
		return err
	}
	srvOpts := httpserver.Options{Config: b.cfg, Logger: b.log, DeferReady: true}
	if b.obs.service != nil {
		srvOpts.Meter = b.obs.service.Meter("http")
		b.lifecycle.AddCloser("metrics", func() error { return b.obs.service.Shutdown(context.Background()) })
	}
	b.server = httpserver.New(srvOpts)
	if err := b.server.Err(); err != nil {
		return err
	}
	if b.obs.service != nil && opsCfg.metricsListen == "" {
		// Outside /api, so no plugin's auth applies: scrapers send no
		// Backstage token (backend.metrics.token, when set, is checked).
		b.server.Echo().GET("/metrics", echo.WrapHandler(b.obs.handler()))
	}
	// One GitHub client per integration host, shared by the URL readers and
	// the GitHub module (providers, analyze-location, actions, autocomplete),
	// so they share one request cache and one view of the rate limit.
	if b.github, err = github.ClientsFromConfig(b.cfg, github.ClientOptions{Logger: b.log.With("module", "github")}); err != nil {
		return fmt.Errorf("github integrations: %w", err)
	}
	if b.urls == nil {
		if b.urls, err = urlreaders.Build(ctx, b.cfg, urlreaders.Options{Logger: b.log.With("service", "urlReader"), GitHubClients: b.github}); err != nil {
			return fmt.Errorf("url readers: %w", err)
		}
	}
	seen := map[string]bool{}
	plugins := map[string]bool{}
	var units []unit
	for _, f := range b.features {
		id := f.featureID()
		if seen[id] {
			return fmt.Errorf("feature %s added twice", id)
		}
		seen[id] = true
		r := &Registrar{b: b, feature: id}
		var isModule bool
		switch f := f.(type) {
		case Plugin:
			r.plugin = f.ID
			plugins[f.ID] = true
			if f.Register != nil {
				f.Register(r)
			}
		case Module:
			r.plugin, isModule = f.PluginID, true
			if f.Register != nil {
				f.Register(r)
			}
		default:
			return fmt.Errorf("unknown feature %T", f)
		}
		for _, in := range r.inits {
			units = append(units, unit{feature: id, plugin: r.plugin, module: isModule, init: in})
		}
	}
	if len(b.errs) > 0 {
		return errors.Join(b.errs...)
	}
	for _, u := range units {
		if u.module && !plugins[u.plugin] {
			return fmt.Errorf("module %s extends plugin %s, which is not added", u.feature, u.plugin)
		}
	}
	order, err := b.order(units)
	if err != nil {
		return err
	}
	for _, u := range order {
		env := b.env(u.plugin)
		// Errors name their config keys already, as Backstage's do.
		if err := u.init.Func(ctx, env); err != nil {
			return err
		}
		for _, p := range u.init.Provides {
			b.mu.Lock()
			_, ok := b.services[p]
			b.mu.Unlock()
			if !ok {
				return fmt.Errorf("%s: did not provide %s", u.feature, p)
			}
		}
	}
	return nil
}

// order sorts the units: a unit runs after those providing its deps; a
// plugin's modules run before the plugin's own inits (its extension points
// are filled by then); otherwise the order features were added in.
func (b *Backend) order(units []unit) ([]unit, error) {
	providers := map[string][]int{}
	for i, u := range units {
		for _, p := range u.init.Provides {
			providers[p] = append(providers[p], i)
		}
	}
	after := make([][]int, len(units)) // after[i]: units that must run before i
	for i, u := range units {
		for _, d := range u.init.Deps {
			b.mu.Lock()
			_, root := b.services[d]
			b.mu.Unlock()
			ps, ok := providers[d]
			if !ok && !root {
				return nil, fmt.Errorf("%s needs service %s, which no feature provides", u.feature, d)
			}
			after[i] = append(after[i], ps...)
		}
		if !u.module {
			for j, m := range units {
				if m.module && m.plugin == u.plugin {
					after[i] = append(after[i], j)
				}
			}
		}
	}
	done := make([]bool, len(units))
	var out []unit
	for len(out) < len(units) {
		progress := false
		for i := range units {
			waiting := slices.ContainsFunc(after[i], func(j int) bool { return j != i && !done[j] })
			if done[i] || waiting {
				continue
			}
			done[i] = true
			out = append(out, units[i])
			progress = true
			break
		}
		if !progress {
			var stuck []string
			for i, u := range units {
				if !done[i] {
					stuck = append(stuck, u.feature)
				}
			}
			sort.Strings(stuck)
			return nil, fmt.Errorf("features depend on each other in a cycle: %v", stuck)
		}
	}
	return out, nil
}

// Run starts the lifecycle (loops, then the HTTP server, then readiness)
// and runs until ctx ends or a loop fails, then shuts down in reverse.
func (b *Backend) Run(ctx context.Context) error {
	lc := b.lifecycle
	for id, s := range b.schedulers {
		lc.Go("scheduler "+id, s.Run)
	}
	var ln net.Listener
	lc.AddStartupHook("http listen", func(context.Context) (err error) {
		ln, err = b.server.Listen()
		return err
	})
	lc.Go("http server", func(ctx context.Context) error { return b.server.Serve(ctx, ln) })
	// Ready once every plugin's readiness gate has passed (the catalog's:
	// the first load of its configured locations is processed).
	lc.Go("readiness", func(ctx context.Context) error {
		for _, g := range b.gates {
			if err := g(ctx); err != nil {
				return nil // shutting down
			}
		}
		b.log.Info("initial catalog load done; ready")
		b.server.SetReady()
		return nil
	})
	if b.obs.service != nil && b.obs.cfg.metricsListen != "" {
		lc.Go("metrics server", func(ctx context.Context) error { return b.obs.serveMetrics(ctx, b.log) })
	}
	return lc.Run(ctx)
}

// Close releases what Init opened, for a backend that is not Run.
func (b *Backend) Close() { b.lifecycle.Close() }

// CheckConfig checks the merged config against the key table once, before
// anything is built: refused keys stop start-up; accepted keys (no effect in
// understage), unknown keys and other plugins' sections are logged.
func CheckConfig(cfg *config.Config, log *slog.Logger) error {
	res, err := config.CheckKeys(cfg)
	if err != nil {
		return err
	}
	for _, f := range res.Accepted {
		log.Info("config key has no effect in understage", "key", f.Key, "reason", f.Reason)
	}
	for _, f := range res.Unknown {
		log.Warn("unknown config key", "key", f.Key, "reason", f.Reason)
	}
	if len(res.Unlisted) > 0 {
		log.Info("config sections of plugins understage does not have are ignored", "sections", strings.Join(res.Unlisted, ", "))
	}
	return nil
}

// Env is what an init gets: the core services, scoped to its plugin.
type Env struct {
	b        *Backend
	PluginID string
	Config   *config.Config
	Logger   *slog.Logger
	// Lifecycle registers startup and shutdown hooks and loops.
	Lifecycle *lifecycle.Service
	// URLReader reads the URLs the integrations allow.
	URLReader catalog.URLReader
	// Metrics is the metrics service; nil when backend.metrics.enabled is
	// false.
	Metrics *metrics.Service
}

// AddReadinessGate makes readiness wait for gate (which returns when the
// plugin is ready, or with an error when ctx ends).
func (e *Env) AddReadinessGate(gate func(ctx context.Context) error) {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	e.b.gates = append(e.b.gates, gate)
}

func (b *Backend) env(plugin string) *Env {
	return &Env{b: b, PluginID: plugin, Config: b.cfg, Logger: b.log.With("plugin", plugin),
		Lifecycle: b.lifecycle, URLReader: b.urls, Metrics: b.obs.service}
}

// Router is the plugin's HTTP router, mounted at /api/<plugin id>.
func (e *Env) Router() *echo.Group { return e.b.server.Plugin(e.PluginID) }

// RouterFor is another mount point's router (as the events plugin's routes
// for a module that receives webhooks).
func (e *Env) RouterFor(id string) *echo.Group { return e.b.server.Plugin(id) }

// GitHubClients is the client per GitHub integration host that the URL
// readers use too; modules take theirs from here.
func (e *Env) GitHubClients() *github.Clients { return e.b.github }

// RootServer is the root HTTP router, for a plugin served outside /api
// (the frontend).
func (e *Env) RootServer() *httpserver.Server { return e.b.server }

// Database is the plugin's database, opened on first use and closed after
// every loop has stopped.
func (e *Env) Database(ctx context.Context) (*database.DB, error) {
	b := e.b
	b.mu.Lock()
	db := b.databases[e.PluginID]
	b.mu.Unlock()
	if db != nil {
		return db, nil
	}
	o, err := DatabaseOptions(b.cfg, e.PluginID, b.log)
	if err != nil {
		return nil, err
	}
	db, err = database.Open(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", e.PluginID, err)
	}
	b.mu.Lock()
	b.databases[e.PluginID] = db
	b.mu.Unlock()
	b.lifecycle.AddCloser(e.PluginID+" database", db.Close)
	return db, nil
}

// DatabaseOptions reads a plugin's database options (backend.database).
func DatabaseOptions(cfg *config.Config, pluginID string, log *slog.Logger) (database.Options, error) {
	o, err := database.ConfigOptions(cfg, pluginID, log)
	if err != nil {
		return o, err
	}
	// A relative SQLite directory is relative to the working directory, as
	// with Backstage's knex; it is created when missing, so a first run
	// needs nothing prepared.
	if m, ok := o.Connection.(map[string]any); ok && o.Client != "pg" {
		if dir, ok := m["directory"].(string); ok && dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return o, fmt.Errorf("create database directory: %w", err)
			}
		}
	}
	return o, nil
}

// Scheduler is the plugin's scheduler: its global tasks coordinate through
// the plugin's database.
func (e *Env) Scheduler(ctx context.Context) (*scheduler.Scheduler, error) {
	b := e.b
	b.mu.Lock()
	s := b.schedulers[e.PluginID]
	b.mu.Unlock()
	if s != nil {
		return s, nil
	}
	db, err := e.Database(ctx)
	if err != nil {
		return nil, err
	}
	s, err = scheduler.New(ctx, scheduler.Options{DB: db, Logger: e.Logger.With("service", "scheduler")})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.schedulers[e.PluginID] = s
	b.mu.Unlock()
	return s, nil
}

// Get is a service another feature provided (one of Init.Deps).
func Get[T any](e *Env, ref ServiceRef[T]) (T, error) {
	v, ok := Lookup(e.b, ref)
	if !ok {
		var zero T
		return zero, fmt.Errorf("service %s is not provided", ref.ID)
	}
	return v, nil
}

// Later returns a getter of a service that is provided after this init
// (a dependency that would be a cycle at init time, such as sign-in
// looking up users in the catalog); the getter works once Init is done.
func Later[T any](e *Env, ref ServiceRef[T]) func() (T, bool) {
	return func() (T, bool) { return Lookup(e.b, ref) }
}

// ProvideFrom provides a service from an init (one of Init.Provides).
func ProvideFrom[T any](e *Env, ref ServiceRef[T], v T) { Provide(e.b, ref, v) }

// Extension is the implementation of an extension point, for a module of
// the plugin that owns it.
func Extension[T any](e *Env, ep ExtensionPoint[T]) (T, error) {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	x, ok := e.b.extensionPoints[ep.ID]
	var zero T
	if !ok {
		return zero, fmt.Errorf("extension point %s is not registered", ep.ID)
	}
	if x.plugin != e.PluginID {
		return zero, fmt.Errorf("extension point %s belongs to plugin %s, not %s", ep.ID, x.plugin, e.PluginID)
	}
	v, ok := x.impl.(T)
	if !ok {
		return zero, fmt.Errorf("extension point %s has type %T", ep.ID, x.impl)
	}
	return v, nil
}
