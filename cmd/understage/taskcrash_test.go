package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	bin := buildUnderstage(t)
	tmpl := filepath.Join(dir, "template.yaml")
	writeFile(t, tmpl, crashTemplate)
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`backend:
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
`, port, port, filepath.Join(dir, "backstage.sqlite"), filepath.Join(dir, "work"), tmpl))
	srv := &replica{name: "understage", base: fmt.Sprintf("http://127.0.0.1:%d", port)}

	srv.cmd = startServe(t, bin, cfg, "error", os.Stderr)
	id := srv.createTask(t, "template:default/crash-course")
	srv.awaitStep(t, id, "wait")
	srv.kill(t)
	if srv.taskEvents(id) != nil {
		t.Fatal("the killed backend still answers")
	}

	srv.cmd = startServe(t, bin, cfg, "error", os.Stderr)
	defer srv.stop()
	status := srv.awaitTaskEnd(t, id, 2*time.Minute)
	evs := srv.taskEvents(id)
	log := eventTrail(evs)
	t.Logf("events after the restart:\n%s", log)
	if status != "completed" {
		t.Fatalf("task %s after the restart; events:\n%s", status, log)
	}
	count := func(match func(crashEvent) bool) int { return countEvents(evs, match) }
	if n := count(func(e crashEvent) bool { return e.Type == "recovered" }); n != 1 {
		t.Errorf("%d recovered events, want 1; events:\n%s", n, log)
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
				tt.step, begun, tt.wantBeginnings, finished, skipped, tt.wantSkipped, log)
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
