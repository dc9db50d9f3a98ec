package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestAliasBombsDoNotStopTheService runs the real binary with locations
// whose files turn into alias bombs (the billion laughs: 608 bytes, 10^9
// strings once expanded, which used to take the process down with "out of
// memory" at every start): a file location and a url location that break
// after their first ingestion, a url location registered as a bomb, and a
// $yaml placeholder whose data becomes a bomb. Each bomb is an error where
// Backstage 1.55 puts it (recorded in plugins/backend/ojson/testdata/yaml and
// checked on the oracle), the last good entities stay served, and the
// process, restarted on the same SQLite file, starts, serves and stays
// small.
func TestAliasBombsDoNotStopTheService(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "understage")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	component := func(name, spec string) string {
		return "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\nspec:\n  type: service\n  owner: me\n  lifecycle: x\n" + spec
	}
	bomb := component("bomb", "  l0: &l0 lol\n")
	for i := 1; i <= 9; i++ {
		bomb += fmt.Sprintf("  l%d: &l%d [%s*l%d]\n", i, i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), i-1)
	}
	// Served over HTTP for url locations and the placeholder.
	var mu sync.Mutex
	served := map[string]string{
		"/later.yaml":  component("url-later", ""),
		"/bomb.yaml":   bomb,
		"/ph.yaml":     component("url-placeholder", "  data:\n    $yaml: ./phdata.yaml\n"),
		"/phdata.yaml": "x: 1\n",
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		body, ok := served[r.URL.Path]
		mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()
	serve := func(path, body string) {
		mu.Lock()
		served[path] = body
		mu.Unlock()
	}

	good := filepath.Join(dir, "good.yaml")
	later := filepath.Join(dir, "later.yaml")
	for path, body := range map[string]string{good: component("file-good", ""), later: component("file-later", "")} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
  reading:
    allow: [{host: %q}]
catalog:
  processingInterval: PT10M
  locations:
    - {type: file, target: %q}
    - {type: file, target: %q}
`, port, port, filepath.Join(dir, "catalog.sqlite"), strings.TrimPrefix(srv.URL, "http://"), good, later)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	api := fmt.Sprintf("http://127.0.0.1:%d/api/catalog", port)

	type entity struct {
		Status struct {
			Items []struct{ Message string }
		}
	}
	get := func(ref string) (entity, int) {
		var e entity
		kind, name, _ := strings.Cut(ref, ":default/")
		resp, err := http.Get(api + "/entities/by-name/" + kind + "/default/" + name)
		if err != nil {
			return e, 0
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return e, resp.StatusCode
	}
	post := func(path, body string) {
		t.Helper()
		resp, err := http.Post(api+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	served200 := func(refs ...string) func() bool {
		return func() bool {
			for _, ref := range refs {
				if _, code := get(ref); code != 200 {
					return false
				}
			}
			return true
		}
	}
	statusIs := func(ref, msg string) func() bool {
		return func() bool {
			e, _ := get(ref)
			return len(e.Status.Items) == 1 && e.Status.Items[0].Message == msg
		}
	}
	generated := func(loc string) string {
		sum := sha1.Sum([]byte(loc))
		return "location:default/generated-" + hex.EncodeToString(sum[:])
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "error")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stop := func(cmd *exec.Cmd) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_, _ = cmd.Process.Wait()
	}
	// alive checks the process still runs and peaked below 512 MB.
	alive := func(cmd *exec.Cmd) {
		t.Helper()
		if err := cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("the process died: %v", err)
		}
		if peak := peakRSS(t, cmd.Process.Pid); peak > 512<<20 {
			t.Errorf("the process peaked at %d MB", peak>>20)
		}
	}

	laterURL, phURL := srv.URL+"/later.yaml", srv.URL+"/ph.yaml"
	fileErr := "Error: file " + later + " could not be read, ReferenceError: Excessive alias count indicates a resource exhaustion attack"
	urlErr := "Error: Unable to read url, Excessive alias count indicates a resource exhaustion attack"
	phErr := "InputError: Processor PlaceholderProcessor threw an error while preprocessing; caused by ReferenceError: Excessive alias count indicates a resource exhaustion attack"

	first := start()
	defer func() { stop(first) }()
	waitFor("the file locations", served200("component:default/file-good", "component:default/file-later"))
	post("/locations", `{"type":"url","target":"`+laterURL+`"}`)
	post("/locations", `{"type":"url","target":"`+phURL+`"}`)
	post("/locations", `{"type":"url","target":"`+srv.URL+`/bomb.yaml"}`)
	waitFor("the url locations", served200("component:default/url-later", "component:default/url-placeholder"))

	// Every one of them turns into a bomb.
	if err := os.WriteFile(later, []byte(component("file-later", "")+"---\n"+bomb), 0o644); err != nil {
		t.Fatal(err)
	}
	serve("/later.yaml", bomb)
	serve("/phdata.yaml", strings.SplitN(bomb, "spec:\n", 2)[1])
	for _, ref := range []string{generated("file:" + later), generated("url:" + laterURL), "component:default/url-placeholder"} {
		post("/refresh", `{"entityRef":"`+ref+`"}`)
	}
	waitFor("the file location's error", statusIs(generated("file:"+later), fileErr))
	waitFor("the url location's error", statusIs(generated("url:"+laterURL), urlErr))
	waitFor("the placeholder's error", statusIs("component:default/url-placeholder", phErr))
	// As in Backstage, a location that never read well stays invisible.
	if _, code := get(generated("url:" + srv.URL + "/bomb.yaml")); code != 404 {
		t.Errorf("the url location registered as a bomb answers %d, want 404", code)
	}
	if _, code := get("component:default/bomb"); code != 404 {
		t.Errorf("the bomb's entity answers %d, want 404", code)
	}
	waitFor("the last good entities", served200("component:default/file-good", "component:default/file-later", "component:default/url-later"))
	alive(first)
	stop(first)

	// A restart on the same database reads every bomb again at once.
	second := start()
	defer func() { stop(second) }()
	waitFor("the catalog after the restart", served200("component:default/file-good", "component:default/file-later", "component:default/url-later", "component:default/url-placeholder"))
	for _, ref := range []string{generated("file:" + later), generated("url:" + laterURL), generated("url:" + srv.URL + "/bomb.yaml"), "component:default/url-placeholder"} {
		post("/refresh", `{"entityRef":"`+ref+`"}`)
	}
	waitFor("the file location's error after the restart", statusIs(generated("file:"+later), fileErr))
	waitFor("the url location's error after the restart", statusIs(generated("url:"+laterURL), urlErr))
	waitFor("the placeholder's error after the restart", statusIs("component:default/url-placeholder", phErr))
	alive(second)
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
