package scaffolderplugin

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/scaffolder/tasks"
)

// auditExec records each run of a task by this replica's worker as a
// "task" event (actionType execution), for the task's creator: initiated
// when the run starts, then succeeded (completed) or failed (failed or
// cancelled). A run stopped by shutdown is not ended: its task resumes on
// a worker that records its own run.
func auditExec(a *auditor.Auditor, exec tasks.ExecFunc) tasks.ExecFunc {
	return func(ctx context.Context, t *tasks.Task, h *tasks.Handle) (string, json.RawMessage) {
		actor := auditor.Actor{Type: "none"}
		if t.CreatedBy != "" {
			actor = auditor.Actor{ID: t.CreatedBy, Type: "user"}
		}
		var spec struct {
			TemplateInfo struct {
				EntityRef string `json:"entityRef"`
			} `json:"templateInfo"`
		}
		_ = json.Unmarshal(t.Spec, &spec) // a spec the runner cannot read fails the run, which is recorded
		ev := a.Create(ctx, auditor.EventOptions{ID: "task", Severity: auditor.Medium, Actor: &actor,
			Meta: map[string]any{"actionType": "execution", "taskId": t.ID, "templateRef": spec.TemplateInfo.EntityRef}})
		status, body := exec(ctx, t, h)
		if ctx.Err() != nil {
			return status, body
		}
		if status == tasks.StatusCompleted {
			ev.Success(ctx)
		} else {
			ev.Fail(ctx, fmt.Errorf("task %s", status))
		}
		return status, body
	}
}
