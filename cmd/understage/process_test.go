package main

// What the process-level tests share: building and starting the binary,
// talking to a running replica over HTTP, and driving a scaffolder task.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// buildUnderstage builds the binary into a temporary directory.
func buildUnderstage(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "understage")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// sharedPG is a database option (YAML flow map) that puts every plugin in
// one fresh PostgreSQL database, so that replicas started with it share all
// their state.
func sharedPG(t *testing.T) string {
	t.Helper()
	o := databasetest.PG(t)
	c := o.Connection.(map[string]any)
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:5432/%s?sslmode=disable", c["database"])
	return fmt.Sprintf("{client: pg, connection: %[1]q, plugin: {catalog: {connection: %[1]q}, auth: {connection: %[1]q}, scaffolder: {connection: %[1]q}}}", dsn)
}

// envInt reads a positive integer knob from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startServe starts `understage serve` on the config file cfg, writing its
// log at level to out. It does not wait for the server.
func startServe(t *testing.T, bin, cfg, level string, out io.Writer) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", level)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// replica is one running process of the binary, reached at base, calling
// with token when it has one.
type replica struct {
	name  string
	base  string
	cmd   *exec.Cmd
	token string
}

// stop ends the process with SIGTERM and waits for it; a stopped process
// is left alone.
func (r *replica) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	_, _ = r.cmd.Process.Wait()
}

// kill ends the process with SIGKILL and waits for it.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = r.cmd.Process.Wait()
}

// await waits until the health probe (liveness or readiness) answers 200.
func (r *replica) await(t *testing.T, probe string, within time.Duration) {
	t.Helper()
	if !eventually(within, func() bool { return r.status("GET", "/.backstage/health/v1/"+probe) == 200 }) {
		t.Fatalf("%s: %s never answered 200", r.name, probe)
	}
}

func (r *replica) doAs(t *testing.T, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s %.80s: %v", r.name, method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (r *replica) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	return r.doAs(t, r.token, method, path, body)
}

func (r *replica) status(method, path string) int {
	req, _ := http.NewRequest(method, r.base+path, nil)
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return -1
	}
	resp.Body.Close()
	return resp.StatusCode
}

// try GETs path without failing the test, for polling a process that may
// be starting or gone: the status (0 when it does not answer or a 200 body
// does not decode) and, on 200, the body decoded into v.
func (r *replica) try(path string, v any) int {
	req, err := http.NewRequest("GET", r.base+path, nil)
	if err != nil {
		return 0
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(v) != nil {
		return 0
	}
	return resp.StatusCode
}

func (r *replica) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	status, body := r.do(t, "GET", path, "")
	if status == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
	}
	return status
}

func (r *replica) postJSON(t *testing.T, path, body string, v any) int {
	t.Helper()
	status, resp := r.do(t, "POST", path, body)
	if status/100 == 2 {
		if err := json.Unmarshal(resp, v); err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
	} else {
		t.Logf("POST %s: %d %s", path, status, resp)
	}
	return status
}

func (r *replica) signIn(t *testing.T) string {
	t.Helper()
	var out struct {
		BackstageIdentity struct{ Token string }
	}
	status, body := r.doAs(t, "", "GET", "/api/auth/guest/refresh", "")
	if status != 200 || json.Unmarshal(body, &out) != nil || out.BackstageIdentity.Token == "" {
		t.Fatalf("%s guest sign-in: %d %s", r.name, status, body)
	}
	return out.BackstageIdentity.Token
}

// totalItems counts the entities matching a by-query filter; -1 when the
// replica does not answer.
func (r *replica) totalItems(filter string) int {
	var page struct{ TotalItems int }
	if r.try("/api/catalog/entities/by-query?limit=0&filter="+filter, &page) != 200 {
		return -1
	}
	return page.TotalItems
}

// namesExactlyOnce checks that the entities matching filter are exactly
// want, each listed once.
func (r *replica) namesExactlyOnce(t *testing.T, filter string, want []string) {
	t.Helper()
	var list []struct{ Metadata struct{ Name string } }
	if s := r.getJSON(t, "/api/catalog/entities?filter="+filter+"&fields=metadata.name", &list); s != 200 {
		t.Fatalf("%s: list: %d", r.name, s)
	}
	seen := map[string]bool{}
	for _, e := range list {
		if seen[e.Metadata.Name] {
			t.Fatalf("%s: %s listed twice", r.name, e.Metadata.Name)
		}
		seen[e.Metadata.Name] = true
	}
	for _, name := range want {
		if !seen[name] {
			t.Fatalf("%s: %s missing", r.name, name)
		}
	}
}

// createTask starts a task from templateRef, retrying while the replica is
// starting or the template is not in the catalog yet; it returns the id.
func (r *replica) createTask(t *testing.T, templateRef string) string {
	t.Helper()
	body := `{"templateRef":"` + templateRef + `","values":{}}`
	var id string
	pollFor(t, templateRef+" to become a task", func() bool {
		req, err := http.NewRequest("POST", r.base+"/api/scaffolder/v2/tasks", strings.NewReader(body))
		if err != nil {
			return false
		}
		req.Header.Set("Content-Type", "application/json")
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var created struct{ ID string }
		if resp.StatusCode != 201 || json.NewDecoder(resp.Body).Decode(&created) != nil {
			return false
		}
		id = created.ID
		return true
	})
	return id
}

// crashEvent is one event of a scaffolder task.
type crashEvent struct {
	Type string
	Body struct {
		Message, StepID, Status string
		Output                  json.RawMessage
	}
}

// taskEvents are the task's events; nil when the replica does not answer.
func (r *replica) taskEvents(id string) []crashEvent {
	var evs []crashEvent
	if r.try("/api/scaffolder/v2/tasks/"+id+"/events", &evs) != 200 {
		return nil
	}
	return evs
}

// awaitStep waits until the task's step has begun.
func (r *replica) awaitStep(t *testing.T, id, step string) {
	t.Helper()
	pollFor(t, "step "+step+" to begin", func() bool {
		for _, e := range r.taskEvents(id) {
			if e.Body.StepID == step && e.Body.Status == "processing" {
				return true
			}
		}
		return false
	})
}

// awaitTaskEnd waits until the task has completed, failed or been
// cancelled, and returns which.
func (r *replica) awaitTaskEnd(t *testing.T, id string, within time.Duration) string {
	t.Helper()
	var task struct{ Status string }
	if !eventually(within, func() bool {
		return r.try("/api/scaffolder/v2/tasks/"+id, &task) == 200 &&
			(task.Status == "completed" || task.Status == "failed" || task.Status == "cancelled")
	}) {
		t.Fatalf("task %s never ended (%q)", id, task.Status)
	}
	return task.Status
}

// eventTrail is the events one per line, to show when a check fails.
func eventTrail(evs []crashEvent) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", e.Type, e.Body.StepID, e.Body.Status, e.Body.Message)
	}
	return b.String()
}

// countEvents counts the events that match.
func countEvents(evs []crashEvent, match func(crashEvent) bool) int {
	n := 0
	for _, e := range evs {
		if match(e) {
			n++
		}
	}
	return n
}

// eventually retries ok for up to d and reports whether it came to hold.
func eventually(d time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return ok()
}

// pollFor retries cond until it holds; the deadline only stops a hung test.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !eventually(2*time.Minute, cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// peakRSS is the process's peak resident set size (VmHWM), in bytes.
func peakRSS(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb << 10
		}
	}
	t.Fatal("no VmHWM")
	return 0
}

// fleet runs replicas of one binary, each on its own port and config file,
// and restarts them on the same port after a kill. Every run of a replica
// appends to its log, which is shown when the test fails.
type fleet struct {
	t    *testing.T
	bin  string
	dir  string
	conf func(port int) string
	mu   sync.Mutex
	reps []*replica
	logs []string
}

func (f *fleet) add(name string) *replica {
	port := freePort(f.t)
	writeFile(f.t, filepath.Join(f.dir, name+".yaml"), f.conf(port))
	r := &replica{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	f.reps = append(f.reps, r)
	log := filepath.Join(f.dir, name+".log")
	f.logs = append(f.logs, log)
	f.start(r)
	f.t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		r.stop()
		if f.t.Failed() {
			if b, err := os.ReadFile(log); err == nil {
				f.t.Logf("%s log (last 3 KiB):\n%s", name, b[max(0, len(b)-3072):])
			}
		}
	})
	return r
}

// start runs r and waits until it answers its liveness probe (readiness
// waits for the whole first load, which a replica joining a large ingest
// must not).
func (f *fleet) start(r *replica) {
	f.t.Helper()
	logFile, err := os.OpenFile(filepath.Join(f.dir, r.name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		f.t.Fatal(err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	cmd := startServe(f.t, f.bin, filepath.Join(f.dir, r.name+".yaml"), "warn", logFile)
	f.mu.Lock()
	r.cmd = cmd
	f.mu.Unlock()
	r.await(f.t, "liveness", 90*time.Second)
}

// errorLines returns the lines logged at level ERROR by every run of every
// replica so far (the replicas log JSON).
func (f *fleet) errorLines() []string {
	var out []string
	for _, log := range f.logs {
		b, err := os.ReadFile(log)
		if err != nil {
			f.t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"level":"ERROR"`) {
				out = append(out, filepath.Base(log)+": "+line)
			}
		}
	}
	return out
}

func (f *fleet) kill(r *replica) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	r.kill(f.t)
}
