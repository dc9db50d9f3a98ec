// Command benchcmp measures understage against the real Backstage backend
// (the oracle in ../shared/oracle) in the same run, on the same machine and
// the same generated organisation (catalog/orggen), and prints a markdown table:
// full ingest, registration, by-query first and deep pages, GET /entities,
// by-refs, facets, resident memory and database size, on each database and
// size asked for, with ratios and growth; with -tasks N, also the time and
// throughput of N scaffolder tasks of a ten-file template (tasks.go).
//
//	go run ./cmd/benchcmp -n 10000 -tasks 100 -understage bin/understage -oracle ../shared/oracle
//
// Without -oracle (or when the oracle cannot start) only understage is measured.
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/understage/understage/catalog/orggen"
	"github.com/understage/understage/plugins/backend/metrics/metricstest"
)

// figures are one run's measurements; zero means not measured.
type figures struct {
	Ingest      time.Duration // start (or POST of the location) until every entity is served
	IngestCPU   time.Duration // user+system CPU time of the process at that moment (load-independent)
	Register    time.Duration // POST /locations of a new one-entity file until it is served (median of 5)
	ByQuery     time.Duration // first filtered, ordered page, median
	ByQueryCold time.Duration // the same, its first request after ingest (no cache)
	ByQueryP90  time.Duration
	DeepPage    time.Duration // the same listing's page half-way down, through its cursor, median
	EntitiesGet time.Duration // GET /entities with a filter, median
	ByRefs      time.Duration // POST /entities/by-refs of 100 refs, median
	Facets      map[string]time.Duration
	FacetsFirst map[string]time.Duration // the first request of each facet after ingest (no cache)
	RSSPeak     int64                    // KiB, VmHWM
	RSSAfter    int64                    // KiB, right after ingest
	RSSSteady   int64                    // KiB, after the reads and a pause
	DBSize      int64                    // bytes; 0 when in memory
}

// run is one measured configuration.
type run struct {
	Who string // "understage" or "backstage"
	DB  string // memory, file, pg
	N   int
	F   *figures
}

var facetFields = []string{"kind", "spec.type", "metadata.tags", "relations.ownedBy"}

const byQueryFirst = "/api/catalog/entities/by-query?filter=kind=component,spec.type=service&orderField=metadata.name,asc&limit=20"

func main() {
	sizes := flag.String("n", "10000", "entities of the generated organisation; a comma-separated list runs each size")
	bin := flag.String("understage", "bin/understage", "understage binary")
	oracleSrc := flag.String("oracle", "", "oracle harness folder (../shared/oracle); empty = skip")
	oracleMax := flag.Int("oracle-max", 10000, "largest size the oracle is measured at (it takes minutes per 10,000)")
	runs := flag.Int("runs", 50, "requests per latency figure")
	dbModes := flag.String("db", "file", "understage's databases, comma-separated: file (a SQLite file, the default setup), memory (':memory:', as the oracle runs; only at sizes the oracle is measured at), pg (PostgreSQL at -pg)")
	pgURL := flag.String("pg", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "PostgreSQL server for -db pg")
	out := flag.String("out", "", "also write the results as markdown to this file")
	tasks := flag.Int("tasks", 0, "scaffolder tasks of a ten-file template to run; 0 = skip the figure")
	catalogFigures := flag.Bool("catalog", true, "measure the catalog figures (false: only -tasks)")
	genDir := flag.String("gen", "", "only write the organisation of -n entities into this folder (its root is org.yaml) and exit")
	attach := flag.String("attach", "", "measure the reads of an understage already serving a generated organisation of -n entities at this base URL (process -pid), and exit")
	pid := flag.Int("pid", 0, "the process measured with -attach, for its memory")
	soakFor := flag.Duration("soak", 0, "instead of the figures: ingest -n entities on the first -db, then keep it refreshing (every -soak-interval) and reading for this long, sampling resident memory")
	soakInterval := flag.String("soak-interval", "PT2M", "catalog.processingInterval during -soak")
	flag.Parse()
	log.SetFlags(0)
	if *soakFor > 0 {
		n, err := strconv.Atoi(*sizes)
		if err != nil {
			log.Fatalf("-soak takes one size: %v", err)
		}
		md, err := soak(*bin, n, strings.Split(*dbModes, ",")[0], *pgURL, *soakInterval, *soakFor)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(md)
		if *out != "" {
			if err := os.WriteFile(*out, []byte(md), 0o644); err != nil {
				log.Fatal(err)
			}
		}
		return
	}
	if *attach != "" {
		n, err := strconv.Atoi(*sizes)
		if err != nil {
			log.Fatalf("-attach takes one size: %v", err)
		}
		f, err := measure(*attach, *pid, time.Now(), n, *runs)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Print(reportMarkdown([]run{{Who: "understage", DB: "attached", N: n, F: f}}))
		return
	}
	if *genDir != "" {
		n, err := strconv.Atoi(*sizes)
		if err != nil {
			log.Fatalf("-gen takes one size: %v", err)
		}
		if err := os.MkdirAll(*genDir, 0o755); err != nil {
			log.Fatal(err)
		}
		root, _, o, err := orggen.Write(*genDir, n)
		if err != nil {
			log.Fatal(err)
		}
		log.Printf("benchcmp: %s: %d entities (%+v)", root, o.Total(), o)
		return
	}

	work, err := os.MkdirTemp("", "understage-bench-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	var md strings.Builder
	if *catalogFigures {
		var results []run
		for _, s := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 100 {
				log.Fatalf("-n: %q is not a size of at least 100", s)
			}
			results = append(results, benchCatalog(work, n, *bin, *pgURL, strings.Split(*dbModes, ","), *runs, *oracleSrc, n <= *oracleMax)...)
		}
		md.WriteString(reportMarkdown(results))
	}
	fmt.Print(md.String())
	if *out != "" && md.Len() > 0 {
		if err := os.WriteFile(*out, []byte(md.String()), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("benchcmp: results written to %s", *out)
	}
	if *tasks > 0 {
		benchTasks(work, *tasks, *bin, *oracleSrc)
	}
}

// benchCatalog generates an organisation of n entities and measures
// understage on each database, then the oracle.
func benchCatalog(work string, n int, bin, pgURL string, dbModes []string, runs int, oracleSrc string, withOracle bool) []run {
	dir := filepath.Join(work, fmt.Sprintf("org-%d", n))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		log.Fatal(err)
	}
	_, parts, o, err := orggen.Write(dir, n)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("benchcmp: organisation of %d entities (%+v)", o.Total(), o)
	var out []run
	for _, db := range dbModes {
		db = strings.TrimSpace(db)
		if db == "memory" && !withOracle {
			continue // in-memory SQLite is measured as the oracle runs, beside it
		}
		log.Printf("benchcmp: understage, %d entities, %s", n, db)
		f, err := benchUnderstage(bin, work, parts, o.Total(), runs, db, pgURL)
		if err != nil {
			log.Fatalf("understage (%s, %d): %v", db, n, err)
		}
		out = append(out, run{Who: "understage", DB: db, N: n, F: f})
	}
	if oracleSrc != "" && withOracle {
		log.Printf("benchcmp: backstage, %d entities, memory", n)
		f, err := benchOracle(oracleSrc, parts, o.Total(), runs)
		if err != nil {
			log.Printf("oracle: %v (reporting understage alone)", err)
		} else {
			out = append(out, run{Who: "backstage", DB: "memory", N: n, F: f})
		}
	}
	return out
}
func benchTasks(work string, n int, bin, oracleSrc string) {
	us, err := benchTasksUnderstage(bin, work, n)
	if err != nil {
		log.Fatalf("understage tasks: %v", err)
	}
	var or *taskResult
	if oracleSrc != "" {
		r, err := benchTasksOracle(oracleSrc, work, n)
		if err != nil {
			log.Printf("oracle tasks: %v (reporting understage alone)", err)
		} else {
			or = r
		}
	}
	reportTasks(us, or)
}

func freePort() int {
	for p := 7301; p < 7400; p++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), 200*time.Millisecond)
		if err != nil {
			return p
		}
		c.Close()
	}
	return 7399
}

// benchUnderstage starts understage with each part file of the
// organisation as a configured location and measures it.
func benchUnderstage(bin, work string, parts []string, n, runs int, dbMode, pgURL string) (*figures, error) {
	u, err := startUnderstage(bin, work, parts, n, dbMode, pgURL, "PT10M")
	if err != nil {
		return nil, err
	}
	defer u.stop()
	f, err := measure(u.base, u.pid, u.start, n, runs)
	if err != nil {
		return nil, err
	}
	f.DBSize = u.dbSize()
	return f, nil
}

// understage is a running understage process of the benchmark.
type understage struct {
	base   string
	pid    int
	start  time.Time
	stop   func()
	dbSize func() int64
}

// startUnderstage starts understage on dbMode with each part file of the
// organisation as a configured location, refreshed every interval (an
// ISO 8601 duration).
func startUnderstage(bin, work string, parts []string, n int, dbMode, pgURL, interval string) (*understage, error) {
	port := freePort()
	var db string
	sqliteFile := filepath.Join(work, fmt.Sprintf("catalog-%d.sqlite", n))
	prefix := fmt.Sprintf("benchcmp_%d_%d_", os.Getpid(), n)
	cleanup := func() {}
	switch dbMode {
	case "memory":
		db = "{client: better-sqlite3, connection: ':memory:'}"
	case "file":
		_ = os.Remove(sqliteFile)
		db = fmt.Sprintf("{client: better-sqlite3, connection: %q}", sqliteFile)
	case "pg":
		db = fmt.Sprintf("{client: pg, connection: %q, prefix: %s}", pgURL, prefix)
		cleanup = func() { dropPG(pgURL, prefix) }
	default:
		return nil, fmt.Errorf("unknown -db %q", dbMode)
	}
	cfg := filepath.Join(work, "bench-config.yaml")
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: %s
catalog:
  processingInterval: %s
  allowedLocationTypes: [url, file]
  rules: [{allow: [Component, System, API, Resource, Location, Template, Group, User, Domain]}]
  locations:
%s`, port, port, db, interval, locationsYAML(parts))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		cleanup()
		return nil, err
	}
	return &understage{
		base:  fmt.Sprintf("http://127.0.0.1:%d", port),
		pid:   cmd.Process.Pid,
		start: start,
		stop: func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_, _ = cmd.Process.Wait()
			cleanup()
		},
		dbSize: func() int64 {
			var size int64
			switch dbMode {
			case "file":
				for _, suffix := range []string{"", "-wal"} {
					if st, err := os.Stat(sqliteFile + suffix); err == nil {
						size += st.Size()
					}
				}
			case "pg":
				size = pgSize(pgURL, prefix+"catalog")
			}
			return size
		},
	}, nil
}

func locationsYAML(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		fmt.Fprintf(&b, "    - {type: file, target: %q}\n", p)
	}
	return b.String()
}

func pgSize(url, dbName string) int64 {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int64
	_ = db.QueryRow("SELECT pg_database_size($1)", dbName).Scan(&n)
	return n
}

// dropPG drops the databases a PostgreSQL run created (one per plugin).
func dropPG(url, prefix string) {
	db, err := sql.Open("pgx", url)
	if err != nil {
		return
	}
	defer db.Close()
	rows, err := db.Query("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", prefix)
	if err != nil {
		return
	}
	var names []string
	for rows.Next() {
		var s string
		if rows.Scan(&s) == nil {
			names = append(names, s)
		}
	}
	rows.Close()
	for _, s := range names {
		if _, err := db.Exec(`DROP DATABASE "` + s + `" WITH (FORCE)`); err != nil {
			log.Printf("benchcmp: drop %s: %v", s, err)
		}
	}
}

// benchOracle starts the oracle, registers each part file of the
// organisation as a location and measures it.
func benchOracle(src string, parts []string, n, runs int) (*figures, error) {
	home, err := os.MkdirTemp("", "oracle-bench-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	// Reuse an installed oracle copy's node_modules when there is one.
	cache := filepath.Join(os.Getenv("HOME"), ".cache", "understage-harness", "oracle")
	if _, err := os.Stat(filepath.Join(cache, "node_modules")); err == nil {
		_ = os.Symlink(filepath.Join(cache, "node_modules"), filepath.Join(home, "node_modules"))
		_ = os.Symlink(filepath.Join(cache, ".node"), filepath.Join(home, ".node"))
	}
	port := freePort()
	env := append(os.Environ(), "ORACLE_HOME="+home, "ORACLE_PORT="+strconv.Itoa(port), "ORACLE_PROCESSING_INTERVAL=PT10M")
	start := exec.Command("bash", filepath.Join(src, "start.sh"))
	start.Env, start.Stdout, start.Stderr = env, os.Stderr, os.Stderr
	if err := start.Run(); err != nil {
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	stop := func() {
		c := exec.Command("bash", filepath.Join(src, "stop.sh"))
		c.Env, c.Stdout, c.Stderr = env, io.Discard, io.Discard
		_ = c.Run()
	}
	defer stop()
	pidb, err := os.ReadFile(filepath.Join(home, "oracle.pid"))
	if err != nil {
		return nil, err
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(pidb)))
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	// The oracle's fixtures are already in; register the generated organisation.
	t0 := time.Now()
	for _, part := range parts {
		body := fmt.Sprintf(`{"type":"file","target":%q}`, part)
		resp, err := http.Post(base+"/api/catalog/locations", "application/json", strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			return nil, fmt.Errorf("register location %s: %s", part, resp.Status)
		}
	}
	return measure(base, pid, t0, n, runs)
}

func measure(base string, pid int, start time.Time, n, runs int) (*figures, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	countURL := base + "/api/catalog/entities/by-query?filter=metadata.tags=gen&limit=0"
	f := &figures{Facets: map[string]time.Duration{}, FacetsFirst: map[string]time.Duration{}}
	last, lastLog := -1, time.Now()
	var work workWatch
	for {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ingest did not finish (%d of %d): %w", last, n, ctx.Err())
		}
		var page struct {
			TotalItems int `json:"totalItems"`
		}
		asked := time.Now()
		work.poll(base, pid)
		if err := getJSON(countURL, &page); err == nil {
			// Understage's end is read off its counters (workWatch); the
			// oracle's, which has none, off every relation pair, whose
			// facets are small at the sizes it is measured at.
			if page.TotalItems >= n {
				if work.seen && relationsComplete(base, relationPairs[:3]) {
					if w, ok := work.idleSince(); ok {
						f.Ingest, f.IngestCPU = w.at.Sub(start), w.cpu
						break
					}
				} else if !work.seen && relationsComplete(base, relationPairs) {
					f.Ingest = time.Since(start)
					f.IngestCPU = cpuTime(pid)
					break
				}
			}
			last = page.TotalItems
		}
		if time.Since(lastLog) > 30*time.Second {
			log.Printf("benchcmp: %d of %d entities after %s", last, n, time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
		time.Sleep(probePause(time.Since(asked)))
	}
	f.RSSAfter, _ = rss(pid)
	// Let the last relations stitch before reading.
	time.Sleep(5 * time.Second)
	settle(base, 5*time.Minute)
	for _, facet := range facetFields {
		t := time.Now()
		if err := getJSON(base+"/api/catalog/entity-facets?facet="+facet, new(json.RawMessage)); err != nil {
			return nil, err
		}
		f.FacetsFirst[facet] = time.Since(t)
	}
	t := time.Now()
	if err := getJSON(base+byQueryFirst, new(json.RawMessage)); err != nil {
		return nil, err
	}
	f.ByQueryCold = time.Since(t)
	f.ByQuery, f.ByQueryP90 = latency(base+byQueryFirst, runs)
	deep, err := deepCursor(base)
	if err != nil {
		return nil, err
	}
	f.DeepPage, _ = latency(base+"/api/catalog/entities/by-query?limit=20&cursor="+deep, runs)
	f.EntitiesGet, _ = latency(base+"/api/catalog/entities?filter=kind=component,spec.type=service&limit=20", runs)
	refs := make([]string, 100)
	o := orggen.New(n)
	for i := range refs {
		refs[i] = "component:default/" + orggen.ComponentName((i*7919)%o.Components)
	}
	body, _ := json.Marshal(map[string]any{"entityRefs": refs})
	f.ByRefs, _ = latencyPost(base+"/api/catalog/entities/by-refs", body, runs)
	for _, facet := range facetFields {
		f.Facets[facet], _ = latency(base+"/api/catalog/entity-facets?facet="+facet, runs)
	}
	f.Register, _ = registerLatency(base)
	time.Sleep(5 * time.Second)
	f.RSSSteady, f.RSSPeak = rss(pid)
	return f, nil
}

// relationPairs are relation types and their inverses that the generated
// organisation's entities emit (the first on the entity that declares it,
// the second on its target, which exists).
// The first three (owners, members, parts) are a cheap sign that an ingest
// is nearly done: their facets have few values.
var relationPairs = [][2]string{
	{"relations.ownedBy", "relations.ownerOf"}, {"relations.memberOf", "relations.hasMember"}, {"relations.partOf", "relations.hasPart"},
	{"relations.providesApi", "relations.apiProvidedBy"}, {"relations.consumesApi", "relations.apiConsumedBy"}, {"relations.dependsOn", "relations.dependencyOf"},
}

// relationsComplete reports whether every relation of pairs is on
// both of its entities: an ingest is full when the targets of relations
// (teams, systems) carry them too, which both backends may stitch after the
// entity that declares them is served.
func relationsComplete(base string, pairs [][2]string) bool {
	u := base + "/api/catalog/entity-facets?"
	for _, p := range pairs {
		u += "facet=" + p[0] + "&facet=" + p[1] + "&"
	}
	var res struct {
		Facets map[string][]struct {
			Count int `json:"count"`
		} `json:"facets"`
	}
	if err := getJSON(u, &res); err != nil {
		return false
	}
	sum := func(facet string) int {
		n := 0
		for _, c := range res.Facets[facet] {
			n += c.Count
		}
		return n
	}
	for _, p := range pairs {
		if n := sum(p[0]); n == 0 || n != sum(p[1]) {
			return false
		}
	}
	return true
}

// settle waits, up to limit, until the server's /metrics shows no entity
// due for processing and none waiting to be stitched, so that the reads
// measure a settled catalog rather than one whose last restitching writes
// still empty its caches. A server without these gauges (the oracle) is
// not waited for.
func settle(base string, limit time.Duration) {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Second) {
		if !workPending(base) {
			return
		}
	}
	log.Printf("benchcmp: %s still had work pending after %s; measuring anyway", base, limit)
}

// workPending reports whether the server's /metrics shows entities due for
// processing or waiting to be stitched; false for a server without these
// gauges (the oracle).
func workPending(base string) bool {
	m, ok := scrape(base)
	if !ok {
		return false
	}
	pending, ok := queued(m)
	return ok && pending
}

// queued reads the queue gauges of a scrape: whether either holds work,
// and whether the server publishes both.
func queued(m metricstest.Families) (pending, ok bool) {
	q1, ok1 := m.Value("catalog_processing_queue_length", nil)
	q2, ok2 := m.Value("catalog_stitching_queue_length", nil)
	return q1 != 0 || q2 != 0, ok1 && ok2
}

// scrape reads the server's /metrics; false when it has none.
func scrape(base string) (metricstest.Families, bool) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, false
	}
	m, err := metricstest.Parse(resp.Body)
	return m, err == nil
}

// workWatch finds when understage's ingest really ended. Its queue gauges
// are read from the database at most every statsCacheFor (so they may be
// that old), but its counters of processed and stitched entities move with
// each write: the ingest ended at the last poll that saw a counter move,
// once the gauges show nothing left and the counters have stood still for
// longer than the gauges' age. This takes in the last restitching (APIs,
// resources, depended-on components), which the relations checked by
// relationsComplete do not show.
type workWatch struct {
	// quiet is how long the counters must stand still; 0 means
	// statsCacheFor and a second.
	quiet   time.Duration
	seen    bool // the server publishes the counters and gauges
	counted float64
	last    workMark
	pending bool // the last scrape's gauges showed work left
}

type workMark struct {
	at  time.Time
	cpu time.Duration
}

// statsCacheFor is how long understage keeps its queue gauges (metrics.NewCatalog).
const statsCacheFor = 5 * time.Second

func (w *workWatch) poll(base string, pid int) {
	m, ok := scrape(base)
	if !ok {
		return
	}
	c1, ok1 := m.Value("catalog_processed_entities_count_total", nil)
	c2, ok2 := m.Value("catalog_stitched_entities_count_total", nil)
	pending, ok3 := queued(m)
	if !ok1 || !ok2 || !ok3 {
		return
	}
	if !w.seen || c1+c2 != w.counted {
		w.last = workMark{at: time.Now(), cpu: cpuTime(pid)}
	}
	w.seen, w.counted, w.pending = true, c1+c2, pending
}

// idleSince returns when the work ended, once the last poll shows it has.
func (w *workWatch) idleSince() (workMark, bool) {
	quiet := w.quiet
	if quiet <= 0 {
		quiet = statsCacheFor + time.Second
	}
	if !w.seen || w.pending || time.Since(w.last.at) <= quiet {
		return workMark{}, false
	}
	return w.last, true
}

// probePause is how long to wait before asking again whether the ingest
// is done, after a count that took took: counting every match is itself
// work for the server measured, so the probe keeps to a fifth of the time
// (and at least 100 ms between asks).
func probePause(took time.Duration) time.Duration {
	return max(100*time.Millisecond, 4*took)
}

// deepCursor returns the cursor of the first filtered, ordered listing's
// page half-way down.
func deepCursor(base string) (string, error) {
	var first struct {
		TotalItems int `json:"totalItems"`
	}
	if err := getJSON(base+byQueryFirst, &first); err != nil {
		return "", err
	}
	var page struct {
		PageInfo struct {
			NextCursor string `json:"nextCursor"`
		} `json:"pageInfo"`
	}
	if err := getJSON(fmt.Sprintf("%s%s&offset=%d", base, byQueryFirst, first.TotalItems/2), &page); err != nil {
		return "", err
	}
	if page.PageInfo.NextCursor == "" {
		return "", fmt.Errorf("no cursor half-way down %d items", first.TotalItems)
	}
	return page.PageInfo.NextCursor, nil
}

// registerLatency registers a new one-component file location and times
// how long until the component is served by name (median of 5).
func registerLatency(base string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "benchcmp-register-*")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	var ds []time.Duration
	for i := 0; i < 5; i++ {
		name := fmt.Sprintf("registered-%d-%d", time.Now().UnixNano(), i)
		file := filepath.Join(dir, name+".yaml")
		body := fmt.Sprintf("apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: %s\nspec: {type: service, lifecycle: production, owner: team-1}\n", name)
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			return 0, err
		}
		t0 := time.Now()
		resp, err := http.Post(base+"/api/catalog/locations", "application/json", strings.NewReader(fmt.Sprintf(`{"type":"file","target":%q}`, file)))
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			return 0, fmt.Errorf("register: %s", resp.Status)
		}
		for time.Since(t0) < 2*time.Minute {
			r, err := http.Get(base + "/api/catalog/entities/by-name/component/default/" + name)
			if err == nil {
				r.Body.Close()
				if r.StatusCode == 200 {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		ds = append(ds, time.Since(t0))
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], nil
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// latency returns the median and 90th percentile of runs GETs after one warm-up.
func latency(url string, runs int) (time.Duration, time.Duration) {
	return timed(runs, func() (*http.Response, error) { return http.Get(url) })
}

// latencyPost is latency for a POST of a JSON body.
func latencyPost(url string, body []byte, runs int) (time.Duration, time.Duration) {
	return timed(runs, func() (*http.Response, error) {
		return http.Post(url, "application/json", bytes.NewReader(body))
	})
}

func timed(runs int, do func() (*http.Response, error)) (time.Duration, time.Duration) {
	fetch := func() time.Duration {
		t := time.Now()
		resp, err := do()
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			log.Printf("benchcmp: %s %s: %s", resp.Request.Method, resp.Request.URL, resp.Status)
		}
		return time.Since(t)
	}
	fetch()
	ds := make([]time.Duration, runs)
	for i := range ds {
		ds[i] = fetch()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[len(ds)/2], ds[len(ds)*9/10]
}

// cpuTime reads the user and system CPU time pid has used so far: unlike
// wall time it does not grow when other processes load the machine.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields count from after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	// Linux reports clock ticks of USER_HZ, 100 per second on every
	// platform Go supports.
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// rss reads VmRSS and VmHWM of pid, in KiB.
func rss(pid int) (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			cur = v
		case "VmHWM:":
			peak = v
		}
	}
	return cur, peak
}

// machine describes the host: CPU model, cores, memory, kernel.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			kib, _ := strconv.ParseInt(f[1], 10, 64)
			mem = fmt.Sprintf(", %.0f GiB", float64(kib)/(1<<20))
		}
	}
	kernel := ""
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = ", Linux " + strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("%s, %d cores%s%s", cpu, runtime.NumCPU(), mem, kernel)
}

// reportMarkdown writes every run as a column, then the ratios against
// the oracle at the same size (understage on the oracle's in-memory
// SQLite where measured) and the growth of each database from the smallest
// to each larger size.
func reportMarkdown(runs []run) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Catalog benchmark\n\n- machine: %s\n- command: `%s`\n- date: %s\n- catalog: a generated organisation (groups in a hierarchy, users, domains, systems, components, APIs, resources; owners, members, dependencies, provided and consumed APIs)\n\n",
		machine(), strings.Join(os.Args, " "), time.Now().UTC().Format(time.RFC3339))
	type col struct {
		name string
		val  func(r int) string
	}
	ms := func(d time.Duration) string {
		if d <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
	}
	rows := []struct {
		name string
		get  func(f *figures) float64
		fmt  func(v float64) string
	}{
		{"full ingest", func(f *figures) float64 { return f.Ingest.Seconds() }, func(v float64) string { return fmt.Sprintf("%.1f s", v) }},
		{"full ingest, CPU (user+system)", func(f *figures) float64 { return f.IngestCPU.Seconds() }, func(v float64) string { return fmt.Sprintf("%.1f s", v) }},
		{"POST /locations to queryable", func(f *figures) float64 { return float64(f.Register) }, func(v float64) string { return ms(time.Duration(v)) }},
		{"by-query first page, first", func(f *figures) float64 { return float64(f.ByQueryCold) }, func(v float64) string { return ms(time.Duration(v)) }},
		{"by-query first page, median", func(f *figures) float64 { return float64(f.ByQuery) }, func(v float64) string { return ms(time.Duration(v)) }},
		{"by-query first page, p90", func(f *figures) float64 { return float64(f.ByQueryP90) }, func(v float64) string { return ms(time.Duration(v)) }},
		{"by-query deep cursor page, median", func(f *figures) float64 { return float64(f.DeepPage) }, func(v float64) string { return ms(time.Duration(v)) }},
		{"GET /entities with a filter, median", func(f *figures) float64 { return float64(f.EntitiesGet) }, func(v float64) string { return ms(time.Duration(v)) }},
		{"by-refs of 100, median", func(f *figures) float64 { return float64(f.ByRefs) }, func(v float64) string { return ms(time.Duration(v)) }},
	}
	for _, facet := range facetFields {
		facet := facet
		rows = append(rows,
			struct {
				name string
				get  func(f *figures) float64
				fmt  func(v float64) string
			}{"facet " + facet + ", first", func(f *figures) float64 { return float64(f.FacetsFirst[facet]) }, func(v float64) string { return ms(time.Duration(v)) }},
			struct {
				name string
				get  func(f *figures) float64
				fmt  func(v float64) string
			}{"facet " + facet + ", median", func(f *figures) float64 { return float64(f.Facets[facet]) }, func(v float64) string { return ms(time.Duration(v)) }})
	}
	mib := func(v float64) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f MiB", v/1024)
	}
	rows = append(rows,
		struct {
			name string
			get  func(f *figures) float64
			fmt  func(v float64) string
		}{"resident memory, peak", func(f *figures) float64 { return float64(f.RSSPeak) }, mib},
		struct {
			name string
			get  func(f *figures) float64
			fmt  func(v float64) string
		}{"resident memory, after ingest", func(f *figures) float64 { return float64(f.RSSAfter) }, mib},
		struct {
			name string
			get  func(f *figures) float64
			fmt  func(v float64) string
		}{"resident memory, steady", func(f *figures) float64 { return float64(f.RSSSteady) }, mib},
		struct {
			name string
			get  func(f *figures) float64
			fmt  func(v float64) string
		}{"database size", func(f *figures) float64 { return float64(f.DBSize) }, func(v float64) string {
			if v <= 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f MiB", v/(1<<20))
		}})

	// Columns: each run, then oracle ratios, then growth ratios.
	type derived struct {
		name string
		val  func(get func(*figures) float64) string
	}
	var ders []derived
	find := func(who, db string, n int) *figures {
		for _, r := range runs {
			if r.Who == who && r.DB == db && r.N == n {
				return r.F
			}
		}
		return nil
	}
	ratio := func(a, b float64) string {
		if a <= 0 || b <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.1fx", a/b)
	}
	for _, r := range runs {
		if r.Who != "backstage" {
			continue
		}
		o := r.F
		for _, db := range []string{"memory", "file", "pg"} {
			u := find("understage", db, r.N)
			if u == nil {
				continue
			}
			ders = append(ders, derived{fmt.Sprintf("backstage ÷ understage %s, %d", db, r.N), func(get func(*figures) float64) string { return ratio(get(o), get(u)) }})
		}
	}
	for _, db := range []string{"memory", "file", "pg"} {
		var ns []int
		for _, r := range runs {
			if r.Who == "understage" && r.DB == db {
				ns = append(ns, r.N)
			}
		}
		for _, n := range ns[min(1, len(ns)):] {
			small, big := find("understage", db, ns[0]), find("understage", db, n)
			ders = append(ders, derived{fmt.Sprintf("growth %s %d→%d", db, ns[0], n), func(get func(*figures) float64) string { return ratio(get(big), get(small)) }})
		}
	}
	b.WriteString("| figure |")
	for _, r := range runs {
		fmt.Fprintf(&b, " %s %s %d |", r.Who, r.DB, r.N)
	}
	for _, d := range ders {
		fmt.Fprintf(&b, " %s |", d.name)
	}
	b.WriteString("\n|---|")
	for range len(runs) + len(ders) {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, row := range rows {
		fmt.Fprintf(&b, "| %s |", row.name)
		for _, r := range runs {
			fmt.Fprintf(&b, " %s |", row.fmt(row.get(r.F)))
		}
		for _, d := range ders {
			fmt.Fprintf(&b, " %s |", d.val(row.get))
		}
		b.WriteString("\n")
	}
	b.WriteString("\nRatios: backstage ÷ understage is how many times faster (or smaller) understage is; growth is the larger size's figure ÷ the smallest size's. The full ingest ends when every entity is served and every relation (owner, member, part, API, dependency) is on both of its entities: for understage at its last write, once its /metrics shows nothing due for processing or stitching. The reads start 5 s after it, and for understage only once its /metrics shows nothing due for processing or stitching (the oracle publishes no such gauge). A \"first\" figure is the first request after that; later ones may be answered from understage's cache, which every catalog write invalidates.\n")
	return b.String()
}
