package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const crashTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: crash-course
spec:
  owner: group:default/team-platform
  type: demo
  steps:
    - id: one
      name: Step one
      action: debug:log
      input: {message: step one ran}
    - id: write
      name: Write a file
      action: catalog:write
      input:
        filePath: written-before-the-crash.yaml
        entity: {apiVersion: backstage.io/v1alpha1, kind: Component, metadata: {name: crash}, spec: {type: service}}
    - id: wait
      name: Wait
      action: debug:wait
      input: {seconds: 4}
    - id: list
      name: List the workspace
      action: fs:readdir
      input: {paths: ['.']}
    - id: two
      name: Step two
      action: debug:log
      input: {message: step two ran}
  output:
    text:
      - title: Files
        content: ${{ steps.list.output.files | dump }}
`

type crashEvent struct {
	Type string
	Body struct {
		Message, StepID, Status string
		Output                  json.RawMessage
	}
}

// TestKillDuringTask kills the real binary with SIGKILL while a task waits
// in its third step, starts it again on the same SQLite file, and checks
// that the task resumes after the last completed step: it completes with a
// recovered event, the steps finished before the crash are not run again,
// the interrupted and later steps run to completion once, and the
// workspace written before the crash is the one the later steps see.
func TestKillDuringTask(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "understage")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	tmpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tmpl, []byte(crashTemplate), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
  workingDirectory: %q
catalog:
  processingInterval: PT10M
  rules: [{allow: [Template]}]
  locations:
    - {type: file, target: %q}
scaffolder:
  taskLease: {seconds: 2}
`, port, port, filepath.Join(dir, "backstage.sqlite"), filepath.Join(dir, "work"), tmpl)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/api/scaffolder/v2", port)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "error")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	getJSON := func(path string, v any) error { return getJSONAt(base, path, v) }
	poll := func(what string, cond func() bool) { t.Helper(); pollFor(t, what, cond) }

	first := start()
	var id string
	poll("the template to be created as a task", func() bool {
		resp, err := http.Post(base+"/tasks", "application/json", strings.NewReader(`{"templateRef":"template:default/crash-course","values":{}}`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var r struct{ ID string }
		if resp.StatusCode != 201 || json.NewDecoder(resp.Body).Decode(&r) != nil {
			return false // the backend is starting or the template not yet in the catalog
		}
		id = r.ID
		return true
	})
	events := func() []crashEvent {
		var evs []crashEvent
		if err := getJSON("/tasks/"+id+"/events", &evs); err != nil {
			return nil
		}
		return evs
	}
	poll("the wait step to begin", func() bool {
		for _, e := range events() {
			if e.Body.StepID == "wait" && e.Body.Status == "processing" {
				return true
			}
		}
		return false
	})
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	before := events() // nil: the process is gone
	if before != nil {
		t.Fatal("the killed backend still answers")
	}

	second := start()
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_, _ = second.Process.Wait()
	}()
	var task struct{ Status string }
	poll("the task to end after the restart", func() bool {
		return getJSON("/tasks/"+id, &task) == nil && (task.Status == "completed" || task.Status == "failed" || task.Status == "cancelled")
	})
	evs := events()
	var log bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&log, "  %s %s %s: %s\n", e.Type, e.Body.StepID, e.Body.Status, e.Body.Message)
	}
	t.Logf("events after the restart:\n%s", log.String())
	if task.Status != "completed" {
		t.Fatalf("task %s after the restart; events:\n%s", task.Status, log.String())
	}
	count := func(match func(crashEvent) bool) int {
		n := 0
		for _, e := range evs {
			if match(e) {
				n++
			}
		}
		return n
	}
	if n := count(func(e crashEvent) bool { return e.Type == "recovered" }); n != 1 {
		t.Errorf("%d recovered events, want 1; events:\n%s", n, log.String())
	}
	tests := []struct {
		step, name     string
		wantBeginnings int // "Beginning step <name>" events
		wantSkipped    int // "already completed in a previous run"
	}{
		{"one", "Step one", 1, 1},
		{"write", "Write a file", 1, 1},
		{"wait", "Wait", 2, 0}, // interrupted by the crash, so begun again
		{"list", "List the workspace", 1, 0},
		{"two", "Step two", 1, 0},
	}
	for _, tt := range tests {
		begun := count(func(e crashEvent) bool { return e.Body.Message == "Beginning step "+tt.name })
		finished := count(func(e crashEvent) bool { return e.Body.Message == "Finished step "+tt.name })
		skipped := count(func(e crashEvent) bool {
			return e.Body.StepID == tt.step && strings.Contains(e.Body.Message, "already completed in a previous run")
		})
		if begun != tt.wantBeginnings || finished != 1 || skipped != tt.wantSkipped {
			t.Errorf("step %s: begun %d (want %d), finished %d (want 1), skipped as done %d (want %d); events:\n%s",
				tt.step, begun, tt.wantBeginnings, finished, skipped, tt.wantSkipped, log.String())
		}
	}
	if n := count(func(e crashEvent) bool { return strings.HasSuffix(e.Body.Message, "step one ran") }); n != 1 {
		t.Errorf("step one logged %d times, want 1", n)
	}
	// The later steps saw the workspace the earlier ones wrote.
	last := evs[len(evs)-1]
	if last.Type != "completion" || !bytes.Contains(last.Body.Output, []byte("written-before-the-crash.yaml")) {
		t.Errorf("completion %s %s lacks the file written before the crash", last.Type, last.Body.Output)
	}
}

// getJSONAt decodes the 200 answer of GET base+path into v.
func getJSONAt(base, path string, v any) error {
	resp, err := http.Get(base + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// pollFor retries cond until it holds; the deadline only stops a hung test.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
