// Package wire is the one list of what the understage binary contains: the
// plugins and modules added to the backend (as a Backstage backend's
// packages/backend/src/index.ts). To add a feature, add one line to
// Features. Tests and the acceptance scenarios build the same backend
// through New.
package wire

import (
	"context"
	"log/slog"

	catalogplugin "github.com/understage/understage/catalog/plugin"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	appplugin "github.com/understage/understage/plugins/app/plugin"
	authplugin "github.com/understage/understage/plugins/auth/plugin"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	githubmodule "github.com/understage/understage/plugins/github/module"
	opamodule "github.com/understage/understage/plugins/opa/module"
	permissionplugin "github.com/understage/understage/plugins/permission/plugin"
	proxyplugin "github.com/understage/understage/plugins/proxy/plugin"
	searchplugin "github.com/understage/understage/plugins/search/plugin"
	scaffolderplugin "github.com/understage/understage/scaffolder/plugin"
	"github.com/understage/understage/scaffolder/tasks"
)

// Features are the plugins and modules of the binary.
func Features() []system.Feature {
	return []system.Feature{
		authplugin.Plugin,
		permissionplugin.Plugin,
		opamodule.Module,
		catalogplugin.Plugin,
		githubmodule.CatalogModule,
		scaffolderplugin.Plugin,
		githubmodule.ScaffolderModule,
		searchplugin.Plugin,
		proxyplugin.Plugin,
		appplugin.Plugin,
	}
}

// Backend is an assembled backend, with handles on the parts tests drive
// directly.
type Backend struct {
	Server  *httpserver.Server
	Catalog *sqlstore.Store
	Engine  *processing.Engine

	sys    *system.Backend
	worker *tasks.Worker
	log    *slog.Logger
}

// New builds the backend of Features and extra features; nothing runs
// until Run.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, extra ...system.Feature) (*Backend, error) {
	if log == nil {
		log = slog.Default()
	}
	sys := system.New(system.Options{Config: cfg, Logger: log})
	levels, err := auditor.Levels(cfg)
	if err != nil {
		return nil, err
	}
	system.Provide(sys, services.Auditor, auditor.New(auditor.Options{Logger: log, Actor: services.AuditActor, Levels: levels}))
	sys.Add(Features()...)
	sys.Add(extra...)
	if err := sys.Init(ctx); err != nil {
		return nil, err
	}
	b := &Backend{Server: sys.Server(), sys: sys, log: log}
	b.Catalog, _ = system.Lookup(sys, catalogplugin.StoreRef)
	b.Engine, _ = system.Lookup(sys, catalogplugin.EngineRef)
	b.worker, _ = system.Lookup(sys, scaffolderplugin.WorkerRef)
	return b, nil
}

// Run starts the backend's loops and serves HTTP until ctx ends or a loop
// fails, then stops them in reverse order (HTTP first, databases last).
func (b *Backend) Run(ctx context.Context) error { return b.sys.Run(ctx) }

// Close releases the databases of a backend that was not Run (Run closes
// them itself).
func (b *Backend) Close() { b.sys.Close() }

// RunScaffolderWorker runs this replica's scaffolder worker until ctx ends
// or the backend is closed (Run does so itself); for callers that serve
// Server.Handler() themselves, such as the acceptance scenarios. It does
// nothing when the worker is off.
func (b *Backend) RunScaffolderWorker(ctx context.Context) {
	if b.worker == nil {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.worker.Run(ctx); err != nil && ctx.Err() == nil {
			b.log.Error("scaffolder worker stopped", "err", err)
		}
	}()
	// Registered after the databases, so Close stops the worker (and waits
	// for it) before any database closes.
	b.sys.Lifecycle().AddCloser("scaffolder worker", func() error {
		cancel()
		<-done
		return nil
	})
}
