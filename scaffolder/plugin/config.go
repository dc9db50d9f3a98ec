package scaffolderplugin

import (
	"context"
	"fmt"
	"time"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/tasks"
)

// worker is this replica's task worker: scaffolder.concurrentTasksLimit
// tasks at once (default 10; 0: none, this replica only serves the API),
// holding each claim for scaffolder.taskLease without a heartbeat.
func worker(cfg *config.Config, svc *scaffolder.Service) (*tasks.Worker, error) {
	limit := 10
	if n, ok := cfg.Int("scaffolder.concurrentTasksLimit"); ok {
		limit = n
	}
	if limit <= 0 {
		return nil, nil
	}
	w := svc.NewWorker(limit)
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

// catalogClient is the catalog as templates and the catalog:* actions see
// it.
type catalogClient struct{ c services.CatalogClient }

func (c catalogClient) EntityByRef(ctx context.Context, ref string) (*ojson.Object, error) {
	raw, err := c.c.EntityByRef(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	return ojson.DecodeObject(raw)
}

// TemplateByRef finds a template in the catalog.
func (c catalogClient) TemplateByRef(ctx context.Context, ref string) (*ojson.Object, error) {
	return c.EntityByRef(ctx, ref)
}

func (c catalogClient) AddLocation(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error) {
	return c.c.AddLocation(ctx, typ, target, dryRun)
}
