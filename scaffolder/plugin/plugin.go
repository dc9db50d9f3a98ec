// Package scaffolderplugin is the scaffolder plugin: its task store, the
// built-in actions, the runner, the task worker and the /api/scaffolder
// routes, assembled from scaffolder.* config, with the permission checks
// of templates and actions. Modules extend it through its registry:
// actions, template filters and globals, autocomplete providers.
package scaffolderplugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/metrics"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	schttp "github.com/understage/understage/scaffolder/httpapi"
	"github.com/understage/understage/scaffolder/render"
	scsql "github.com/understage/understage/scaffolder/sqlstore"
	"github.com/understage/understage/scaffolder/tasks"
)

// ExtensionPoint is where modules extend the scaffolder: the scaffolder's
// registry of actions, template filters and globals, and autocomplete
// providers. Duplicate names and actions without schemas fail start-up.
var ExtensionPoint = system.ExtensionPoint[*scaffolder.Registry]{ID: "scaffolder.registry"}

// WorkerRef is this replica's task worker (nil when
// scaffolder.concurrentTasksLimit is 0), for tests that serve the handler
// without running the backend.
var WorkerRef = system.ServiceRef[*tasks.Worker]{ID: "scaffolder.worker"}

// Plugin is the scaffolder plugin.
var Plugin = system.Plugin{ID: "scaffolder", Register: func(r *system.Registrar) {
	x := scaffolder.NewRegistry()
	system.RegisterExtensionPoint(r, ExtensionPoint, x)
	r.RegisterInit(system.Init{
		Deps:     []string{services.Auth.ID, services.Permissions.ID, services.Catalog.ID, services.Auditor.ID},
		Provides: []string{WorkerRef.ID},
		Func:     func(ctx context.Context, env *system.Env) error { return initScaffolder(ctx, env, x) },
	})
}}

func initScaffolder(ctx context.Context, env *system.Env, reg *scaffolder.Registry) error {
	cfg := env.Config
	authSvc, err := system.Get(env, services.Auth)
	if err != nil {
		return err
	}
	perms, err := system.Get(env, services.Permissions)
	if err != nil {
		return err
	}
	cat, err := system.Get(env, services.Catalog)
	if err != nil {
		return err
	}
	rootAuditor, err := system.Get(env, services.Auditor)
	if err != nil {
		return err
	}
	db, err := env.Database(ctx)
	if err != nil {
		return err
	}
	taskStore, err := scsql.New(ctx, db, scsql.WithSecretsKey(cfg.OptionalString("scaffolder.secretsKey")))
	if err != nil {
		return fmt.Errorf("scaffolder store: %w", err)
	}
	templateLimits, err := render.LimitsFromConfig(cfg.ReadInt)
	if err != nil {
		return err
	}
	// Modules registered first; the built-in actions take their filters
	// and globals.
	if err := reg.AddActions(builtin.Actions(builtin.Options{TemplateLimits: templateLimits,
		Filters: reg.Filters(), Globals: reg.Globals()})...); err != nil {
		return fmt.Errorf("scaffolder actions: %w", err)
	}
	workDir := cfg.OptionalString("backend.workingDirectory")
	if workDir == "" {
		workDir = filepath.Join(os.TempDir(), "understage-scaffolder")
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return fmt.Errorf("scaffolder working directory: %w", err)
	}
	env2, err := defaultEnvironment(cfg)
	if err != nil {
		return err
	}
	// scaffolder.taskLogMaxEvents / taskLogMaxBytes (Understage's own
	// keys) bound each task's log; 0 or absent keeps the defaults.
	var logLimit scaffolder.LogLimit
	for _, k := range []struct {
		key string
		dst func(int)
	}{
		{"scaffolder.taskLogMaxEvents", func(n int) { logLimit.Events = n }},
		{"scaffolder.taskLogMaxBytes", func(n int) { logLimit.Bytes = int64(n) }},
	} {
		n, ok, err := cfg.ReadInt(k.key)
		if err != nil {
			return err
		}
		if ok && n < 0 {
			return fmt.Errorf("%s must not be negative, got %d", k.key, n)
		}
		k.dst(n)
	}
	svc := &scaffolder.Service{
		Runner: &scaffolder.Runner{
			LogLimit:         logLimit,
			Actions:          reg.Actions(),
			Filters:          reg.Filters(),
			Globals:          reg.Globals(),
			WorkingDirectory: workDir,
			Environment:      env2,
			Reader:           env.URLReader,
			Catalog:          catalogClient{cat},
			Logger:           env.Logger,
			TemplateLimits:   templateLimits,
		},
		Queue:     tasks.NewQueue(taskStore),
		Templates: catalogClient{cat},
	}
	group := env.Router()
	// Backstage audits every scaffolder route but autocomplete, the
	// templating extensions and the permission integration routes.
	group.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "scaffolder",
		Audited: true, Unaudited: []string{"/v2/autocomplete", "/v2/templating-extensions", services.PermissionIntegrationPath}}))
	audit := rootAuditor.ForPlugin(env.PluginID)
	group.Use(schttp.Audit(audit))
	registerPermissions(group, perms, authSvc, audit, svc, taskStore)
	schttp.Register(group, schttp.Options{
		Registry:    reg,
		Service:     svc,
		Permissions: perms,
		Caller: func(c echo.Context) (schttp.Caller, error) {
			cred, err := auth.CredentialsOf(c)
			if err != nil || !cred.IsUser() {
				return schttp.Caller{Token: cred.Token}, err
			}
			ref := cred.Principal.UserEntityRef
			var entity *ojson.Object
			if raw, err := cat.EntityByRef(c.Request().Context(), ref, nil); err == nil {
				entity, _ = ojson.DecodeObject(raw)
			}
			return schttp.Caller{User: scaffolder.UserInfo{Ref: ref, Entity: entity}, Token: cred.Token}, nil
		},
	})
	w, err := worker(cfg, svc)
	if err != nil {
		return err
	}
	if env.Metrics != nil {
		m, err := metrics.NewScaffolder(env.Metrics.Meter("scaffolder"))
		if err != nil {
			return fmt.Errorf("scaffolder metrics: %w", err)
		}
		svc.OnStepStatus = m.StepStatus
		if w != nil {
			w.Exec = m.Exec(w.Exec)
		}
	}
	if w != nil {
		w.Exec = auditExec(audit, w.Exec)
		env.Lifecycle.Go("scaffolder worker", w.Run)
	}
	system.ProvideFrom(env, WorkerRef, w)
	return nil
}
