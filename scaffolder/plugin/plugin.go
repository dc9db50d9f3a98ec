// Package scaffolderplugin is the scaffolder plugin: its task store, the
// built-in actions, the runner, the task worker and the /api/scaffolder
// routes, assembled from scaffolder.* config, with the permission checks
// of templates and actions. Modules extend it through Extensions: actions
// and autocomplete providers.
package scaffolderplugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	schttp "github.com/understage/understage/scaffolder/httpapi"
	"github.com/understage/understage/scaffolder/render"
	scsql "github.com/understage/understage/scaffolder/sqlstore"
	"github.com/understage/understage/scaffolder/tasks"
)

// Extensions is the scaffolder's extension point.
type Extensions struct {
	mu           sync.Mutex
	actions      []scaffolder.Action
	autocomplete map[string]schttp.AutocompleteFunc
}

// ExtensionPoint is where modules extend the scaffolder.
var ExtensionPoint = system.ExtensionPoint[*Extensions]{ID: "scaffolder.extensions"}

// AddActions adds actions; the plugin registers them in the scaffolder's
// action registry, which refuses duplicate ids.
func (x *Extensions) AddActions(as ...scaffolder.Action) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.actions = append(x.actions, as...)
}

// AddAutocomplete adds the autocomplete provider of an integration
// (/v2/autocomplete/<provider>/...); two for one provider are an error.
func (x *Extensions) AddAutocomplete(provider string, f schttp.AutocompleteFunc) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if _, dup := x.autocomplete[provider]; dup {
		return fmt.Errorf("autocomplete provider %s is added twice", provider)
	}
	x.autocomplete[provider] = f
	return nil
}

// WorkerRef is this replica's task worker (nil when
// scaffolder.concurrentTasksLimit is 0), for tests that serve the handler
// without running the backend.
var WorkerRef = system.ServiceRef[*tasks.Worker]{ID: "scaffolder.worker"}

// Plugin is the scaffolder plugin.
var Plugin = system.Plugin{ID: "scaffolder", Register: func(r *system.Registrar) {
	x := &Extensions{autocomplete: map[string]schttp.AutocompleteFunc{}}
	system.RegisterExtensionPoint(r, ExtensionPoint, x)
	r.RegisterInit(system.Init{
		Deps:     []string{services.Auth.ID, services.Permissions.ID, services.Catalog.ID},
		Provides: []string{WorkerRef.ID},
		Func:     func(ctx context.Context, env *system.Env) error { return initScaffolder(ctx, env, x) },
	})
}}

func initScaffolder(ctx context.Context, env *system.Env, x *Extensions) error {
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
	actions := scaffolder.NewActions()
	if err := actions.Add(builtin.Actions(builtin.Options{TemplateLimits: templateLimits})...); err != nil {
		return fmt.Errorf("scaffolder actions: %w", err)
	}
	x.mu.Lock()
	extra, autocomplete := x.actions, x.autocomplete
	x.mu.Unlock()
	if err := actions.Add(extra...); err != nil {
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
			Actions:          actions,
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
	group.Use(perms.AuditWrites("scaffolder"))
	registerPermissions(group, perms, authSvc, svc, taskStore)
	schttp.Register(group, schttp.Options{
		Autocomplete: autocomplete,
		Service:      svc,
		Permissions:  perms,
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
	if w != nil {
		env.Lifecycle.Go("scaffolder worker", w.Run)
	}
	system.ProvideFrom(env, WorkerRef, w)
	return nil
}
