// Package wire assembles the understage backend from its configuration. It
// is the one list of what the binary contains: to add a feature, add it
// here. It holds no logic of its own beyond translating config into the
// options of each part. Tests and the acceptance scenarios build the same
// backend through it.
package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/httpapi"
	"github.com/understage/understage/catalog/locations"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/app"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/lifecycle"
	"github.com/understage/understage/plugins/backend/scheduler"
	"github.com/understage/understage/plugins/config"
	"github.com/understage/understage/plugins/database"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/httpserver"
	"github.com/understage/understage/plugins/metrics"
	"github.com/understage/understage/plugins/permission"
	"github.com/understage/understage/plugins/urlreaders"
	"github.com/understage/understage/scaffolder/tasks"
)

// Backend is an assembled backend: the HTTP server and the catalog's parts.
type Backend struct {
	Server  *httpserver.Server
	Catalog *sqlstore.Store
	Engine  *processing.Engine

	providers        *github.Runner
	catalogScheduler *scheduler.Scheduler
	scaffolderWorker *tasks.Worker
	obs              *observability
	log              *slog.Logger
	lifecycle        *lifecycle.Service
}

// New builds the backend; nothing runs until Run.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *Backend, err error) {
	if log == nil {
		log = slog.Default()
	}
	b := &Backend{log: log, lifecycle: lifecycle.New(lifecycle.Options{Logger: log.With("service", "lifecycle")})}
	if err := checkConfig(cfg, log); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	opsCfg, err := readOpsConfig(cfg)
	if err != nil {
		return nil, err
	}
	if b.obs, err = newObservability(opsCfg); err != nil {
		return nil, err
	}
	srvOpts := httpserver.Options{Config: cfg, Logger: log, DeferReady: true}
	if b.obs.service != nil {
		srvOpts.Meter = b.obs.service.Meter("http")
		b.lifecycle.AddCloser("metrics", func() error { return b.obs.service.Shutdown(context.Background()) })
	}
	b.Server = httpserver.New(srvOpts)
	if err := b.Server.Err(); err != nil {
		return nil, err
	}
	if b.obs.service != nil && opsCfg.metricsListen == "" {
		// Outside /api, so no plugin's auth applies: scrapers send no
		// Backstage token (backend.metrics.token, when set, is checked).
		b.Server.Echo().GET("/metrics", echo.WrapHandler(b.obs.handler()))
	}

	dbOpts, err := databaseOptions(cfg, "catalog", log)
	if err != nil {
		return nil, err
	}
	db, err := database.Open(ctx, dbOpts)
	if err != nil {
		return nil, fmt.Errorf("open catalog database: %w", err)
	}
	b.lifecycle.AddCloser("catalog database", db.Close)
	store, err := sqlstore.New(ctx, db, log.With("plugin", "catalog"))
	if err != nil {
		return nil, fmt.Errorf("catalog store: %w", err)
	}
	b.Catalog = store
	var procStore catalog.ProcessingStore = store
	var observe func(catalog.ProcessingItem, catalog.ProcessingResult, time.Duration)
	if b.obs.service != nil {
		if b.obs.catalog, err = metrics.NewCatalog(b.obs.service.Meter("catalog"), store.Stats, 0); err != nil {
			return nil, fmt.Errorf("catalog metrics: %w", err)
		}
		procStore, observe = b.obs.catalog.Store(store), b.obs.catalog.ObserveProcessing
	}

	urlReaders, err := urlreaders.Build(ctx, cfg, urlreaders.Options{Logger: log.With("service", "urlReader")})
	if err != nil {
		return nil, fmt.Errorf("url readers: %w", err)
	}
	copts, err := catalogOptions(cfg)
	if err != nil {
		return nil, err
	}
	b.Engine = processing.New(processing.Options{
		Store:   procStore,
		Observe: observe,
		Readers: map[string]processing.LocationReader{
			"file": processing.FileReader{},
			"url":  processing.URLLocationReader{Readers: urlReaders},
		},
		Rules:                copts.rules,
		AllowedLocationTypes: copts.allowedLocationTypes,
		Limits:               copts.limits,
		Logger:               log.With("plugin", "catalog"),
		Interval:             copts.interval,
		OrphanStrategy:       copts.orphanStrategy,
	})
	provider := &processing.ConfigLocationsProvider{Locations: copts.locations}
	if err := provider.Connect(ctx, store); err != nil {
		return nil, err
	}
	locSvc, err := locationService(ctx, cfg, store, b.Engine, urlReaders, log.With("plugin", "catalog"))
	if err != nil {
		return nil, err
	}
	ghProviders, err := github.Providers(ctx, cfg, github.ProviderOptions{Logger: log.With("plugin", "catalog")})
	if err != nil {
		return nil, fmt.Errorf("github providers: %w", err)
	}
	// The catalog's scheduler: on PostgreSQL a provider runs on one
	// replica at a time, coordinated through the catalog's database.
	b.catalogScheduler, err = scheduler.New(ctx, scheduler.Options{DB: db, Logger: log.With("plugin", "catalog", "service", "scheduler")})
	if err != nil {
		return nil, fmt.Errorf("catalog scheduler: %w", err)
	}
	b.providers = github.NewRunner(store, b.obs.providers(ghProviders), github.RunnerOptions{Logger: log.With("plugin", "catalog"), Scheduler: b.catalogScheduler})
	webhookSecrets, err := github.WebhookSecrets(cfg)
	if err != nil {
		return nil, fmt.Errorf("github webhook: %w", err)
	}
	// GitHub signs its deliveries; the signature, not a Backstage token,
	// authenticates them (Backstage's events path, so existing hooks work).
	b.Server.Plugin("events").POST("/http/github", echo.WrapHandler(github.NewWebhook(github.WebhookOptions{
		Secrets:   webhookSecrets,
		Providers: github.DiscoveryProviders(ghProviders),
		Refresher: locationRefresher{store, b.Engine},
		Trigger:   b.providers.Trigger,
		Logger:    log.With("plugin", "events"),
	})))

	// Auth first: every other plugin's routes sit behind its barrier.
	authDBOpts, err := databaseOptions(cfg, "auth", log)
	if err != nil {
		return nil, err
	}
	authDB, err := database.Open(ctx, authDBOpts)
	if err != nil {
		return nil, fmt.Errorf("open auth database: %w", err)
	}
	b.lifecycle.AddCloser("auth database", authDB.Close)
	authSvc, err := auth.New(ctx, auth.Options{
		Config:  cfg,
		DB:      authDB,
		Catalog: catalogUsers{store},
		BaseURL: b.Server.BaseURL(),
		Logger:  log.With("plugin", "auth"),
	})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	authSvc.Register(b.Server.Plugin("auth"))

	perms, err := b.permissionService(ctx, cfg, log, authSvc)
	if err != nil {
		return nil, fmt.Errorf("permission: %w", err)
	}

	b.scaffolderWorker, err = b.scaffolderPlugin(ctx, cfg, log, store, urlReaders, authSvc, perms, catalogClient{store: store, addLocation: func(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error) {
		res, err := locSvc.Create(ctx, locations.Input{Type: typ, Target: target}, dryRun, false)
		return res.Entities, err
	}})
	if err != nil {
		return nil, err
	}

	catalogGroup := b.Server.Plugin("catalog")
	// Every catalog route is audited in Backstage; the permission
	// integration routes (permissions.RegisterIntegration) are not.
	catalogGroup.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "catalog",
		Audited: true, Unaudited: []string{permissionIntegrationPath}}))
	catalogGroup.Use(perms.AuditWrites("catalog"), httpapi.LocationPermissions(perms))
	catalogPerms := permission.CatalogIntegration(store)
	catalogPerms.Permissions = append(httpapi.UnprocessedPermissions(), catalogPerms.Permissions...)
	perms.RegisterIntegration(catalogGroup, catalogPerms)
	httpapi.Register(catalogGroup, httpapi.Options{
		Reader:      store,
		Writer:      refreshWaker{store, b.Engine},
		Validator:   b.Engine,
		Logger:      log.With("plugin", "catalog"),
		Permissions: perms,
	})
	httpapi.RegisterLocations(catalogGroup, locSvc)
	httpapi.RegisterUnprocessed(catalogGroup, store, perms)
	if err := app.Mount(ctx, b.Server, cfg, app.MountOptions{
		Catalog: store,
		Auth: func(id string, open ...string) echo.MiddlewareFunc {
			return authSvc.Middleware(auth.MiddlewareOptions{PluginID: id, Unauthenticated: open})
		},
		Logger: log.With("plugin", "app"),
	}); err != nil {
		return nil, err
	}
	return b, nil
}

// checkConfig checks the merged config against the key table once, before
// anything is built: refused keys stop start-up; accepted keys (no effect in
// understage), unknown keys and other plugins' sections are logged.
func checkConfig(cfg *config.Config, log *slog.Logger) error {
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

// ruleKinds reads a catalog rule's allow list: kinds, or objects with a
// kind and an optional 'spec.type'.
func ruleKinds(r *config.Config) ([]model.RuleKind, error) {
	var out []model.RuleKind
	items, _ := r.Get("allow").([]any)
	if !r.Has("allow") {
		return nil, fmt.Errorf("missing required config value at '%s.allow'", r.Key())
	}
	if items == nil {
		return nil, fmt.Errorf("invalid type in config for key '%s.allow', wanted array", r.Key())
	}
	for i, it := range items {
		switch v := it.(type) {
		case string:
			out = append(out, model.RuleKind{Kind: v})
		case *ojson.Object:
			kind, _ := v.Get("kind")
			k, ok := kind.(string)
			if !ok || k == "" {
				return nil, fmt.Errorf("missing required config value at '%s.allow[%d].kind'", r.Key(), i)
			}
			rk := model.RuleKind{Kind: k}
			if st, present := v.Get("spec.type"); present {
				if rk.SpecType, ok = st.(string); !ok {
					return nil, fmt.Errorf("invalid type in config for key '%s.allow[%d].spec.type', wanted string", r.Key(), i)
				}
			}
			for _, m := range v.Members {
				if m.Key != "kind" && m.Key != "spec.type" {
					return nil, fmt.Errorf("%s.allow[%d].%s: a rule's allow entry has only kind and spec.type", r.Key(), i, m.Key)
				}
			}
			out = append(out, rk)
		default:
			return nil, fmt.Errorf("invalid type in config for key '%s.allow[%d]', wanted string or object", r.Key(), i)
		}
	}
	return out, nil
}

// permissionIntegrationPath is where permission.RegisterIntegration mounts
// a plugin's permission metadata and apply-conditions routes.
const permissionIntegrationPath = "/.well-known/backstage/permissions"

// locationService builds the registered locations' service and applies
// their Location entities from the rows (healing a registration whose
// entity write was interrupted).
func locationService(ctx context.Context, cfg *config.Config, store *sqlstore.Store, engine *processing.Engine,
	urls catalog.URLReader, log *slog.Logger) (*locations.Service, error) {
	readOnly, _, err := cfg.ReadBool("catalog.readonly")
	if err != nil {
		return nil, err
	}
	// Backstage sets the allowed types in code (catalogLocationsExtensionPoint);
	// Understage reads them from config, with Backstage's default.
	allowed, _, err := cfg.ReadStringList("catalog.allowedLocationTypes")
	if err != nil {
		return nil, err
	}
	integs, err := github.ReadIntegrations(cfg)
	if err != nil {
		return nil, err
	}
	var hosts []locations.RepoHost
	for _, in := range integs {
		c, err := github.NewClient(in, github.ClientOptions{Logger: log.With("integration", "github", "host", in.Host)})
		if err != nil {
			return nil, fmt.Errorf("github integration %s: %w", in.Host, err)
		}
		hosts = append(hosts, githubRepoHost{c})
	}
	svc := locations.New(locations.Options{
		Rows:         store,
		Mutations:    store,
		Processor:    engine,
		Reader:       store,
		Refresher:    store,
		Wake:         engine.Wake,
		URLs:         urls,
		Repos:        hosts,
		AllowedTypes: allowed,
		ReadOnly:     readOnly,
		Logger:       log,
	})
	if err := svc.Connect(ctx); err != nil {
		return nil, err
	}
	return svc, nil
}

// githubRepoHost lets analyze-location recognise and query the
// repositories of a GitHub integration.
type githubRepoHost struct{ c *github.Client }

func (h githubRepoHost) Kind() string { return "github" }

func (h githubRepoHost) Repo(raw string) (string, string, bool) {
	loc, err := h.c.Integration().ParseURL(raw)
	if err != nil || loc.Owner == "" || loc.Repo == "" {
		return "", "", false
	}
	return loc.Owner, strings.TrimSuffix(loc.Repo, ".git"), true
}

func (h githubRepoHost) DefaultBranch(ctx context.Context, owner, repo string) (string, error) {
	return h.c.DefaultBranch(ctx, owner, repo)
}

func (h githubRepoHost) BlobURL(owner, repo, ref, p string) string {
	return h.c.Integration().BlobURL(owner, repo, ref, p)
}

// catalogUsers lets sign-in find a user's entity (and so its groups) in
// the catalog.
type catalogUsers struct{ store *sqlstore.Store }

func (u catalogUsers) UserEntity(ctx context.Context, ref string) ([]byte, []string, bool, error) {
	raw, err := u.store.EntityByRef(ctx, ref, nil)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, err
	}
	return raw, nil, true, nil
}

// locationRefresher re-reads the Location entities that read the given
// URLs (GitHub push events) right away.
type locationRefresher struct {
	store  *sqlstore.Store
	engine *processing.Engine
}

func (r locationRefresher) RefreshLocations(ctx context.Context, urls []string) error {
	for _, u := range urls {
		loc := processing.LocationEntity(processing.LocationSpec{Type: "url", Target: u})
		ref := "location:default/" + loc.Object("metadata").String("name")
		if err := r.store.RequestRefresh(ctx, ref); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return err
		}
	}
	r.engine.Wake()
	return nil
}

// refreshWaker wakes the engine after a refresh request so the entity is
// re-read at once rather than at the next poll.
type refreshWaker struct {
	*sqlstore.Store
	engine *processing.Engine
}

func (r refreshWaker) RequestRefresh(ctx context.Context, ref string) error {
	if err := r.Store.RequestRefresh(ctx, ref); err != nil {
		return err
	}
	r.engine.Wake()
	return nil
}

// Run starts the backend's loops (the processing engine, the entity
// providers, the scaffolder worker, the HTTP server) and runs until ctx
// ends or one of them fails. It then stops them in reverse order, the HTTP
// server first and the engine last, waits for each, and closes the
// databases.
func (b *Backend) Run(ctx context.Context) error {
	lc := b.lifecycle
	lc.Go("catalog processing", b.Engine.Run)
	lc.Go("catalog scheduler", b.catalogScheduler.Run)
	lc.Go("entity providers", b.providers.Run)
	if b.scaffolderWorker != nil {
		lc.Go("scaffolder worker", b.scaffolderWorker.Run)
	}
	var ln net.Listener
	lc.AddStartupHook("http listen", func(context.Context) error {
		var err error
		ln, err = b.Server.Listen()
		return err
	})
	lc.Go("http server", func(ctx context.Context) error { return b.Server.Serve(ctx, ln) })
	// Ready once migrations are done (New ran them) and the first load of
	// the configured locations has been processed and stitched.
	lc.Go("readiness", func(ctx context.Context) error {
		if err := b.Engine.WaitIdle(ctx); err == nil {
			b.log.Info("initial catalog load done; ready")
			b.Server.SetReady()
		}
		return nil
	})
	stats := b.Catalog.Stats
	if b.obs.catalog != nil {
		stats = b.obs.catalog.Stats
	}
	lc.Go("catalog progress", func(ctx context.Context) error {
		metrics.Progress(ctx, b.log.With("plugin", "catalog"), stats, b.obs.cfg.progressInterval)
		return nil
	})
	if b.obs.service != nil && b.obs.cfg.metricsListen != "" {
		lc.Go("metrics server", func(ctx context.Context) error { return b.obs.serveMetrics(ctx, b.log) })
	}
	return lc.Run(ctx)
}

// Close releases the databases of a backend that was not Run (Run closes
// them itself).
func (b *Backend) Close() { b.lifecycle.Close() }

func databaseOptions(cfg *config.Config, pluginID string, log *slog.Logger) (database.Options, error) {
	o, err := database.ConfigOptions(cfg, pluginID, log)
	if err != nil {
		return o, err
	}
	// A relative SQLite directory is relative to the working directory, as
	// with Backstage's knex; it is created when missing, so a first
	// `make run` needs nothing prepared.
	if m, ok := o.Connection.(map[string]any); ok && o.Client != "pg" {
		if dir, ok := m["directory"].(string); ok && dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return o, fmt.Errorf("create database directory: %w", err)
			}
		}
	}
	return o, nil
}

type catalogConfig struct {
	locations            []processing.LocationSpec
	rules                model.Rules
	allowedLocationTypes []string
	limits               processing.Limits
	interval             time.Duration
	orphanStrategy       string
}

func catalogOptions(cfg *config.Config) (catalogConfig, error) {
	var out catalogConfig
	var cfgLocs []model.ConfigLocation
	locs, _, err := cfg.ReadList("catalog.locations")
	if err != nil {
		return out, err
	}
	for _, l := range locs {
		typ, _ := l.String("type")
		target, _ := l.String("target")
		if typ == "" || target == "" {
			return out, fmt.Errorf("catalog.locations: each location needs a type and a target")
		}
		out.locations = append(out.locations, processing.LocationSpec{Type: typ, Target: target})
		cl := model.ConfigLocation{Type: typ, Target: target}
		for _, r := range l.List("rules") {
			allow, _ := r.StringList("allow")
			cl.Rules = append(cl.Rules, allow)
		}
		cfgLocs = append(cfgLocs, cl)
	}
	var global []model.Rule
	if cfg.Has("catalog.rules") {
		global = []model.Rule{}
		rules, _, err := cfg.ReadList("catalog.rules")
		if err != nil {
			return out, err
		}
		for _, r := range rules {
			rule := model.Rule{}
			if rule.Allow, err = ruleKinds(r); err != nil {
				return out, err
			}
			for _, l := range r.List("locations") {
				rule.Locations = append(rule.Locations, model.RuleLocation{
					Type: l.OptionalString("type"), Exact: l.OptionalString("exact"), Pattern: l.OptionalString("pattern"),
				})
			}
			global = append(global, rule)
		}
	}
	out.rules, err = model.NewRules(global, cfgLocs)
	if err != nil {
		return out, err
	}
	if d, ok, err := cfg.Duration("catalog.processingInterval"); err != nil {
		return out, err
	} else if ok {
		out.interval = d
	}
	if out.allowedLocationTypes, _, err = cfg.ReadStringList("catalog.allowedLocationTypes"); err != nil {
		return out, err
	}
	for key, set := range map[string]func(int){
		processing.LimitKeyFileSize:        func(v int) { out.limits.FileBytes = int64(v) },
		processing.LimitKeyPlaceholderSize: func(v int) { out.limits.PlaceholderBytes = int64(v) },
		processing.LimitKeyEntitiesPerFile: func(v int) { out.limits.EntitiesPerFile = v },
	} {
		if v, ok, err := cfg.ReadInt(key); err != nil {
			return out, err
		} else if ok && v <= 0 {
			return out, fmt.Errorf("%s must be a positive number, got %d", key, v)
		} else if ok {
			set(v)
		}
	}
	out.orphanStrategy = cfg.OptionalString("catalog.orphanStrategy")
	if out.orphanStrategy != "" && out.orphanStrategy != "delete" && out.orphanStrategy != "keep" {
		return out, fmt.Errorf("catalog.orphanStrategy must be delete or keep, got %q", out.orphanStrategy)
	}
	return out, nil
}
