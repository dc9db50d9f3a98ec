package scaffolderplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/scaffolder/tasks"
)

// TestAuditExec: a task run is a "task" execution event for its creator,
// succeeded when the task completes and failed otherwise; a run stopped by
// shutdown is left initiated.
func TestAuditExec(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		stop         bool
		want         []string
	}{
		{"completed", tasks.StatusCompleted, false, []string{"initiated", "succeeded "}},
		{"failed", tasks.StatusFailed, false, []string{"initiated", "failed Error: task failed"}},
		{"cancelled", tasks.StatusCancelled, false, []string{"initiated", "failed Error: task cancelled"}},
		{"shutdown", tasks.StatusFailed, true, []string{"initiated"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			a := auditor.New(auditor.Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil))}).ForPlugin("scaffolder")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			exec := auditExec(a, func(context.Context, *tasks.Task, *tasks.Handle) (string, json.RawMessage) {
				if tc.stop {
					cancel()
				}
				return tc.status, nil
			})
			task := &tasks.Task{ID: "t1", CreatedBy: "user:default/tom", Spec: json.RawMessage(`{"templateInfo":{"entityRef":"template:default/web"}}`)}
			if s, _ := exec(ctx, task, nil); s != tc.status {
				t.Fatalf("status %s", s)
			}
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				var m struct {
					Msg, Status, Error string
					Actor              struct{ ActorID string }
					Meta               map[string]string
				}
				if err := json.Unmarshal([]byte(l), &m); err != nil {
					t.Fatal(err)
				}
				if m.Msg != "scaffolder.task" || m.Actor.ActorID != "user:default/tom" || m.Meta["actionType"] != "execution" ||
					m.Meta["taskId"] != "t1" || m.Meta["templateRef"] != "template:default/web" {
					t.Errorf("line %s", l)
				}
				s := m.Status
				if m.Status != string(auditor.Initiated) {
					s += " " + m.Error
				}
				got = append(got, s)
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("statuses %q, want %q", got, tc.want)
			}
		})
	}
}
