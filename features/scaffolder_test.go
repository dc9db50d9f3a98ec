package features

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/understage/understage/plugins/backend/ojson"
)

// scaffolderWorld is the state of the template scenarios.
type scaffolderWorld struct {
	*world
	work   string           // backend.workingDirectory
	repos  *httptest.Server // the SCM host the new services live on
	taskID string
	task   struct {
		Status string
	}
	events []scaffolderEvent
}

type scaffolderEvent struct {
	ID        int64
	Type      string
	CreatedAt time.Time
	Body      struct {
		Message, StepID, Status string
		Error                   *struct{ Name, Message string }
		Output                  *struct {
			Links []struct{ Title, URL, EntityRef string }
		}
	}
}

// The example node-service template stops at catalog:write. This scenario
// template runs the same steps and then registers the result, as a real
// golden path does after publishing: its catalog:register points at the
// repository host below.
const registerStep = `- id: register
  name: Register the service
  action: catalog:register
  input:
    catalogInfoUrl: %s/repos/${{ context.task.id }}/catalog-info.yaml
`

const waitTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: wait-a-while
  title: Wait a while
spec:
  owner: group:default/team-platform
  type: demo
  steps:
    - id: before
      name: Before
      action: debug:log
      input: {message: before the wait}
    - id: wait
      name: Wait
      action: debug:wait
      input: {minutes: 5}
    - id: after
      name: After
      action: debug:log
      input: {message: after the wait}
`

const templatesLocation = `---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: scenario-templates
spec:
  targets:
    - ./templates/node-service-registered.yaml
    - ./templates/broken/template.yaml
    - ./templates/wait.yaml
`

func (w *world) registerScaffolder(sc *godog.ScenarioContext) {
	s := &scaffolderWorld{world: w}
	sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
		if s.repos != nil {
			s.repos.Close()
		}
		return ctx, nil
	})
	sc.Step(`^understage serves the example organisation and the example templates$`, s.serve)
	sc.Step(`^I run the template "([^"]*)" with the values:$`, s.runTemplate)
	sc.Step(`^the task ends "([^"]*)"$`, s.taskEnds)
	sc.Step(`^the task page shows these steps:$`, s.stepsShown)
	sc.Step(`^every step that ran has a start time no later than its end time$`, s.timings)
	sc.Step(`^the task output links to "([^"]*)" and to the entity "([^"]*)"$`, s.outputLinks)
	sc.Step(`^the component "([^"]*)" was created from "([^"]*)"$`, s.createdFrom)
	sc.Step(`^the task's error names the missing folder "([^"]*)"$`, s.errorNames)
	sc.Step(`^the step "([^"]*)" has begun$`, s.stepBegun)
	sc.Step(`^I cancel the task$`, s.cancelTask)
	sc.Step(`^the task has a cancelled event for the step "([^"]*)"$`, s.hasCancelledEvent)
	sc.Step(`^the task's error says the step "([^"]*)" has been cancelled$`, s.errorCancelled)
}

// repositoryHost stands in for the SCM host a publish step pushes to: a
// repository is created from the task's workspace the first time it is
// read (while catalog:register runs) and served from that copy afterwards,
// when the workspace is gone.
func (s *scaffolderWorld) repositoryHost() http.Handler {
	var mu sync.Mutex
	pushed := map[string][]byte{}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/repos/")
		task, file, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 || strings.Contains(rest, "..") {
			http.NotFound(rw, r)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		key := task + "/" + file
		if _, done := pushed[key]; !done {
			b, err := os.ReadFile(filepath.Join(s.work, task, filepath.FromSlash(file)))
			if err != nil {
				http.NotFound(rw, r)
				return
			}
			pushed[key] = b
		}
		_, _ = rw.Write(pushed[key])
	})
}

func (s *scaffolderWorld) serve() error {
	if err := s.exampleFolder(); err != nil {
		return err
	}
	s.repos = httptest.NewServer(s.repositoryHost())
	s.work = filepath.Join(s.dir, "work")
	cat := filepath.Join(s.dir, "catalog")
	tdir := filepath.Join(cat, "templates")
	examples := filepath.Join(repoRoot(), "examples", "templates")
	if err := copyDir(filepath.Join(examples, "node-service"), filepath.Join(tdir, "node-service")); err != nil {
		return err
	}
	if err := copyDir(filepath.Join(examples, "broken"), filepath.Join(tdir, "broken")); err != nil {
		return err
	}
	// node-service-registered: the example template, renamed, its skeleton
	// fetched from the example's folder, plus the register step.
	src, err := os.ReadFile(filepath.Join(examples, "node-service", "template.yaml"))
	if err != nil {
		return err
	}
	tv, err := ojson.DecodeYAML(src)
	if err != nil {
		return err
	}
	tmpl := tv.(*ojson.Object)
	tmpl.Object("metadata").Set("name", "node-service-registered")
	steps, _ := tmpl.Object("spec").Get("steps")
	for _, st := range steps.([]any) {
		if in := st.(*ojson.Object).Object("input"); in != nil && in.String("url") == "./skeleton" {
			in.Set("url", "./node-service/skeleton")
		}
	}
	reg, err := ojson.DecodeYAML([]byte(fmt.Sprintf(registerStep, s.repos.URL)))
	if err != nil {
		return err
	}
	tmpl.Object("spec").Set("steps", append(steps.([]any), reg.([]any)...))
	out, err := ojson.ToYAML(tmpl)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tdir, "node-service-registered.yaml"), out, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tdir, "wait.yaml"), []byte(waitTemplate), 0o644); err != nil {
		return err
	}
	all, err := os.ReadFile(filepath.Join(cat, "all.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cat, "all.yaml"), append(all, templatesLocation...), 0o644); err != nil {
		return err
	}
	backendExtra := fmt.Sprintf(`  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  workingDirectory: %q
  reading:
    allow: [{host: %q}]
`, s.work, strings.TrimPrefix(s.repos.URL, "http://"))
	if err := s.startWith(backendExtra, "scaffolder:\n  concurrentTasksLimit: 2\n"); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev := s.cancel
	s.cancel = func() { cancel(); prev() }
	s.backend.RunScaffolderWorker(ctx)
	return s.finish()
}

// call sends a scaffolder API request and decodes a 2xx answer into v.
func (s *scaffolderWorld) call(method, path string, body any, v any) error {
	var rd io.Reader
	if body != nil {
		b, err := ojson.Marshal(body)
		if err != nil {
			return err
		}
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, s.srv.URL+"/api/scaffolder"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(b, v)
}

func (s *scaffolderWorld) runTemplate(name string, values *godog.DocString) error {
	v, err := ojson.DecodeYAML([]byte(values.Content))
	if err != nil {
		return err
	}
	var r struct{ ID string }
	if err := s.call("POST", "/v2/tasks", ojson.NewObject("templateRef", "template:default/"+name, "values", v), &r); err != nil {
		return err
	}
	if r.ID == "" {
		return fmt.Errorf("no task id")
	}
	s.taskID = r.ID
	return nil
}

// loadEvents reads the task's events as the task page does.
func (s *scaffolderWorld) loadEvents() error {
	s.events = nil
	return s.call("GET", "/v2/tasks/"+s.taskID+"/events", nil, &s.events)
}

// waitFor polls the task until cond holds; the bound only stops a hung
// scenario, it is not what is being checked.
func (s *scaffolderWorld) waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(time.Minute)
	for {
		if err := s.call("GET", "/v2/tasks/"+s.taskID, nil, &s.task); err != nil {
			return err
		}
		if err := s.loadEvents(); err != nil {
			return err
		}
		if cond() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited for %s; task is %s, events %+v", what, s.task.Status, s.events)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *scaffolderWorld) taskEnds(status string) error {
	err := s.waitFor("the task to end", func() bool {
		switch s.task.Status {
		case "completed", "failed", "cancelled":
			return true
		}
		return false
	})
	if err != nil {
		return err
	}
	if s.task.Status != status {
		return fmt.Errorf("task ended %s, want %s; events %+v", s.task.Status, status, s.events)
	}
	last := s.events[len(s.events)-1]
	if last.Type != "completion" {
		return fmt.Errorf("last event is %s, not the completion", last.Type)
	}
	return nil
}

// stepState is what the task page derives for one step from the log
// events: its last status, when it began and when it ended.
type stepState struct {
	status       string
	started, end time.Time
}

func (s *scaffolderWorld) stepStates() map[string]*stepState {
	out := map[string]*stepState{}
	for _, e := range s.events {
		if e.Type != "log" || e.Body.StepID == "" || e.Body.Status == "" {
			continue
		}
		st := out[e.Body.StepID]
		if st == nil {
			st = &stepState{}
			out[e.Body.StepID] = st
		}
		st.status = e.Body.Status
		if e.Body.Status == "processing" {
			st.started = e.CreatedAt
		} else {
			st.end = e.CreatedAt
		}
	}
	return out
}

func (s *scaffolderWorld) stepsShown(table *godog.Table) error {
	states := s.stepStates()
	for _, row := range table.Rows[1:] {
		id, want := row.Cells[0].Value, row.Cells[1].Value
		st := states[id]
		if st == nil {
			return fmt.Errorf("no status event for step %s; events %+v", id, s.events)
		}
		if st.status != want {
			return fmt.Errorf("step %s is %s, want %s", id, st.status, want)
		}
	}
	if len(states) != len(table.Rows)-1 {
		return fmt.Errorf("%d steps have events, the table lists %d", len(states), len(table.Rows)-1)
	}
	return nil
}

func (s *scaffolderWorld) timings() error {
	for id, st := range s.stepStates() {
		if st.status == "skipped" {
			continue
		}
		if st.started.IsZero() || st.end.IsZero() {
			return fmt.Errorf("step %s lacks a start or end time: %+v", id, st)
		}
		if st.end.Before(st.started) {
			return fmt.Errorf("step %s ends before it starts: %+v", id, st)
		}
	}
	return nil
}

func (s *scaffolderWorld) outputLinks(url, entityRef string) error {
	last := s.events[len(s.events)-1]
	if last.Body.Output == nil {
		return fmt.Errorf("completion without output: %+v", last.Body)
	}
	var sawURL, sawEntity bool
	for _, l := range last.Body.Output.Links {
		sawURL = sawURL || l.URL == url
		sawEntity = sawEntity || l.EntityRef == entityRef
	}
	if !sawURL || !sawEntity {
		return fmt.Errorf("output links %+v", last.Body.Output.Links)
	}
	return nil
}

func (s *scaffolderWorld) createdFrom(name, template string) error {
	e, err := s.entity("component:default/" + name)
	if err != nil {
		return err
	}
	md, _ := e["metadata"].(map[string]any)
	ann, _ := md["annotations"].(map[string]any)
	if got := ann["backstage.io/source-template"]; got != template {
		return fmt.Errorf("source-template annotation %v, want %s", got, template)
	}
	return nil
}

func (s *scaffolderWorld) errorNames(folder string) error {
	last := s.events[len(s.events)-1]
	if last.Body.Error == nil || !strings.Contains(last.Body.Error.Message, folder) {
		return fmt.Errorf("completion error %+v does not name %s", last.Body.Error, folder)
	}
	return nil
}

func (s *scaffolderWorld) stepBegun(step string) error {
	return s.waitFor("step "+step+" to begin", func() bool {
		st := s.stepStates()[step]
		return st != nil && st.status == "processing"
	})
}

func (s *scaffolderWorld) cancelTask() error {
	var r struct{ Status string }
	if err := s.call("POST", "/v2/tasks/"+s.taskID+"/cancel", ojson.NewObject(), &r); err != nil {
		return err
	}
	if r.Status != "cancelled" {
		return fmt.Errorf("cancel answered %+v", r)
	}
	return nil
}

func (s *scaffolderWorld) hasCancelledEvent(step string) error {
	for _, e := range s.events {
		if e.Type == "cancelled" && e.Body.StepID == step && e.Body.Status == "cancelled" {
			return nil
		}
	}
	return fmt.Errorf("no cancelled event for %s: %+v", step, s.events)
}

// errorCancelled checks the completion's error: the runner ends the
// waiting action through its context and reports the step cancelled.
func (s *scaffolderWorld) errorCancelled(step string) error {
	last := s.events[len(s.events)-1]
	want := fmt.Sprintf("Step %s (Wait) of task %s has been cancelled.", step, s.taskID)
	if last.Body.Error == nil || last.Body.Error.Message != want {
		return fmt.Errorf("completion error %+v, want %q", last.Body.Error, want)
	}
	return nil
}
