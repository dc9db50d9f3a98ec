package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const shutdownTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: shutdown-course
spec:
  owner: group:default/team-platform
  type: demo
  steps:
    - id: one
      name: Step one
      action: debug:log
      input: {message: step one ran}
    - id: wait
      name: Wait
      action: debug:wait
      # Long enough to be running at SIGTERM on a loaded machine; the
      # resumed run waits again.
      input: {seconds: 45}
    - id: two
      name: Step two
      action: debug:log
      input: {message: step two ran}
`

// syncBuffer is a log sink written by exec's copier and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSIGTERMDuringWork sends SIGTERM to the real binary while it ingests
// a large location, runs a task (in a debug:wait step), runs a GitHub
// discovery provider whose API never answers, and serves a request whose
// body trickles in without end. The process must exit 0 on its own, log no
// error (in particular none from a database closed under running work),
// log that it cancelled the stuck request after the grace period, and the
// task must resume and complete after a restart on the same SQLite file.
func TestSIGTERMDuringWork(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	const n = 10000
	dir := t.TempDir()
	bin := filepath.Join(dir, "understage")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	// A GitHub API that takes every request and never answers: the
	// provider's run is in flight until the process stops it.
	providerHit := make(chan struct{})
	var hitOnce sync.Once
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hitOnce.Do(func() { close(providerHit) })
		<-r.Context().Done()
	}))
	defer gh.Close()

	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: stop-%05d\n  tags: [stop]\nspec: {type: service, lifecycle: production, owner: team-%d}\n", i, i%10)
	}
	file := filepath.Join(dir, "components.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tmpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tmpl, []byte(shutdownTemplate), 0o644); err != nil {
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
integrations:
  github:
    - {host: github.test, apiBaseUrl: %q}
catalog:
  processingInterval: PT10M
  rules: [{allow: [Component, Location, Template]}]
  locations:
    - {type: file, target: %q}
    - {type: file, target: %q}
  providers:
    github:
      slow:
        organization: acme
        host: github.test
        schedule: {frequency: {hours: 1}, timeout: {minutes: 10}}
scaffolder:
  taskLease: {seconds: 30}
`, port, port, filepath.Join(dir, "backstage.sqlite"), filepath.Join(dir, "work"), gh.URL, tmpl, file)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	root := fmt.Sprintf("http://127.0.0.1:%d", port)
	start := func(logs *syncBuffer) *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "info")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	getJSON := func(path string, v any) error {
		resp, err := http.Get(root + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %d", path, resp.StatusCode)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	// poll retries cond until it holds; the deadline only stops a hung test.
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	count := func() int {
		var r struct{ TotalItems int }
		if getJSON("/api/catalog/entities/by-query?limit=0&filter=kind=component,metadata.tags=stop", &r) != nil {
			return -1
		}
		return r.TotalItems
	}

	firstLogs := &syncBuffer{}
	first := start(firstLogs)
	stopped := false
	defer func() {
		if !stopped {
			_ = first.Process.Kill()
			_, _ = first.Process.Wait()
		}
	}()
	select {
	case <-providerHit:
	case <-time.After(2 * time.Minute):
		t.Fatal("the GitHub provider never ran")
	}
	var id string
	poll("the template to be created as a task", func() bool {
		resp, err := http.Post(root+"/api/scaffolder/v2/tasks", "application/json", strings.NewReader(`{"templateRef":"template:default/shutdown-course","values":{}}`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var r struct{ ID string }
		if resp.StatusCode != 201 || json.NewDecoder(resp.Body).Decode(&r) != nil {
			return false
		}
		id = r.ID
		return true
	})
	events := func() []crashEvent {
		var evs []crashEvent
		if err := getJSON("/api/scaffolder/v2/tasks/"+id+"/events", &evs); err != nil {
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

	// A request whose chunked body trickles in for ever; it must not keep
	// the process alive past the grace period.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /api/catalog/locations HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n"); err != nil {
		t.Fatal(err)
	}
	trickleDone := make(chan struct{})
	go func() {
		defer close(trickleDone)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for range tk.C {
			if _, err := conn.Write([]byte("1\r\n \r\n")); err != nil {
				return
			}
		}
	}()
	// The server has the request once its handler reads: a byte of the
	// trickle has gone through. Reading the first line of an answer would
	// block; instead, ask for the liveness of the same server, which is
	// served after the trickling request was accepted (not readiness: it
	// stays 503 until the whole first load is in).
	poll("the server to answer beside the stuck request", func() bool {
		resp, err := http.Get(root + "/.backstage/health/v1/liveness")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	poll("ingestion to begin", func() bool { return count() > 0 })
	t.Logf("entities ingested when SIGTERM is sent: %d of %d", count(), n)

	var running struct{ Status string }
	if err := getJSON("/api/scaffolder/v2/tasks/"+id, &running); err != nil || running.Status != "processing" {
		t.Fatalf("the task is %q before SIGTERM (%v): the wait step must still be running", running.Status, err)
	}
	sent := time.Now()
	if err := first.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- first.Wait() }()
	select {
	case err := <-exited:
		stopped = true
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, tail(firstLogs.String(), 40))
		} else if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatalf("still running a minute after SIGTERM; log:\n%s", tail(firstLogs.String(), 40))
	}
	t.Logf("exited %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	conn.Close()
	<-trickleDone

	// The log: no error at all, none from a closed database, and the stuck
	// request was cancelled after the grace period.
	sawCancel := false
	sc := bufio.NewScanner(strings.NewReader(firstLogs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var rec struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec.Level == "ERROR" || strings.Contains(line, "database is closed") {
			t.Errorf("log after SIGTERM: %s", line)
		}
		if strings.HasPrefix(rec.Msg, "cancelling requests still running") {
			sawCancel = true
		}
	}
	if !sawCancel {
		t.Errorf("the trickling request was not cancelled at shutdown; log:\n%s", tail(firstLogs.String(), 40))
	}

	// The task resumes after a restart and completes; the catalog converges.
	secondLogs := &syncBuffer{}
	second := start(secondLogs)
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_, _ = second.Process.Wait()
	}()
	var task struct{ Status string }
	poll("the task to end after the restart", func() bool {
		return getJSON("/api/scaffolder/v2/tasks/"+id, &task) == nil && (task.Status == "completed" || task.Status == "failed" || task.Status == "cancelled")
	})
	evs := events()
	var log bytes.Buffer
	recovered := 0
	for _, e := range evs {
		fmt.Fprintf(&log, "  %s %s %s: %s\n", e.Type, e.Body.StepID, e.Body.Status, e.Body.Message)
		if e.Type == "recovered" {
			recovered++
		}
	}
	if task.Status != "completed" || recovered != 1 {
		t.Fatalf("task %s with %d recovered events after the restart; events:\n%s", task.Status, recovered, log.String())
	}
	t.Logf("task completed %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	poll("the catalog to hold every entity of the file", func() bool { return count() == n })
	t.Logf("catalog converged %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
