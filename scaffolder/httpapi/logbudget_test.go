package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
)

const chattyTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: chatty
spec:
  type: service
  steps:
    - id: loop
      each: ${{ parameters.items }}
      action: debug:log
      input:
        message: item ${{ each.value }} ${{ parameters.pad }}
    - id: flaky
      action: test:flaky
    - id: last
      action: debug:log
      input:
        message: the end
`

func addTemplate(t *testing.T, b *bundle, doc string) {
	t.Helper()
	v, err := ojson.DecodeYAML([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	o := v.(*ojson.Object)
	b.svc.Templates.(templateMap)["template:default/"+o.Object("metadata").String("name")] = o
}

// TestTaskLogBudget: a task whose log goes past scaffolder.taskLogMaxEvents
// (or taskLogMaxBytes) gets one truncation line, then keeps only its step
// status lines; it runs on to the end, and a retry counts the log it
// already has instead of starting a new budget.
func TestTaskLogBudget(t *testing.T) {
	for _, c := range []struct {
		name  string
		limit scaffolder.LogLimit
		pad   string
	}{
		{"events", scaffolder.LogLimit{Events: 8}, ""},
		{"bytes", scaffolder.LogLimit{Bytes: 2000}, strings.Repeat("x", 200)},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := setup(t, sqliteDB, false)
			b.svc.Runner.LogLimit = c.limit
			addTemplate(t, b, chattyTemplate)
			items, _ := json.Marshal(make([]int, 50))
			id := b.create(t, `{"templateRef":"chatty","values":{"items":`+string(items)+`,"pad":"`+c.pad+`"}}`)
			if got := b.waitStatus(t, id, "completed", "failed"); got != "failed" {
				t.Fatalf("first attempt %s", got)
			}
			if code, out := b.do(t, "POST", "/v2/tasks/"+id+"/retry", `{}`); code != 201 {
				t.Fatalf("retry %d %s", code, out)
			}
			if got := b.waitStatus(t, id, "completed", "failed"); got != "completed" {
				t.Fatalf("after retry %s", got)
			}
			evs := b.events(t, id)
			truncations, plainAfter, size := 0, 0, 0
			var statuses []string
			for _, l := range lines(evs) {
				parts := strings.SplitN(l, "|", 4)
				if strings.HasPrefix(parts[3], "Log truncated: ") {
					truncations++
					continue
				}
				if parts[0] == "log" && parts[2] == "" && truncations > 0 {
					plainAfter++
				}
				if parts[2] != "" {
					statuses = append(statuses, parts[1]+":"+parts[2])
				}
			}
			for _, e := range evs {
				size += len(e.Body)
			}
			if truncations != 1 || plainAfter != 0 {
				t.Errorf("%d truncation lines, %d plain lines after it:\n%s", truncations, plainAfter, strings.Join(lines(evs), "\n"))
			}
			// Every step's progress is still there, through the retry.
			want := "loop:processing loop:completed flaky:processing flaky:failed last:skipped loop:completed flaky:processing flaky:completed last:processing last:completed"
			if got := strings.Join(statuses, " "); got != want {
				t.Errorf("status lines\n got %s\nwant %s", got, want)
			}
			if c.limit.Events > 0 && len(evs) > c.limit.Events+len(statuses)+3 {
				t.Errorf("%d events kept", len(evs))
			}
			if c.limit.Bytes > 0 && size > int(c.limit.Bytes)+2000 {
				t.Errorf("%d bytes kept", size)
			}
		})
	}
}

// TestDryRunLogBudget: a dry run's answer carries the same bounded log.
func TestDryRunLogBudget(t *testing.T) {
	b := setup(t, sqliteDB, true)
	b.svc.Runner.LogLimit = scaffolder.LogLimit{Events: 5}
	body := `{"template":{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"d"},
"spec":{"type":"service","steps":[{"id":"loop","each":"${{ parameters.items }}","action":"debug:log","input":{"message":"n ${{ each.value }}"}},
{"id":"after","action":"debug:log","input":{"message":"after"}}]}},
"values":{"items":[1,2,3,4,5,6,7,8,9,10]},"directoryContents":[]}`
	code, out := b.do(t, "POST", "/v2/dry-run", body)
	if code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	var res struct {
		Log []struct {
			Body struct{ Message, Status, StepID string }
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	plain, truncated := 0, 0
	var statuses []string
	for _, l := range res.Log {
		switch {
		case strings.HasPrefix(l.Body.Message, "Log truncated: "):
			truncated++
		case l.Body.Status != "":
			statuses = append(statuses, l.Body.StepID+":"+l.Body.Status)
		default:
			plain++
		}
	}
	if truncated != 1 || plain > 5 || strings.Join(statuses, " ") != "loop:processing loop:completed after:processing after:completed" {
		t.Errorf("truncated %d plain %d statuses %v\n%s", truncated, plain, statuses, out)
	}
}
