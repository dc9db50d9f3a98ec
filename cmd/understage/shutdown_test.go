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
	bin := buildUnderstage(t)

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
	writeFile(t, file, b.String())
	tmpl := filepath.Join(dir, "template.yaml")
	writeFile(t, tmpl, shutdownTemplate)
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`backend:
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
`, port, port, filepath.Join(dir, "backstage.sqlite"), filepath.Join(dir, "work"), gh.URL, tmpl, file))
	srv := &replica{name: "understage", base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	count := func() int { return srv.totalItems("kind=component,metadata.tags=stop") }

	firstLogs := &syncBuffer{}
	first := startServe(t, bin, cfg, "info", firstLogs)
	srv.cmd = first
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
	id := srv.createTask(t, "template:default/shutdown-course")
	srv.awaitStep(t, id, "wait")

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
	srv.await(t, "liveness", 2*time.Minute)
	pollFor(t, "ingestion to begin", func() bool { return count() > 0 })
	t.Logf("entities ingested when SIGTERM is sent: %d of %d", count(), n)

	var running struct{ Status string }
	if s := srv.try("/api/scaffolder/v2/tasks/"+id, &running); s != 200 || running.Status != "processing" {
		t.Fatalf("the task is %q before SIGTERM (status %d): the wait step must still be running", running.Status, s)
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
	srv.cmd = startServe(t, bin, cfg, "info", &syncBuffer{})
	defer srv.stop()
	status := srv.awaitTaskEnd(t, id, 2*time.Minute)
	evs := srv.taskEvents(id)
	recovered := countEvents(evs, func(e crashEvent) bool { return e.Type == "recovered" })
	if status != "completed" || recovered != 1 {
		t.Fatalf("task %s with %d recovered events after the restart; events:\n%s", status, recovered, eventTrail(evs))
	}
	t.Logf("task completed %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
	pollFor(t, "the catalog to hold every entity of the file", func() bool { return count() == n })
	t.Logf("catalog converged %s after SIGTERM", time.Since(sent).Round(time.Millisecond))
}
