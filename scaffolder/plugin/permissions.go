package scaffolderplugin

import (
	"context"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/services"
	"github.com/understage/understage/plugins/permission"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/tasks"
)

// registerPermissions hooks the scaffolder's permission checks into its
// service and runner: template parameter/step read decisions filter every
// template read, and each step's action is decided for the task's user.
func registerPermissions(g *echo.Group, perms services.PermissionsService, authSvc services.HTTPAuth, audit *auditor.Auditor, svc *scaffolder.Service, store tasks.Store) {
	perms.RegisterIntegration(g, permission.ScaffolderIntegration(func(ctx context.Context, id string) (string, bool, error) {
		t, err := store.GetTask(ctx, id)
		if backend.KindOf(err) == backend.ErrNotFound {
			return "", false, nil
		}
		if err != nil {
			return "", false, err
		}
		return t.CreatedBy, true, nil
	}))
	if !perms.Enabled() {
		return
	}
	svc.FilterTemplate = func(ctx context.Context, t *scaffolder.Template) error {
		pageOK, err := templatePartFilter(ctx, perms, permission.ScaffolderTemplateParameterRead)
		if err != nil {
			return err
		}
		stepOK, err := templatePartFilter(ctx, perms, permission.ScaffolderTemplateStepRead)
		if err != nil {
			return err
		}
		t.Filter(pageOK, stepOK)
		return nil
	}
	svc.Runner.AuthorizeAction = func(ctx context.Context, run *scaffolder.Run, actionID string, input *ojson.Object) (bool, error) {
		user := taskUser(ctx, authSvc, run)
		res := permission.ActionResource(actionID, toMap(input))
		d, err := perms.DecideFor(ctx, user, permission.ScaffolderActionExecute, res)
		if err != nil {
			return false, err
		}
		ok := d.Result == permission.Allow
		if d.Result == permission.Conditional {
			ok = perms.Rules(permission.ScaffolderAction).Apply(d.Conditions, res)
		}
		if !ok {
			// The step runs for the task's creator, outside any request.
			actor := auditor.Actor{Type: "none"}
			if user != nil {
				actor = auditor.Actor{ID: user.Ref, Type: "user"}
			}
			audit.Record(ctx, auditor.EventOptions{ID: "task", Severity: auditor.Medium, Actor: &actor,
				Meta: map[string]any{"actionType": "execute-action", "taskId": run.TaskID, "action": actionID,
					"permission": permission.ScaffolderActionExecute.Name, "result": string(permission.Deny)}},
				backend.NotAllowed("%s denied", permission.ScaffolderActionExecute.Name))
		}
		return ok, nil
	}
}

// templatePartFilter is the caller's decision for a template read
// permission as a predicate over parameter pages or steps.
func templatePartFilter(ctx context.Context, perms permission.Authorizer, perm permission.Permission) (func(*ojson.Object) bool, error) {
	d, err := perms.Decide(ctx, perm, nil)
	if err != nil {
		return nil, err
	}
	switch d.Result {
	case permission.Allow:
		return nil, nil
	case permission.Deny:
		return func(*ojson.Object) bool { return false }, nil
	}
	rt := perms.Rules(permission.ScaffolderTemplate)
	return func(o *ojson.Object) bool { return rt.Apply(d.Conditions, toMap(o)) }, nil
}

// taskUser is the policy user of a running task: its creator, with the
// ownership of the token it was created with when that still verifies,
// else the user and the groups of its catalog entity (sign-in's rule).
func taskUser(ctx context.Context, authSvc services.HTTPAuth, run *scaffolder.Run) *permission.User {
	if run.User.Ref == "" {
		return nil
	}
	u := &permission.User{Ref: run.User.Ref, OwnershipRefs: []string{run.User.Ref}}
	if tok := run.Secrets["backstageToken"]; tok != "" {
		if cred, err := authSvc.Authenticate(ctx, tok, "scaffolder", false); err == nil && cred.IsUser() {
			u.Claims = cred.Claims
			if refs, err := authSvc.OwnershipRefs(ctx, cred); err == nil {
				u.OwnershipRefs = refs
				return u
			}
		}
	}
	if run.User.Entity != nil {
		if raw, err := ojson.Marshal(run.User.Entity); err == nil {
			u.OwnershipRefs = append(u.OwnershipRefs, auth.MembershipRefs(raw)...)
		}
	}
	return u
}

func toMap(o *ojson.Object) map[string]any {
	m, _ := ojson.ToGo(o).(map[string]any)
	if m == nil {
		m = map[string]any{}
	}
	return m
}
