package main

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

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
	writeFile(t, file, b.String())
	writeFile(t, tmpl, replicaTemplate)
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
	id := holder.createTask(t, "template:default/replica-course")
	holder.awaitStep(t, id, "wait")
	phase("the task waits on r0")
	reps := []*replica{holder, f.add("r1"), f.add("r2")}
	phase("r1 and r2 up")

	count := func(r *replica) int { return r.totalItems("kind=component,metadata.tags=replica") }
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
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("rep-%05d", i)
	}
	for _, r := range reps {
		r.namesExactlyOnce(t, "kind=component,metadata.tags=replica", names)
	}
	// Facets, which stitching counts as it writes, agree with the file
	// despite the transactions the kills cut short.
	want := map[string]map[string]int{"kind": {"Component": n}, "spec.type": {"service": n}, "metadata.tags": {"replica": n}, "relations.ownedBy": {}}
	for i := range n {
		want["metadata.tags"][fmt.Sprintf("shard-%d", i%7)]++
		want["relations.ownedBy"][fmt.Sprintf("group:default/team-%d", i%13)]++
	}
	for _, r := range reps {
		var got struct {
			Facets map[string][]struct {
				Value string
				Count int
			}
		}
		if s := r.getJSON(t, "/api/catalog/entity-facets?facet=kind&facet=spec.type&facet=metadata.tags&facet=relations.ownedBy&filter=kind=component", &got); s != 200 {
			t.Fatalf("%s: facets: %d", r.name, s)
		}
		for facet, values := range want {
			counts := map[string]int{}
			for _, v := range got.Facets[facet] {
				counts[v.Value] = v.Count
			}
			if !maps.Equal(counts, values) {
				t.Errorf("%s: facet %s = %v, want %v", r.name, facet, counts, values)
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
	status := reps[0].awaitTaskEnd(t, id, 3*time.Minute)
	evs := reps[0].taskEvents(id)
	trail := eventTrail(evs)
	if status != "completed" {
		t.Fatalf("task %s; events:\n%s", status, trail)
	}
	recovered := countEvents(evs, func(e crashEvent) bool { return e.Type == "recovered" })
	if recovered < 1 {
		t.Errorf("no recovered event, though the task's replica was killed; events:\n%s", trail)
	}
	for _, step := range []string{"Step one", "Wait", "Step two"} {
		begun, finished := 0, 0
		for _, e := range evs {
			switch e.Body.Message {
			case "Beginning step " + step:
				if finished > 0 {
					t.Errorf("%s begun again after it finished; events:\n%s", step, trail)
				}
				begun++
			case "Finished step " + step:
				finished++
			}
		}
		// A step is begun once per attempt that reached it: at most the
		// first run plus one per recovery.
		if finished != 1 || begun < 1 || begun > 1+recovered {
			t.Errorf("%s: begun %d, finished %d (recovered %d); events:\n%s", step, begun, finished, recovered, trail)
		}
	}
	for _, marker := range []string{"marker step one ran", "marker step two ran"} {
		if ran := countEvents(evs, func(e crashEvent) bool { return strings.HasSuffix(e.Body.Message, marker) }); ran != 1 {
			t.Errorf("%q logged %d times, want 1; events:\n%s", marker, ran, trail)
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
