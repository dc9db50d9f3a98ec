package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// taskResult is the scaffolder figure: n tasks of a ten-file template,
// all submitted at once, until the last one completed.
type taskResult struct {
	N      int
	Total  time.Duration
	Failed int
}

func (r *taskResult) throughput() float64 {
	if r == nil || r.Total <= 0 {
		return 0
	}
	return float64(r.N) / r.Total.Seconds()
}

const benchTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: bench-ten-files
  title: Ten files
spec:
  owner: group:default/team-a
  type: service
  parameters:
    - properties:
        name: {type: string}
  steps:
    - id: fetch
      name: Render ten files
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: ${{ parameters.name }}
    - id: log
      name: Log
      action: debug:log
      input:
        message: rendered ${{ parameters.name }}
`

// writeTaskTemplate writes the template and its ten-file skeleton (names
// and contents templated, one folder level) under dir.
func writeTaskTemplate(dir string) (string, error) {
	sk := filepath.Join(dir, "skeleton")
	if err := os.MkdirAll(filepath.Join(sk, "src"), 0o755); err != nil {
		return "", err
	}
	for i := 0; i < 10; i++ {
		name := fmt.Sprintf("file-%d.md", i)
		if i >= 5 {
			name = fmt.Sprintf("src/${{ values.name }}-%d.txt", i)
		}
		body := fmt.Sprintf("# ${{ values.name }} part %d\n\n{%%- for x in [1, 2, 3] %%}\n- item ${{ x }} of ${{ values.name | upper }}\n{%%- endfor %%}\n", i)
		if err := os.WriteFile(filepath.Join(sk, name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	p := filepath.Join(dir, "template.yaml")
	return p, os.WriteFile(p, []byte(benchTemplate), 0o644)
}

// benchTasksUnderstage starts understage with the template as a configured
// location and runs the task figure.
func benchTasksUnderstage(bin, work string, n int) (*taskResult, error) {
	dir := filepath.Join(work, "tasks-understage")
	tmpl, err := writeTaskTemplate(dir)
	if err != nil {
		return nil, err
	}
	port := freePort()
	cfg := filepath.Join(dir, "config.yaml")
	conf := fmt.Sprintf(`backend:
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
`, port, port, filepath.Join(dir, "backstage.sqlite"), filepath.Join(dir, "work"), tmpl)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _, _ = cmd.Process.Wait() }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitTemplate(base); err != nil {
		return nil, err
	}
	return runTasks(base, n)
}

// benchTasksOracle starts a private oracle (as benchOracle does), registers
// the template as a file location and runs the task figure.
func benchTasksOracle(src, work string, n int) (*taskResult, error) {
	dir := filepath.Join(work, "tasks-oracle")
	tmpl, err := writeTaskTemplate(dir)
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp("", "oracle-tasks-*")
	if err != nil {
		return nil, err
	}
	cache := filepath.Join(os.Getenv("HOME"), ".cache", "understage-harness", "oracle")
	if _, err := os.Stat(filepath.Join(cache, "node_modules")); err == nil {
		_ = os.Symlink(filepath.Join(cache, "node_modules"), filepath.Join(home, "node_modules"))
		_ = os.Symlink(filepath.Join(cache, ".node"), filepath.Join(home, ".node"))
	}
	port := freePort()
	env := append(os.Environ(), "ORACLE_HOME="+home, "ORACLE_PORT="+strconv.Itoa(port),
		"ORACLE_PROCESSING_INTERVAL=PT10M", "ORACLE_WORKDIR="+filepath.Join(dir, "work"))
	start := exec.Command("bash", filepath.Join(src, "start.sh"))
	start.Env, start.Stdout, start.Stderr = env, os.Stderr, os.Stderr
	if err := start.Run(); err != nil {
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	defer func() {
		c := exec.Command("bash", filepath.Join(src, "stop.sh"))
		c.Env, c.Stdout, c.Stderr = env, io.Discard, io.Discard
		_ = c.Run()
		_ = os.RemoveAll(home)
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	body := fmt.Sprintf(`{"type":"file","target":%q}`, tmpl)
	resp, err := http.Post(base+"/api/catalog/locations", "application/json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		return nil, fmt.Errorf("register template location: %s", resp.Status)
	}
	if err := waitTemplate(base); err != nil {
		return nil, err
	}
	return runTasks(base, n)
}

func waitTemplate(base string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var e map[string]any
		if err := getJSON(base+"/api/catalog/entities/by-name/template/default/bench-ten-files", &e); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("template never appeared in the catalog: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runTasks submits n tasks through POST /v2/tasks and polls GET /v2/tasks
// until none is open or processing; the clock runs from the first POST.
func runTasks(base string, n int) (*taskResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	ids := make(map[string]bool, n)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		body := fmt.Sprintf(`{"templateRef":"template:default/bench-ten-files","values":{"name":"svc-%d"}}`, i)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/scaffolder/v2/tasks", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		var r struct{ ID string }
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if resp.StatusCode != 201 || err != nil {
			return nil, fmt.Errorf("create task: %s", resp.Status)
		}
		ids[r.ID] = true
	}
	res := &taskResult{N: n}
	for {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tasks did not finish: %w", ctx.Err())
		}
		var list struct {
			Tasks []struct{ ID, Status string } `json:"tasks"`
		}
		if err := getJSON(base+"/api/scaffolder/v2/tasks?limit="+strconv.Itoa(n+100), &list); err != nil {
			return nil, err
		}
		done, failed := 0, 0
		for _, t := range list.Tasks {
			if !ids[t.ID] {
				continue
			}
			switch t.Status {
			case "completed":
				done++
			case "failed", "cancelled":
				done++
				failed++
			}
		}
		if done == n {
			res.Total = time.Since(t0)
			res.Failed = failed
			return res, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func reportTasks(us, or *taskResult) {
	fmt.Printf("\nbenchcmp: %d scaffolder tasks of a ten-file template (fetch:template + debug:log), submitted at once\n", us.N)
	fmt.Printf("%-34s %14s %14s %10s\n", "figure", "understage", "oracle", "ratio")
	row := func(name string, u, o float64, unit string, higherIsBetter bool) {
		ostr, ratio := "-", "-"
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
	o := or
	if o == nil {
		o = &taskResult{}
	}
	row(fmt.Sprintf("%d tasks, total (s)", us.N), us.Total.Seconds(), o.Total.Seconds(), "s", false)
	row("throughput (tasks/s)", us.throughput(), o.throughput(), "/s", true)
	if us.Failed > 0 || o.Failed > 0 {
		fmt.Printf("failed tasks: understage %d, oracle %d\n", us.Failed, o.Failed)
	}
	fmt.Println("ratio = how many times better understage is")
}
