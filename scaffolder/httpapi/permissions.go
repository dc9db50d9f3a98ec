package httpapi

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/permission"
	"github.com/understage/understage/scaffolder/tasks"
)

// authorizeBasic enforces a basic scaffolder permission (task.create,
// template.dry-run): anything but ALLOW is Backstage's empty 403.
func (a *api) authorizeBasic(c echo.Context, perm permission.Permission) error {
	return a.o.Permissions.Basic(c.Request().Context(), perm)
}

// authorizeTask enforces task.read or task.cancel on one task (rule
// IS_TASK_OWNER on its creator); denial is a 403, not a 404, as in Backstage.
func (a *api) authorizeTask(ctx context.Context, perm permission.Permission, t *tasks.Task) error {
	if !a.o.Permissions.Enabled() {
		return nil
	}
	ok, err := a.o.Permissions.Definitive(ctx, perm, permission.TaskResource(t.CreatedBy))
	if err != nil {
		return err
	}
	if !ok {
		// A conditional denial is not the permissions service's DENY, so
		// the request's audit event is told here.
		ev := auditor.EventFrom(ctx)
		ev.Annotate("permission", perm.Name)
		ev.Annotate("result", string(permission.Deny))
		return backend.NotAllowed("")
	}
	return nil
}

// taskReadDecision is the caller's task.read decision for listings: deny,
// or keep (nil = every task) telling which tasks the conditions allow.
func (a *api) taskReadDecision(ctx context.Context) (keep func(*tasks.Task) bool, err error) {
	if !a.o.Permissions.Enabled() {
		return nil, nil
	}
	d, err := a.o.Permissions.Decide(ctx, permission.ScaffolderTaskRead, nil)
	if err != nil {
		return nil, err
	}
	switch d.Result {
	case permission.Allow:
		return nil, nil
	case permission.Deny:
		return nil, backend.NotAllowed("")
	}
	rt := a.o.Permissions.Rules(permission.ScaffolderTask)
	if rt == nil {
		_, _, taskRules := permission.ScaffolderRules()
		rt = &permission.ResourceType{Type: permission.ScaffolderTask, Rules: taskRules}
	}
	return func(t *tasks.Task) bool { return rt.Apply(d.Conditions, permission.TaskResource(t.CreatedBy)) }, nil
}

// listAllowed lists tasks under a conditional task.read decision: the
// conditions are applied to every matching task before paging, so totals
// and pages agree with what the caller may see.
func (a *api) listAllowed(ctx context.Context, opts tasks.ListOptions, keep func(*tasks.Task) bool) ([]*tasks.Task, int, error) {
	limit, offset := opts.Limit, opts.Offset
	opts.Limit, opts.Offset = nil, nil
	all, _, err := a.o.Service.Queue.Store.ListTasks(ctx, opts)
	if err != nil {
		return nil, 0, err
	}
	kept := all[:0:0]
	for _, t := range all {
		if keep(t) {
			kept = append(kept, t)
		}
	}
	total := len(kept)
	if offset != nil {
		kept = kept[min(*offset, len(kept)):]
	}
	if limit != nil {
		kept = kept[:min(*limit, len(kept))]
	}
	return kept, total, nil
}
