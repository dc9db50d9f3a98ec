package wire

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/config"
	"github.com/understage/understage/plugins/database"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/permission"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	schttp "github.com/understage/understage/scaffolder/httpapi"
	"github.com/understage/understage/scaffolder/render"
	scsql "github.com/understage/understage/scaffolder/sqlstore"
	"github.com/understage/understage/scaffolder/tasks"
)

// scaffolderPlugin builds the scaffolder: its task store, the built-in
// actions, the runner and the /api/scaffolder routes. It returns the worker
// to run, nil when scaffolder.concurrentTasksLimit is 0 (this replica only
// serves the API).
func (b *Backend) scaffolderPlugin(ctx context.Context, cfg *config.Config, log *slog.Logger,
	store *sqlstore.Store, readers catalog.URLReader, authSvc *auth.Service, perms *permission.Service, locations scaffolder.CatalogClient) (*tasks.Worker, error) {
	dbOpts, err := databaseOptions(cfg, "scaffolder", log)
	if err != nil {
		return nil, err
	}
	db, err := database.Open(ctx, dbOpts)
	if err != nil {
		return nil, fmt.Errorf("open scaffolder database: %w", err)
	}
	b.lifecycle.AddCloser("scaffolder database", db.Close)
	taskStore, err := scsql.New(ctx, db, scsql.WithSecretsKey(cfg.OptionalString("scaffolder.secretsKey")))
	if err != nil {
		return nil, fmt.Errorf("scaffolder store: %w", err)
	}
	templateLimits, err := render.LimitsFromConfig(cfg.ReadInt)
	if err != nil {
		return nil, err
	}
	// The scaffolder's extension points: modules register first, then the
	// built-in actions, which take the registered filters and globals.
	reg := scaffolder.NewRegistry()
	ghOpts, err := github.ActionOptionsFromConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("scaffolder github actions: %w", err)
	}
	ghOpts.Client.Logger = log.With("plugin", "scaffolder")
	if err := github.RegisterScaffolder(reg, reg, ghOpts); err != nil {
		return nil, err
	}
	if err := reg.AddActions(builtin.Actions(builtin.Options{TemplateLimits: templateLimits,
		Filters: reg.Filters(), Globals: reg.Globals()})...); err != nil {
		return nil, fmt.Errorf("scaffolder actions: %w", err)
	}
	workDir := cfg.OptionalString("backend.workingDirectory")
	if workDir == "" {
		workDir = filepath.Join(os.TempDir(), "understage-scaffolder")
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("scaffolder working directory: %w", err)
	}
	env, err := defaultEnvironment(cfg)
	if err != nil {
		return nil, err
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
			return nil, err
		}
		if ok && n < 0 {
			return nil, fmt.Errorf("%s must not be negative, got %d", k.key, n)
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
			Environment:      env,
			Reader:           readers,
			Catalog:          locations,
			Logger:           log.With("plugin", "scaffolder"),
			TemplateLimits:   templateLimits,
		},
		Queue:     tasks.NewQueue(taskStore),
		Templates: catalogTemplates{store},
	}
	group := b.Server.Plugin("scaffolder")
	// Backstage audits every scaffolder route but autocomplete, the
	// templating extensions and the permission integration routes.
	group.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "scaffolder",
		Audited: true, Unaudited: []string{"/v2/autocomplete", "/v2/templating-extensions", permissionIntegrationPath}}))
	group.Use(perms.AuditWrites("scaffolder"))
	scaffolderPermissions(group, perms, authSvc, svc, taskStore)
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
			if raw, err := store.EntityByRef(c.Request().Context(), ref, nil); err == nil {
				entity, _ = ojson.DecodeObject(raw)
			}
			return schttp.Caller{User: scaffolder.UserInfo{Ref: ref, Entity: entity}, Token: cred.Token}, nil
		},
	})
	limit := 10
	if n, ok := cfg.Int("scaffolder.concurrentTasksLimit"); ok {
		limit = n
	}
	if limit <= 0 {
		return nil, nil
	}
	w := svc.NewWorker(limit)
	if b.obs.scaffolder != nil {
		svc.OnStepStatus = b.obs.scaffolder.StepStatus
		w.Exec = b.obs.scaffolder.Exec(w.Exec)
	}
	// scaffolder.taskLease (Understage's own key): how long a replica's claim
	// on a task lasts without a heartbeat, so how soon a task of a crashed
	// replica resumes elsewhere. Default 30 s.
	lease, ok, err := cfg.Duration("scaffolder.taskLease")
	if err != nil {
		return nil, err
	}
	if ok {
		if lease < time.Second {
			return nil, fmt.Errorf("scaffolder.taskLease must be at least 1 second, got %s", lease)
		}
		w.Lease = lease
	}
	return w, nil
}

// defaultEnvironment reads scaffolder.defaultEnvironment: parameters and
// secrets, both strings as Backstage reads them, which templates see as
// ${{ environment.parameters.* }} and ${{ environment.secrets.* }}.
func defaultEnvironment(cfg *config.Config) (scaffolder.Environment, error) {
	var env scaffolder.Environment
	params, ok, err := cfg.ReadSub("scaffolder.defaultEnvironment.parameters")
	if err != nil {
		return env, err
	}
	if ok {
		env.Parameters = ojson.NewObject()
		for _, k := range params.Keys() {
			v, _, err := params.ReadString(k)
			if err != nil {
				return env, err
			}
			env.Parameters.Set(k, v)
		}
	}
	sec, ok, err := cfg.ReadSub("scaffolder.defaultEnvironment.secrets")
	if err != nil || !ok {
		return env, err
	}
	env.Secrets = map[string]string{}
	for _, k := range sec.Keys() {
		v, _, err := sec.ReadString(k)
		if err != nil {
			return env, err
		}
		env.Secrets[k] = v
	}
	return env, nil
}

// catalogTemplates finds templates in the catalog.
type catalogTemplates struct{ store *sqlstore.Store }

func (t catalogTemplates) TemplateByRef(ctx context.Context, ref string) (*ojson.Object, error) {
	raw, err := t.store.EntityByRef(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	return ojson.DecodeObject(raw)
}

// catalogClient is what the catalog:* actions use.
type catalogClient struct {
	store *sqlstore.Store
	// addLocation registers locations; nil until the locations API exists.
	addLocation func(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error)
}

func (c catalogClient) EntityByRef(ctx context.Context, ref string) (*ojson.Object, error) {
	raw, err := c.store.EntityByRef(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	return ojson.DecodeObject(raw)
}

func (c catalogClient) AddLocation(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error) {
	if c.addLocation == nil {
		return nil, backend.Errorf(backend.ErrNotImplemented, "registering locations is not available")
	}
	return c.addLocation(ctx, typ, target, dryRun)
}
