package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/catalog/orggen"
)

// pgCluster is a PostgreSQL cluster of the test's own, so that it can be
// restarted without disturbing the shared server other tests use.
type pgCluster struct {
	t       *testing.T
	runuser string
	bin     string // the directory of initdb, pg_ctl and postgres
	data    string
	log     string
	port    int
}

// startPrivatePG initialises and starts a throwaway cluster on a free
// loopback port, run by the postgres OS user (initdb refuses root). Without
// the binaries or the means to switch user the test is skipped, except
// under CI=true, where that is a failure.
func startPrivatePG(t *testing.T) *pgCluster {
	t.Helper()
	missing := func(format string, args ...any) *pgCluster {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("a private PostgreSQL cluster is required under CI=true: "+format, args...)
		}
		t.Skipf("no private PostgreSQL cluster: "+format, args...)
		return nil
	}
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return missing("no /usr/lib/postgresql/*/bin/initdb")
	}
	// The newest version: directories are major versions.
	sort.Slice(bins, func(i, j int) bool {
		vi, vj := filepath.Base(filepath.Dir(filepath.Dir(bins[i]))), filepath.Base(filepath.Dir(filepath.Dir(bins[j])))
		if len(vi) != len(vj) {
			return len(vi) < len(vj)
		}
		return vi < vj
	})
	bin := filepath.Dir(bins[len(bins)-1])
	// runuser lives in sbin, which a user's PATH may lack.
	runuser, err := exec.LookPath("runuser")
	for _, p := range []string{"/usr/sbin/runuser", "/sbin/runuser"} {
		if err == nil {
			break
		}
		if _, serr := os.Stat(p); serr == nil {
			runuser, err = p, nil
		}
	}
	if err != nil {
		return missing("runuser: %v", err)
	}
	if os.Geteuid() != 0 {
		return missing("switching to the postgres user needs root (euid %d)", os.Geteuid())
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		return missing("%v", err)
	}
	var uid, gid int
	if _, err := fmt.Sscan(pgUser.Uid+" "+pgUser.Gid, &uid, &gid); err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: its parents are private to root, and the server runs
	// as postgres.
	root, err := os.MkdirTemp("", "understage-pg-*")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(root, uid, gid); err != nil {
		t.Fatal(err)
	}
	c := &pgCluster{t: t, runuser: runuser, bin: bin, data: filepath.Join(root, "data"), log: filepath.Join(root, "server.log"), port: freePort(t)}
	if out, err := c.run("initdb", "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	// fsync off makes the restarts and the ingest cheap and loses nothing
	// here: the restarts crash PostgreSQL, not the machine, and the WAL it
	// wrote is in the OS's cache. Commits stay synchronous: with them
	// asynchronous, an immediate shutdown loses commits already
	// acknowledged (a task's step events), which no replica could redo.
	// Only loopback TCP and a socket in the cluster's folder.
	conf := fmt.Sprintf(`
listen_addresses = '127.0.0.1'
port = %d
unix_socket_directories = '%s'
max_connections = 200
fsync = off
full_page_writes = off
`, c.port, root)
	f, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	// Registered first: a start that timed out may still have left a
	// server running.
	t.Cleanup(func() {
		if out, err := c.ctl("stop", "-m", "immediate"); err != nil {
			t.Logf("pg_ctl stop: %v\n%s", err, out)
		}
	})
	if out, err := c.ctl("start"); err != nil {
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, c.serverLog())
	}
	return c
}

// run runs one of the cluster's programs as the postgres user.
func (c *pgCluster) run(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command(c.runuser, append([]string{"-u", "postgres", "--", filepath.Join(c.bin, prog)}, args...)...)
	cmd.Dir = filepath.Dir(c.data)
	return cmd.CombinedOutput()
}

// ctl runs pg_ctl on the cluster, waiting (bounded) for the action.
func (c *pgCluster) ctl(args ...string) ([]byte, error) {
	return c.run("pg_ctl", append([]string{"-D", c.data, "-l", c.log, "-w", "-t", "120"}, args...)...)
}

func (c *pgCluster) serverLog() string {
	b, _ := os.ReadFile(c.log)
	return string(b[max(0, len(b)-3072):])
}

// restart restarts the server with pg_ctl's shutdown mode (fast: clients
// are disconnected and a checkpoint written; immediate: every server
// process is killed, as in a crash, and the next start recovers).
func (c *pgCluster) restart(mode string) {
	c.t.Helper()
	if out, err := c.ctl("restart", "-m", mode); err != nil {
		c.t.Fatalf("pg_ctl restart -m %s: %v\n%s\n%s", mode, err, out, c.serverLog())
	}
}

func (c *pgCluster) dsn(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// processAlive says whether pid is a process that has not exited (a zombie
// has).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// orgRefs reads the refs of the entities orggen wrote into its part files.
func orgRefs(t *testing.T, parts []string) []string {
	t.Helper()
	var refs []string
	for _, p := range parts {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		kind := ""
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "---":
				kind = ""
			case strings.HasPrefix(line, "kind: "):
				kind = strings.ToLower(strings.TrimPrefix(line, "kind: "))
			case kind != "" && strings.HasPrefix(line, "  name: "):
				refs = append(refs, kind+":default/"+strings.TrimPrefix(line, "  name: "))
				kind = ""
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(refs)
	return refs
}

// outageReader reads by-query pages from the replicas until stopped. A
// failed read is allowed only while the database is down or until the
// first successful read after it came back; it must be a 5xx in
// Backstage's error envelope that shows neither SQL nor host paths, and
// no read may hang.
type outageReader struct {
	reps  []*replica
	paths []string // host paths that must not appear in an answer

	mu        sync.Mutex
	outage    bool // the database is being restarted
	recovered bool // a read succeeded since the last restart
	reads     int
	failed    map[int]int // status → count
	bad       []string
	slowest   time.Duration
}

func (o *outageReader) restarting(on bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.outage = on
	if on {
		o.recovered = false
	}
}

func (o *outageReader) run(stop <-chan struct{}) {
	// A read that takes this long is a hang: every query fails at once
	// while the server is down (connection refused or shutting down).
	client := &http.Client{Timeout: 45 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		r := o.reps[i%len(o.reps)]
		t0 := time.Now()
		status, body, err := func() (int, []byte, error) {
			resp, err := client.Get(r.base + "/api/catalog/entities/by-query?limit=50&filter=metadata.tags=gen&orderField=metadata.name,asc")
			if err != nil {
				return 0, nil, err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return resp.StatusCode, b, err
		}()
		took := time.Since(t0)
		o.mu.Lock()
		o.reads++
		o.slowest = max(o.slowest, took)
		switch {
		case err != nil:
			o.bad = append(o.bad, fmt.Sprintf("%s: read failed after %v: %v", r.name, took.Round(time.Millisecond), err))
		case status == 200:
			if !o.outage {
				o.recovered = true
			}
		default:
			o.failed[status]++
			var e errorEnvelope
			if status/100 != 5 {
				o.bad = append(o.bad, fmt.Sprintf("%s: %d during the outage, want 5xx: %.300s", r.name, status, body))
			} else if !o.outage && o.recovered {
				o.bad = append(o.bad, fmt.Sprintf("%s: %d after reads had recovered: %.300s", r.name, status, body))
			} else if json.Unmarshal(body, &e) != nil || e.Error.Name == "" || e.Error.Message == nil || e.Response.StatusCode != status {
				o.bad = append(o.bad, fmt.Sprintf("%s: %d is not Backstage's error envelope: %.300s", r.name, status, body))
			} else if leak.Match(body) {
				o.bad = append(o.bad, fmt.Sprintf("%s: %d shows internals: %.300s", r.name, status, body))
			}
			for _, p := range o.paths {
				if bytes.Contains(body, []byte(p)) {
					o.bad = append(o.bad, fmt.Sprintf("%s: %d shows the host path %s: %.300s", r.name, status, p, body))
				}
			}
		}
		o.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
}

// pgRestartSteps is the number of short wait steps of the task: each
// one's end records the step, so that some of those writes meet the
// database going away or the stale connections it leaves behind.
const pgRestartSteps = 24

// pgRestartTemplate is a task that logs a marker, waits in short steps
// across the restart, and logs another marker.
func pgRestartTemplate() string {
	var b strings.Builder
	b.WriteString(`apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: pg-restart-course
spec:
  owner: group:default/acme
  type: demo
  steps:
    - {id: one, name: Step one, action: debug:log, input: {message: marker step one ran}}
`)
	for i := range pgRestartSteps {
		fmt.Fprintf(&b, "    - {id: wait%02d, name: Wait %02d, action: debug:wait, input: {milliseconds: 250}}\n", i, i)
	}
	b.WriteString("    - {id: two, name: Step two, action: debug:log, input: {message: marker step two ran}}\n")
	return b.String()
}

// TestPostgresRestartDuringIngest runs two replicas of the real binary on
// a PostgreSQL cluster of its own and restarts that cluster while they
// ingest a generated organisation (catalog/orggen) of
// UNDERSTAGE_PGRESTART_ENTITIES entities (default 12,000): once with
// pg_ctl's fast shutdown when a third of it is queryable, while a
// scaffolder task waits in a step, and once with the immediate one (a
// crash) at two thirds. A client reads by-query throughout. The replicas
// must reconnect by themselves (they are never restarted and must not
// exit): reads fail only while the database is down, as 5xx envelopes that
// show no internals, and never hang; the catalog converges to exactly the
// organisation; readiness answers 200; and the task, whose short steps
// end across the restart, completes on its worker (not rescued), each step
// run and finished once. UNDERSTAGE_PGRESTART_SHOW_ERRORS=1 logs every
// error line the replicas logged.
func TestPostgresRestartDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	pg := startPrivatePG(t)
	t0 := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(t0).Seconds(), what) }
	phase("private cluster up on port " + fmt.Sprint(pg.port))
	bin := buildUnderstage(t)
	phase("built")
	dir := t.TempDir()
	n := envInt(t, "UNDERSTAGE_PGRESTART_ENTITIES", 12000)
	root, parts, org, err := orggen.Write(dir, n)
	if err != nil {
		t.Fatal(err)
	}
	want := orgRefs(t, parts)
	if len(want) != org.Total() {
		t.Fatalf("read %d refs from the generated files, orggen says %d", len(want), org.Total())
	}
	tmpl := filepath.Join(dir, "template.yaml")
	if err := os.WriteFile(tmpl, []byte(pgRestartTemplate()), 0o644); err != nil {
		t.Fatal(err)
	}
	dsn := pg.dsn("understage")
	db := fmt.Sprintf("{client: pg, connection: %[1]q, plugin: {catalog: {connection: %[1]q}, auth: {connection: %[1]q}, scaffolder: {connection: %[1]q}}}", dsn)
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
  rules: [{allow: [Component, System, API, Resource, Location, Template, Group, User, Domain]}]
  locations:
    - {type: file, target: %[4]q}
scaffolder:
  # Far longer than a restart: the task must carry on on its worker, not
  # be rescued by the other one.
  taskLease: {seconds: 30}
`, port, db, filepath.Join(dir, "work"), tmpl)
	}}
	reps := []*replica{f.add("r0"), f.add("r1")}
	pids := []int{reps[0].cmd.Process.Pid, reps[1].cmd.Process.Pid}
	phase("r0 and r1 up")

	count := func(r *replica) int {
		var page struct{ TotalItems int }
		s, body := r.do(t, "GET", "/api/catalog/entities/by-query?limit=0&filter=metadata.tags=gen", "")
		if s != 200 || json.Unmarshal(body, &page) != nil {
			return -1
		}
		return page.TotalItems
	}
	if !eventually(2*time.Minute, func() bool {
		return reps[0].status("GET", "/api/catalog/entities/by-name/template/default/pg-restart-course") == 200
	}) {
		t.Fatal("the template never reached the catalog")
	}

	reader := &outageReader{reps: reps, paths: []string{dir, pg.data, filepath.Dir(pg.data)}, failed: map[int]int{}}
	stopReader := make(chan struct{})
	readerDone := make(chan struct{})
	go func() { defer close(readerDone); reader.run(stopReader) }()
	defer func() {
		select {
		case <-stopReader:
		default:
			close(stopReader)
		}
		<-readerDone
	}()

	began := time.Now()
	var loc struct{ Location struct{ ID string } }
	if s := reps[1].postJSON(t, "/api/catalog/locations", string(mustJSON(map[string]string{"type": "file", "target": root})), &loc); s != 201 {
		t.Fatalf("register the location: %d", s)
	}
	var seen int
	if !eventually(5*time.Minute, func() bool { seen = count(reps[0]); return seen >= len(want)/3 }) {
		t.Fatalf("a third of the organisation never became queryable: %d of %d", seen, len(want))
	}
	phase(fmt.Sprintf("%d of %d entities queryable", seen, len(want)))

	// The task begins its wait step, then the database goes away under it.
	var id string
	{
		var r struct{ ID string }
		if s := reps[0].postJSON(t, "/api/scaffolder/v2/tasks", `{"templateRef":"template:default/pg-restart-course","values":{}}`, &r); s != 201 {
			t.Fatalf("create the task: %d", s)
		}
		id = r.ID
	}
	events := func(r *replica) []crashEvent {
		var evs []crashEvent
		if s, body := r.do(t, "GET", "/api/scaffolder/v2/tasks/"+id+"/events", ""); s != 200 || json.Unmarshal(body, &evs) != nil {
			return nil
		}
		return evs
	}
	if !eventually(2*time.Minute, func() bool {
		for _, e := range events(reps[0]) {
			if e.Body.StepID == "wait00" && e.Body.Status == "processing" {
				return true
			}
		}
		return false
	}) {
		t.Fatal("the task's wait step never began")
	}

	restart := func(mode string) {
		seen := count(reps[0])
		reader.restarting(true)
		r0 := time.Now()
		pg.restart(mode)
		reader.restarting(false)
		phase(fmt.Sprintf("restarted PostgreSQL (-m %s) at %d of %d entities in %v", mode, seen, len(want), time.Since(r0).Round(time.Millisecond)))
	}
	restart("fast")
	if !eventually(5*time.Minute, func() bool { seen = count(reps[0]); return seen >= 2*len(want)/3 }) {
		t.Fatalf("two thirds of the organisation never became queryable: %d of %d", seen, len(want))
	}
	restart("immediate")
	lastRestart := time.Now()

	lastLog := time.Now()
	if !eventually(5*time.Minute, func() bool {
		c0, c1 := count(reps[0]), count(reps[1])
		if time.Since(lastLog) > 10*time.Second {
			phase(fmt.Sprintf("%d and %d of %d entities", c0, c1, len(want)))
			lastLog = time.Now()
		}
		return c0 == len(want) && c1 == len(want)
	}) {
		t.Fatalf("the catalog never converged: %d and %d entities, want %d", count(reps[0]), count(reps[1]), len(want))
	}
	phase(fmt.Sprintf("converged to %d entities %v after the location was registered, %v after the last restart",
		len(want), time.Since(began).Round(time.Millisecond), time.Since(lastRestart).Round(time.Millisecond)))

	// Exactly the organisation, each entity once, on both replicas.
	for _, r := range reps {
		s, body := r.do(t, "GET", "/api/catalog/entities?filter=metadata.tags=gen&fields=kind,metadata.name", "")
		var list []struct {
			Kind     string
			Metadata struct{ Name string }
		}
		if s != 200 || json.Unmarshal(body, &list) != nil {
			t.Fatalf("%s: list: %d", r.name, s)
		}
		got := make([]string, 0, len(list))
		for _, e := range list {
			got = append(got, strings.ToLower(e.Kind)+":default/"+e.Metadata.Name)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			var missing, extra []string
			for _, ref := range want {
				if _, ok := slices.BinarySearch(got, ref); !ok {
					missing = append(missing, ref)
				}
			}
			for i, ref := range got {
				if _, ok := slices.BinarySearch(want, ref); !ok || (i > 0 && got[i-1] == ref) {
					extra = append(extra, ref)
				}
			}
			t.Fatalf("%s: %d entities, want %d; missing %d (%.5q), extra or twice %d (%.5q)", r.name, len(got), len(want), len(missing), missing, len(extra), extra)
		}
	}
	// Relations were stitched after the restarts too: every component
	// written is owned by its team.
	for _, name := range []string{orggen.ComponentName(0), orggen.ComponentName(org.Components / 2), orggen.ComponentName(org.Components - 1)} {
		var e struct {
			Spec      struct{ Owner string }
			Relations []struct{ Type, TargetRef string }
		}
		if s := reps[1].getJSON(t, "/api/catalog/entities/by-name/component/default/"+name, &e); s != 200 {
			t.Fatalf("%s: %d", name, s)
		}
		owned := false
		for _, rel := range e.Relations {
			owned = owned || rel.Type == "ownedBy" && rel.TargetRef == "group:default/"+strings.TrimPrefix(e.Spec.Owner, "group:")
		}
		if !owned {
			t.Errorf("%s: no ownedBy relation to %s: %+v", name, e.Spec.Owner, e.Relations)
		}
	}
	phase("catalog checked")

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
	steps := []string{"Step one", "Step two"}
	for i := range pgRestartSteps {
		steps = append(steps, fmt.Sprintf("Wait %02d", i))
	}
	for _, step := range steps {
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
		if finished != 1 || begun > 1+recovered {
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
	phase(fmt.Sprintf("task completed (%d recoveries, %d events)", recovered, len(evs)))
	if recovered > 0 {
		t.Errorf("the task was recovered %d times rather than carried on through the restart; events:\n%s", recovered, trail.String())
	}

	close(stopReader)
	<-readerDone
	reader.mu.Lock()
	t.Logf("reader: %d reads, failed %v, slowest %v", reader.reads, reader.failed, reader.slowest.Round(time.Millisecond))
	if len(reader.bad) > 0 {
		t.Errorf("%d bad reads:\n%s", len(reader.bad), strings.Join(reader.bad[:min(len(reader.bad), 10)], "\n"))
	}
	reader.mu.Unlock()

	for i, r := range reps {
		if !processAlive(pids[i]) {
			t.Fatalf("%s (pid %d) exited", r.name, pids[i])
		}
		if s := r.status("GET", "/.backstage/health/v1/readiness"); s != 200 {
			t.Errorf("%s: readiness %d after the restarts", r.name, s)
		}
	}
	lines := f.errorLines()
	for _, l := range lines {
		if strings.Contains(l, "panic") {
			t.Errorf("a replica panicked: %.500s", l)
		}
	}
	t.Logf("the replicas logged %d errors (expected while the database was down)", len(lines))
	if os.Getenv("UNDERSTAGE_PGRESTART_SHOW_ERRORS") != "" {
		for _, l := range lines {
			t.Log(l)
		}
	}
}
