// Package catalogplugin is the catalog plugin: its store, processing
// engine, registered locations and /api/catalog routes, assembled from
// catalog.* config. Modules extend it through Extensions: entity providers
// (run on the catalog's scheduler), location readers (location types such
// as url and file) and location analyzers (repository hosts for
// analyze-location).
package catalogplugin

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/httpapi"
	"github.com/understage/understage/catalog/locations"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/metrics"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/scheduler"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/permission"
)

// EntityProvider is an entity provider that runs on a schedule: each Run
// reads its source and applies a mutation to the store. A Run that fails
// must leave what the provider emitted before untouched (return the error
// instead of applying a partial or empty set).
type EntityProvider interface {
	// Name is the provider's stable id; it keys the rows it owns in the
	// store, so it must not change between releases.
	Name() string
	// Schedule says when the scheduler starts Run.
	Schedule() scheduler.Schedule
	// Run does one complete pass.
	Run(ctx context.Context, store catalog.ProcessingStore) error
}

// Extensions is the catalog's extension point.
type Extensions struct {
	mu        sync.Mutex
	providers []EntityProvider
	readers   map[string]processing.LocationReader
	analyzers []locations.RepoHost
	// Set when the plugin has started.
	store  *sqlstore.Store
	engine *processing.Engine
	sched  *scheduler.Scheduler
}

// ExtensionPoint is where modules extend the catalog.
var ExtensionPoint = system.ExtensionPoint[*Extensions]{ID: "catalog.extensions"}

// AddEntityProvider adds providers; two with one name are an error.
func (x *Extensions) AddEntityProvider(ps ...EntityProvider) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range ps {
		for _, q := range x.providers {
			if q.Name() == p.Name() {
				return fmt.Errorf("entity provider %s is added twice", p.Name())
			}
		}
		x.providers = append(x.providers, p)
	}
	return nil
}

// AddLocationReader makes r read locations of type typ; two readers of one
// type are an error.
func (x *Extensions) AddLocationReader(typ string, r processing.LocationReader) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, dup := x.readers[typ]; dup {
		return fmt.Errorf("a location reader for type %s is added twice", typ)
	}
	x.readers[typ] = r
	return nil
}

// AddLocationAnalyzer lets analyze-location recognise a repository host.
func (x *Extensions) AddLocationAnalyzer(h locations.RepoHost) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.analyzers = append(x.analyzers, h)
}

// TriggerProvider asks for a run of the named entity provider; false when
// it is unknown or the catalog has not started.
func (x *Extensions) TriggerProvider(name string) bool {
	x.mu.Lock()
	s := x.sched
	x.mu.Unlock()
	return s != nil && s.TriggerTask(providerTask(name))
}

// RefreshLocations re-reads the Location entities that read the given
// URLs right away (a push event).
func (x *Extensions) RefreshLocations(ctx context.Context, urls []string) error {
	x.mu.Lock()
	store, engine := x.store, x.engine
	x.mu.Unlock()
	if store == nil {
		return errors.New("the catalog has not started")
	}
	for _, u := range urls {
		loc := processing.LocationEntity(processing.LocationSpec{Type: "url", Target: u})
		ref := "location:default/" + loc.Object("metadata").String("name")
		if err := store.RequestRefresh(ctx, ref); err != nil && !errors.Is(err, backend.ErrNotFound) {
			return err
		}
	}
	engine.Wake()
	return nil
}

// providerTask is a provider's scheduler task, named as Backstage names
// its providers' refresh tasks.
func providerTask(provider string) string { return provider + ":refresh" }

// Refs of what the catalog provides besides services.Catalog, for the
// binary's tests.
var (
	StoreRef  = system.ServiceRef[*sqlstore.Store]{ID: "catalog.store"}
	EngineRef = system.ServiceRef[*processing.Engine]{ID: "catalog.engine"}
)

// Plugin is the catalog plugin.
var Plugin = system.Plugin{ID: "catalog", Register: func(r *system.Registrar) {
	x := &Extensions{readers: map[string]processing.LocationReader{}}
	system.RegisterExtensionPoint(r, ExtensionPoint, x)
	r.RegisterInit(system.Init{
		Deps:     []string{services.Auth.ID, services.Permissions.ID, services.Auditor.ID},
		Provides: []string{services.Catalog.ID, StoreRef.ID, EngineRef.ID},
		Func:     func(ctx context.Context, env *system.Env) error { return initCatalog(ctx, env, x) },
	})
}}

func initCatalog(ctx context.Context, env *system.Env, x *Extensions) error {
	authSvc, err := system.Get(env, services.Auth)
	if err != nil {
		return err
	}
	perms, err := system.Get(env, services.Permissions)
	if err != nil {
		return err
	}
	audit, err := system.Get(env, services.Auditor)
	if err != nil {
		return err
	}
	db, err := env.Database(ctx)
	if err != nil {
		return err
	}
	store, err := sqlstore.New(ctx, db, env.Logger)
	if err != nil {
		return fmt.Errorf("catalog store: %w", err)
	}
	env.Lifecycle.AddShutdownHook("catalog store", func(context.Context) error { return store.Close() })
	copts, err := readConfig(env.Config)
	if err != nil {
		return err
	}
	var procStore catalog.ProcessingStore = store
	var observe func(catalog.ProcessingItem, catalog.ProcessingResult, time.Duration)
	stats := store.Stats
	var taskRuns *metrics.TaskRuns
	if env.Metrics != nil {
		m, err := metrics.NewCatalog(env.Metrics.Meter("catalog"), store.Stats, 0)
		if err != nil {
			return fmt.Errorf("catalog metrics: %w", err)
		}
		procStore, observe, stats = m.Store(store), m.ObserveProcessing, m.Stats
		if taskRuns, err = metrics.NewTaskRuns(env.Metrics.Meter("scheduler")); err != nil {
			return fmt.Errorf("scheduler metrics: %w", err)
		}
	}
	readers := map[string]processing.LocationReader{
		"file": processing.FileReader{},
		"url":  processing.URLLocationReader{Readers: env.URLReader},
	}
	x.mu.Lock()
	for typ, r := range x.readers {
		readers[typ] = r
	}
	providers, analyzers := x.providers, x.analyzers
	x.mu.Unlock()
	engine := processing.New(processing.Options{
		Store:                procStore,
		Observe:              observe,
		Readers:              readers,
		Rules:                copts.rules,
		AllowedLocationTypes: copts.allowedLocationTypes,
		Limits:               copts.limits,
		Logger:               env.Logger,
		Interval:             copts.interval,
		OrphanStrategy:       copts.orphanStrategy,
	})
	provider := &processing.ConfigLocationsProvider{Locations: copts.locations}
	if err := provider.Connect(ctx, store); err != nil {
		return err
	}
	locSvc := locations.New(locations.Options{
		Rows:         store,
		Mutations:    store,
		Processor:    engine,
		Reader:       store,
		Refresher:    store,
		Wake:         engine.Wake,
		URLs:         env.URLReader,
		Repos:        analyzers,
		AllowedTypes: copts.allowedLocationTypes,
		ReadOnly:     copts.readOnly,
		Logger:       env.Logger,
	})
	// Apply the Location entities from the rows (healing a registration
	// whose entity write was interrupted).
	if err := locSvc.Connect(ctx); err != nil {
		return err
	}

	sched, err := env.Scheduler(ctx)
	if err != nil {
		return err
	}
	x.mu.Lock()
	x.store, x.engine, x.sched = store, engine, sched
	x.mu.Unlock()
	env.Lifecycle.Go("catalog processing", engine.Run)
	// Ready once the first load of the configured locations has been
	// processed and stitched.
	env.AddReadinessGate(engine.WaitIdle)
	env.Lifecycle.Go("catalog progress", func(ctx context.Context) error {
		metrics.Progress(ctx, env.Logger, stats, copts.progressInterval)
		return nil
	})
	for _, p := range providers {
		env.Lifecycle.AddStartupHook("entity provider "+p.Name(), func(context.Context) error {
			_, err := sched.ScheduleTask(context.Background(), scheduler.Task{
				ID:       providerTask(p.Name()),
				Schedule: p.Schedule(),
				Fn: func(ctx context.Context) error {
					start := time.Now()
					err := p.Run(ctx, store)
					if taskRuns != nil {
						// As Backstage's scheduler records its provider tasks.
						taskRuns.Record(ctx, p.Name(), time.Since(start), err)
					}
					return err
				},
			})
			return err
		})
	}

	g := env.Router()
	// Every catalog route is audited in Backstage; the permission
	// integration routes (permissions.RegisterIntegration) are not.
	g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "catalog",
		Audited: true, Unaudited: []string{services.PermissionIntegrationPath}}))
	g.Use(httpapi.Audit(audit.ForPlugin(env.PluginID)), httpapi.LocationPermissions(perms))
	catalogPerms := permission.CatalogIntegration(store)
	catalogPerms.Permissions = append(httpapi.UnprocessedPermissions(), catalogPerms.Permissions...)
	perms.RegisterIntegration(g, catalogPerms)
	httpapi.Register(g, httpapi.Options{
		Reader:      store,
		Writer:      refreshWaker{store, engine},
		Validator:   engine,
		Logger:      env.Logger,
		Permissions: perms,
	})
	httpapi.RegisterLocations(g, locSvc)
	httpapi.RegisterUnprocessed(g, store, perms)

	system.ProvideFrom[services.CatalogClient](env, services.Catalog, client{Store: store, locations: locSvc})
	system.ProvideFrom(env, StoreRef, store)
	system.ProvideFrom(env, EngineRef, engine)
	return nil
}

// client is the catalog as other plugins use it.
type client struct {
	*sqlstore.Store
	locations *locations.Service
}

func (c client) AddLocation(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error) {
	res, err := c.locations.Create(ctx, locations.Input{Type: typ, Target: target}, dryRun, false)
	return res.Entities, err
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
