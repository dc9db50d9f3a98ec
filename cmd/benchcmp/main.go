// Command benchcmp measures understage against the real Backstage backend
// (the oracle in ../shared/oracle) in the same run, on the same machine and
// the same generated catalog, and prints the figures with their ratios:
// ingest time of N generated Components, by-query and entity-facets
// latency, and resident memory; with -tasks N, also the time and
// throughput of N scaffolder tasks of a ten-file template (tasks.go).
//
//	go run ./cmd/benchcmp -n 10000 -tasks 100 -understage bin/understage -oracle ../shared/oracle
//
// Without -oracle (or when the oracle cannot start) only understage is measured.
package main

import (
	"bufio"
	"context"
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
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type result struct {
	Register    time.Duration // POST /locations of a new file until its entity is served
	Ingest      time.Duration
	ByQuery     time.Duration
	ByQueryP90  time.Duration
	Facets      time.Duration
	EntitiesGet time.Duration
	RSSAfter    int64 // KiB
	RSSPeak     int64 // KiB
	RSSIdle     int64 // KiB
}

func main() {
	n := flag.Int("n", 10000, "number of generated components")
	bin := flag.String("understage", "bin/understage", "understage binary")
	oracleSrc := flag.String("oracle", "", "oracle harness folder (../shared/oracle); empty = skip")
	runs := flag.Int("runs", 50, "requests per latency figure")
	dbMode := flag.String("db", "file", "understage's database: file (a SQLite file, the default setup) or memory (':memory:', as the oracle runs)")
	tasks := flag.Int("tasks", 0, "scaffolder tasks of a ten-file template to run; 0 = skip the figure")
	catalogFigures := flag.Bool("catalog", true, "measure the catalog figures (false: only -tasks)")
	flag.Parse()
	log.SetFlags(0)

	work, err := os.MkdirTemp("", "understage-bench-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)
	if *catalogFigures {
		benchCatalog(work, *n, *bin, *oracleSrc, *runs, *dbMode)
	}
	if *tasks > 0 {
		benchTasks(work, *tasks, *bin, *oracleSrc)
	}
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

func benchCatalog(work string, n int, bin, oracleSrc string, runs int, dbMode string) {
	file := filepath.Join(work, fmt.Sprintf("components-%d.yaml", n))
	if err := writeComponents(file, n); err != nil {
		log.Fatal(err)
	}

	us, err := benchUnderstage(bin, work, file, n, runs, dbMode)
	if err != nil {
		log.Fatalf("understage: %v", err)
	}
	var or *result
	if oracleSrc != "" {
		r, err := benchOracle(oracleSrc, file, n, runs)
		if err != nil {
			log.Printf("oracle: %v (reporting understage alone)", err)
		} else {
			or = r
		}
	}
	report(n, dbMode, us, or)
}

// writeComponents writes n Components spread over owners, types and tags,
// like the oracle's gen.sh.
func writeComponents(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	types := []string{"service", "website", "library"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, `---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: gen-component-%05d
  description: Generated component number %d
  tags: [gen, t%d]
spec:
  type: %s
  lifecycle: production
  owner: team-%d
  system: system-%d
`, i, i, i%10, types[i%3], i%20, i%50)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
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

func benchUnderstage(bin, work, file string, n, runs int, dbMode string) (*result, error) {
	port := freePort()
	db := "{client: better-sqlite3, connection: ':memory:'}"
	if dbMode == "file" {
		db = fmt.Sprintf("{client: better-sqlite3, connection: %q}", filepath.Join(work, "catalog.sqlite"))
	}
	cfg := filepath.Join(work, "bench-config.yaml")
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: %s
catalog:
  processingInterval: PT10M
  allowedLocationTypes: [url, file]
  rules: [{allow: [Component, System, API, Resource, Location, Template, Group, User, Domain]}]
  locations:
    - type: file
      target: %s
`, port, port, db, file)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _, _ = cmd.Process.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	r, err := measure(base, cmd.Process.Pid, start, n, runs)
	return r, err
}

func benchOracle(src, file string, n, runs int) (*result, error) {
	home, err := os.MkdirTemp("", "oracle-bench-*")
	if err != nil {
		return nil, err
	}
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
	// The oracle's fixtures are already in; register the generated file.
	t0 := time.Now()
	body := fmt.Sprintf(`{"type":"file","target":%q}`, file)
	resp, err := http.Post(base+"/api/catalog/locations", "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		return nil, fmt.Errorf("register location: %s", resp.Status)
	}
	return measure(base, pid, t0, n, runs)
}

func measure(base string, pid int, start time.Time, n, runs int) (*result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	countURL := base + "/api/catalog/entities/by-query?filter=kind=component,metadata.tags=gen&limit=0"
	r := &result{}
	for {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("ingest did not finish: %w", ctx.Err())
		}
		var page struct {
			TotalItems int `json:"totalItems"`
		}
		if err := getJSON(countURL, &page); err == nil && page.TotalItems >= n {
			r.Ingest = time.Since(start)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.RSSAfter, r.RSSPeak = rss(pid)
	time.Sleep(3 * time.Second)
	q := base + "/api/catalog/entities/by-query?filter=kind=component,spec.type=service&orderField=metadata.name,asc&limit=20"
	r.ByQuery, r.ByQueryP90 = latency(q, runs)
	r.Facets, _ = latency(base+"/api/catalog/entity-facets?facet=spec.type&filter=kind=component", runs)
	r.EntitiesGet, _ = latency(base+"/api/catalog/entities?filter=kind=component&limit=20", runs)
	r.RSSIdle, _ = rss(pid)
	r.Register, _ = registerLatency(base)
	return r, nil
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
	fetch := func() time.Duration {
		t := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
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

func report(n int, dbMode string, us, or *result) {
	fmt.Printf("benchcmp: %d generated components (understage on %s SQLite, the oracle on in-memory SQLite)\n", n, dbMode)
	fmt.Printf("%-34s %14s %14s %10s\n", "figure", "understage", "oracle", "ratio")
	row := func(name string, u, o float64, unit string, higherIsBetter bool) {
		ostr := "-"
		ratio := "-"
		if or != nil && o > 0 && u > 0 {
			ostr = fmt.Sprintf("%.2f %s", o, unit)
			if higherIsBetter {
				ratio = fmt.Sprintf("%.1fx", u/o)
			} else {
				ratio = fmt.Sprintf("%.1fx", o/u)
			}
		}
		fmt.Printf("%-34s %14s %14s %10s\n", name, fmt.Sprintf("%.2f %s", u, unit), ostr, ratio)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	o := or
	if o == nil {
		o = &result{}
	}
	row("ingest (s)", us.Ingest.Seconds(), o.Ingest.Seconds(), "s", false)
	row("by-query limit 20 median (ms)", ms(us.ByQuery), ms(o.ByQuery), "ms", false)
	row("by-query limit 20 p90 (ms)", ms(us.ByQueryP90), ms(o.ByQueryP90), "ms", false)
	row("entity-facets spec.type median", ms(us.Facets), ms(o.Facets), "ms", false)
	row("GET /entities limit 20 median", ms(us.EntitiesGet), ms(o.EntitiesGet), "ms", false)
	mib := func(k int64) float64 { return float64(k) / 1024 }
	row("POST /locations to served (ms)", ms(us.Register), ms(o.Register), "ms", false)
	row("RSS after ingest (MiB)", mib(us.RSSAfter), mib(o.RSSAfter), "MiB", false)
	row("RSS peak (MiB)", mib(us.RSSPeak), mib(o.RSSPeak), "MiB", false)
	row("RSS idle (MiB)", mib(us.RSSIdle), mib(o.RSSIdle), "MiB", false)
	fmt.Println("ratio = how many times better understage is (oracle/understage)")
}
