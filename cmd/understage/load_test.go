package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// loadOp is one kind of request the load test sends, and the statuses it
// may answer with; anything else (any 5xx, a transport error) is a failure.
type loadOp struct {
	name   string
	weight int
	ok     []int
}

var loadOps = []loadOp{
	{"by-query", 30, []int{200}},
	{"by-refs", 20, []int{200}},
	{"facets", 15, []int{200}},
	{"entities", 10, []int{200}},
	{"post-location", 10, []int{201, 409}},  // 409: another client registered that file first
	{"delete-location", 7, []int{204, 404}}, // 404: the other replica's client deleted it first
	{"refresh", 8, []int{200}},
}

// TestReplicasUnderLoad runs two replicas of the real binary on one
// PostgreSQL database and sends them UNDERSTAGE_LOAD_CLIENTS (default 200)
// concurrent clients for UNDERSTAGE_LOAD_SECONDS (default 60), each mixing
// paged and cursor by-query reads, by-refs, facets, filtered lists, location
// registrations and deletions and refreshes. No request may fail with a 5xx
// or a transport error or answer with a status its operation does not
// allow; the latencies (p50, p99) are logged per operation.
func TestReplicasUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	const n = 2000
	const writeFiles = 40
	clients := envInt(t, "UNDERSTAGE_LOAD_CLIENTS", 200)
	duration := time.Duration(envInt(t, "UNDERSTAGE_LOAD_SECONDS", 60)) * time.Second
	db := sharedPG(t)
	bin := buildUnderstage(t)
	dir := t.TempDir()

	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: load-%04d\n  tags: [load, shard-%d]\nspec: {type: %s, lifecycle: production, owner: team-%d}\n",
			i, i%5, []string{"service", "website", "library"}[i%3], i%17)
	}
	file := filepath.Join(dir, "components.yaml")
	writeFile(t, file, b.String())
	var targets []string
	for i := range writeFiles {
		p := filepath.Join(dir, fmt.Sprintf("w-%02d.yaml", i))
		text := fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: written-%02d, tags: [written]}\nspec: {type: service, lifecycle: experimental, owner: team-%d}\n", i, i%17)
		writeFile(t, p, text)
		targets = append(targets, p)
	}
	f := &fleet{t: t, bin: bin, dir: dir, conf: func(port int) string {
		return fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%[1]d
  listen: {host: 127.0.0.1, port: %[1]d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: %[2]s
catalog:
  processingInterval: PT10M
  allowedLocationTypes: [file]
  rules: [{allow: [Component, Location]}]
  locations:
    - {type: file, target: %[3]q}
`, port, db, file)
	}}
	reps := []*replica{f.add("a"), f.add("b")}
	for _, r := range reps {
		if !eventually(3*time.Minute, func() bool { return r.totalItems("metadata.tags=load") == n }) {
			t.Fatalf("%s never served the %d components", r.name, n)
		}
	}

	httpc := &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: 2 * clients, IdleConnTimeout: time.Minute},
	}
	defer httpc.CloseIdleConnections()
	var (
		mu      sync.Mutex
		lat     = map[string][]time.Duration{}
		bad     []string
		badN    int
		created []string // location ids registered and not yet deleted
	)
	send := func(op *loadOp, r *replica, method, path string, body any) []byte {
		var rd io.Reader
		if body != nil {
			rd = strings.NewReader(string(mustJSON(body)))
		}
		req, _ := http.NewRequest(method, r.base+path, rd)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		began := time.Now()
		resp, err := httpc.Do(req)
		var out []byte
		status := 0
		if err == nil {
			out, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		took := time.Since(began)
		mu.Lock()
		defer mu.Unlock()
		lat[op.name] = append(lat[op.name], took)
		if err != nil || !slices.Contains(op.ok, status) {
			badN++
			if len(bad) < 20 {
				bad = append(bad, fmt.Sprintf("%s %s %s: %d %v %.200s", r.name, method, path, status, err, out))
			}
			return nil
		}
		return out
	}
	total := 0
	for _, op := range loadOps {
		total += op.weight
	}
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 42))
			for time.Now().Before(stop) {
				r := reps[rng.IntN(len(reps))]
				pick := rng.IntN(total)
				op := &loadOps[0]
				for i := range loadOps {
					if pick < loadOps[i].weight {
						op = &loadOps[i]
						break
					}
					pick -= loadOps[i].weight
				}
				switch op.name {
				case "by-query":
					path := fmt.Sprintf("/api/catalog/entities/by-query?limit=20&filter=kind=component,metadata.tags=shard-%d&orderField=metadata.name,asc", rng.IntN(5))
					var page struct{ PageInfo struct{ NextCursor string } }
					if out := send(op, r, "GET", path, nil); out != nil && json.Unmarshal(out, &page) == nil && page.PageInfo.NextCursor != "" {
						send(op, r, "GET", "/api/catalog/entities/by-query?limit=20&cursor="+page.PageInfo.NextCursor, nil)
					}
				case "by-refs":
					refs := make([]string, 20)
					for i := range refs {
						refs[i] = fmt.Sprintf("component:default/load-%04d", rng.IntN(n+100)) // some unknown
					}
					send(op, r, "POST", "/api/catalog/entities/by-refs", map[string]any{"entityRefs": refs})
				case "facets":
					send(op, r, "GET", "/api/catalog/entity-facets?facet=kind&facet=spec.type&facet=metadata.tags&facet=relations.ownedBy", nil)
				case "entities":
					send(op, r, "GET", fmt.Sprintf("/api/catalog/entities?filter=kind=component,spec.owner=team-%d&limit=50", rng.IntN(17)), nil)
				case "post-location":
					var res struct{ Location struct{ ID string } }
					out := send(op, r, "POST", "/api/catalog/locations", map[string]string{"type": "file", "target": targets[rng.IntN(len(targets))]})
					if out != nil && json.Unmarshal(out, &res) == nil && res.Location.ID != "" {
						mu.Lock()
						created = append(created, res.Location.ID)
						mu.Unlock()
					}
				case "delete-location":
					mu.Lock()
					id := ""
					if len(created) > 0 {
						i := rng.IntN(len(created))
						id = created[i]
						created = slices.Delete(created, i, i+1)
					}
					mu.Unlock()
					if id == "" {
						id = "00000000-0000-0000-0000-000000000000" // never registered: 404
					}
					send(op, r, "DELETE", "/api/catalog/locations/"+id, nil)
				case "refresh":
					send(op, r, "POST", "/api/catalog/refresh", map[string]string{"entityRef": fmt.Sprintf("component:default/load-%04d", rng.IntN(n))})
				}
			}
		}()
	}
	wg.Wait()

	var all []time.Duration
	var report strings.Builder
	pct := func(d []time.Duration, p float64) time.Duration {
		return d[min(len(d)-1, int(float64(len(d))*p))].Round(100 * time.Microsecond)
	}
	for _, op := range loadOps {
		d := lat[op.name]
		if len(d) == 0 {
			t.Errorf("no %s request was sent", op.name)
			continue
		}
		slices.Sort(d)
		all = append(all, d...)
		fmt.Fprintf(&report, "  %-16s %7d requests  p50 %-9v p99 %v\n", op.name, len(d), pct(d, 0.50), pct(d, 0.99))
	}
	slices.Sort(all)
	t.Logf("%d clients for %v against 2 replicas on PostgreSQL: %d requests (%.0f/s), %d unexpected; p50 %v, p99 %v\n%s",
		clients, duration, len(all), float64(len(all))/duration.Seconds(), badN, pct(all, 0.50), pct(all, 0.99), report.String())
	if badN > 0 {
		t.Errorf("%d unexpected answers, the first ones:\n%s", badN, strings.Join(bad, "\n"))
	}
	// Every failure inside a replica is a bug too, even one a later pass
	// repairs (such as a stitch that lost a race with a deletion).
	if lines := f.errorLines(); len(lines) > 0 {
		t.Errorf("the replicas logged %d errors under load:\n%s", len(lines), strings.Join(lines[:min(len(lines), 10)], "\n"))
	}
	// The catalog served under load is still the one in the file.
	for _, r := range reps {
		if got := r.totalItems("metadata.tags=load"); got != n {
			t.Errorf("%s after the load: %d components (-1: no answer), want %d", r.name, got, n)
		}
	}
}
