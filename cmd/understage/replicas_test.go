package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
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
	cfg := filepath.Join(f.dir, name+".yaml")
	if err := os.WriteFile(cfg, []byte(f.conf(port)), 0o644); err != nil {
		f.t.Fatal(err)
	}
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
	cmd := exec.Command(f.bin, "serve", "--config", filepath.Join(f.dir, r.name+".yaml"), "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	f.mu.Lock()
	r.cmd = cmd
	f.mu.Unlock()
	if !eventually(90*time.Second, func() bool { return r.status("GET", "/.backstage/health/v1/liveness") == 200 }) {
		f.t.Fatalf("%s never came up", r.name)
	}
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
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		f.t.Fatal(err)
	}
	_, _ = r.cmd.Process.Wait()
}

const replicaTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: replica-course
spec:
  owner: group:default/team-platform
  type: demo
  steps:
    - id: one
      name: Step one
      action: debug:log
      input: {message: marker step one ran}
    - id: wait
      name: Wait
      action: debug:wait
      # Long enough to span a replica's start and the first kill on a
      # loaded machine; every rescue begins it again.
      input: {seconds: 15}
    - id: two
      name: Step two
      action: debug:log
      input: {message: marker step two ran}
`

// TestReplicasKilledDuringIngest runs three replicas of the real binary on
// one PostgreSQL database. While they ingest a 20,000-entity location, one
// replica at a time, chosen at random (UNDERSTAGE_FAULT_SEED, logged), is
// killed with SIGKILL at a random moment and started again,
// UNDERSTAGE_FAULT_KILLS times (default 5); the first kill hits the replica
// running a scaffolder task. The catalog must converge to exactly the
// entities of the file, each once and as written, and the task must
// complete on another worker with no completed step run again.
func TestReplicasKilledDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	const n = 20000
	t0 := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }
	db := sharedPG(t)
	bin := buildUnderstage(t)
	phase("built")
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("UNDERSTAGE_FAULT_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("UNDERSTAGE_FAULT_SEED=%q: %v", s, err)
		}
	}
	t.Logf("UNDERSTAGE_FAULT_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	kills := envInt(t, "UNDERSTAGE_FAULT_KILLS", 5)

	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: rep-%05d\n  tags: [replica, shard-%d]\nspec: {type: service, lifecycle: production, owner: team-%d}\n", i, i%7, i%13)
	}
	file := filepath.Join(dir, "components.yaml")
	tmpl := filepath.Join(dir, "template.yaml")
	for name, text := range map[string]string{file: b.String(), tmpl: replicaTemplate} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := &fleet{t: t, bin: bin, dir: dir, conf: func(port int) string {
		return fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%[1]d
  listen: {host: 127.0.0.1, port: %[1]d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: %[2]s
  workingDirectory: %[3]q
catalog:
  processingInterval: PT10M
  allowedLocationTypes: [file]
  rules: [{allow: [Component, Template, Location]}]
  locations:
    - {type: file, target: %[4]q}
scaffolder:
  taskLease: {seconds: 2}
`, port, db, filepath.Join(dir, "work"), tmpl)
	}}

	// The task starts while one replica is up, so that replica holds it.
	holder := f.add("r0")
	var id string
	if !eventually(2*time.Minute, func() bool {
		var r struct{ ID string }
		if s, body := holder.do(t, "POST", "/api/scaffolder/v2/tasks", `{"templateRef":"template:default/replica-course","values":{}}`); s == 201 && json.Unmarshal(body, &r) == nil {
			id = r.ID
			return true
		}
		return false // the template is not in the catalog yet
	}) {
		t.Fatal("the template never became a task")
	}
	events := func(r *replica) []crashEvent {
		var evs []crashEvent
		if s, body := r.do(t, "GET", "/api/scaffolder/v2/tasks/"+id+"/events", ""); s != 200 || json.Unmarshal(body, &evs) != nil {
			return nil
		}
		return evs
	}
	if !eventually(2*time.Minute, func() bool {
		for _, e := range events(holder) {
			if e.Body.StepID == "wait" && e.Body.Status == "processing" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the task's wait step never began")
	}
	phase("the task waits on r0")
	reps := []*replica{holder, f.add("r1"), f.add("r2")}
	phase("r1 and r2 up")

	count := func(r *replica) int {
		var page struct{ TotalItems int }
		s, body := r.do(t, "GET", "/api/catalog/entities/by-query?limit=0&filter=kind=component,metadata.tags=replica", "")
		if s != 200 || json.Unmarshal(body, &page) != nil {
			return -1
		}
		return page.TotalItems
	}
	began := time.Now()
	var loc struct{ Location struct{ ID string } }
	if s := reps[1].postJSON(t, "/api/catalog/locations", string(mustJSON(map[string]string{"type": "file", "target": file})), &loc); s != 201 {
		t.Fatalf("register the location: %d", s)
	}

	// Kill at random moments: one replica down at a time, the others
	// carrying on; the first victim is the task's holder.
	pause := func(lo, hi time.Duration) time.Duration { return lo + time.Duration(rng.Int64N(int64(hi-lo))) }
	var log strings.Builder
	for k := range kills {
		victim := holder
		if k > 0 {
			victim = reps[rng.IntN(len(reps))]
		}
		time.Sleep(pause(300*time.Millisecond, 3*time.Second))
		seen := count(reps[(index(reps, victim)+1)%len(reps)])
		f.kill(victim)
		down := pause(100*time.Millisecond, 2*time.Second)
		fmt.Fprintf(&log, "  kill %d: %s at %d of %d components, down %v\n", k+1, victim.name, seen, n, down.Round(time.Millisecond))
		time.Sleep(down)
		f.start(victim)
	}
	lastKill := time.Now()
	t.Logf("%d kills:\n%s", kills, log.String())

	if !eventually(5*time.Minute, func() bool { return count(reps[0]) == n }) {
		t.Fatalf("the catalog never converged: %d components, want %d", count(reps[0]), n)
	}
	t.Logf("converged to %d components %v after the location was registered, %v after the last restart",
		n, time.Since(began).Round(time.Millisecond), time.Since(lastKill).Round(time.Millisecond))

	// Every name exactly once, on every replica.
	for _, r := range reps {
		s, body := r.do(t, "GET", "/api/catalog/entities?filter=kind=component,metadata.tags=replica&fields=metadata.name", "")
		var list []struct{ Metadata struct{ Name string } }
		if s != 200 || json.Unmarshal(body, &list) != nil {
			t.Fatalf("%s: list: %d", r.name, s)
		}
		seen := map[string]bool{}
		for _, e := range list {
			if seen[e.Metadata.Name] {
				t.Fatalf("%s: %s listed twice", r.name, e.Metadata.Name)
			}
			seen[e.Metadata.Name] = true
		}
		for i := range n {
			if name := fmt.Sprintf("rep-%05d", i); !seen[name] {
				t.Fatalf("%s: %s missing", r.name, name)
			}
		}
	}
	// A sample read in full: as written in the file, with its relations.
	for range 25 {
		i := rng.IntN(n)
		r := reps[rng.IntN(len(reps))]
		var e struct {
			Metadata struct {
				Name string
				Tags []string
			}
			Spec      struct{ Type, Lifecycle, Owner string }
			Relations []struct{ Type, TargetRef string }
		}
		if s := r.getJSON(t, fmt.Sprintf("/api/catalog/entities/by-name/component/default/rep-%05d", i), &e); s != 200 {
			t.Fatalf("%s: rep-%05d: %d", r.name, i, s)
		}
		owner := fmt.Sprintf("team-%d", i%13)
		if e.Spec.Owner != owner || e.Spec.Type != "service" || strings.Join(e.Metadata.Tags, ",") != fmt.Sprintf("replica,shard-%d", i%7) {
			t.Errorf("rep-%05d on %s: %+v", i, r.name, e)
		}
		owned := 0
		for _, rel := range e.Relations {
			if rel.Type == "ownedBy" {
				owned++
				if rel.TargetRef != "group:default/"+owner {
					t.Errorf("rep-%05d: ownedBy %s, want group:default/%s", i, rel.TargetRef, owner)
				}
			}
		}
		if owned != 1 {
			t.Errorf("rep-%05d: %d ownedBy relations, want 1", i, owned)
		}
	}

	// The task completed, each step finished once and none begun again
	// once finished.
	phase("catalog checked")
	// The surviving replicas carry on without failing; what a killed one
	// logged at the moment it died is not in its log (SIGKILL).
	if lines := f.errorLines(); len(lines) > 0 {
		t.Errorf("the replicas logged %d errors:\n%s", len(lines), strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
	var task struct{ Status string }
	if !eventually(3*time.Minute, func() bool {
		return reps[0].getJSON(t, "/api/scaffolder/v2/tasks/"+id, &task) == 200 &&
			(task.Status == "completed" || task.Status == "failed" || task.Status == "cancelled")
	}) {
		t.Fatalf("the task never ended (%s)", task.Status)
	}
	evs := events(reps[0])
	var trail bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&trail, "  %s %s %s: %s\n", e.Type, e.Body.StepID, e.Body.Status, e.Body.Message)
	}
	if task.Status != "completed" {
		t.Fatalf("task %s; events:\n%s", task.Status, trail.String())
	}
	recovered := 0
	for _, e := range evs {
		if e.Type == "recovered" {
			recovered++
		}
	}
	if recovered < 1 {
		t.Errorf("no recovered event, though the task's replica was killed; events:\n%s", trail.String())
	}
	for _, step := range []string{"Step one", "Wait", "Step two"} {
		begun, finished := 0, 0
		for _, e := range evs {
			switch e.Body.Message {
			case "Beginning step " + step:
				if finished > 0 {
					t.Errorf("%s begun again after it finished; events:\n%s", step, trail.String())
				}
				begun++
			case "Finished step " + step:
				finished++
			}
		}
		// A step is begun once per attempt that reached it: at most the
		// first run plus one per recovery.
		if finished != 1 || begun < 1 || begun > 1+recovered {
			t.Errorf("%s: begun %d, finished %d (recovered %d); events:\n%s", step, begun, finished, recovered, trail.String())
		}
	}
	for _, marker := range []string{"marker step one ran", "marker step two ran"} {
		ran := 0
		for _, e := range evs {
			if strings.HasSuffix(e.Body.Message, marker) {
				ran++
			}
		}
		if ran != 1 {
			t.Errorf("%q logged %d times, want 1; events:\n%s", marker, ran, trail.String())
		}
	}
	phase("task checked")
	t.Logf("task completed after %d recoveries, %d events", recovered, len(evs))
}

func index(reps []*replica, r *replica) int {
	for i, x := range reps {
		if x == r {
			return i
		}
	}
	return -1
}
