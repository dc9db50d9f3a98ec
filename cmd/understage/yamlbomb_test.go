package main

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
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
	bin := buildUnderstage(t)

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
	writeFile(t, good, component("file-good", ""))
	writeFile(t, later, component("file-later", ""))
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`backend:
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
`, port, port, filepath.Join(dir, "catalog.sqlite"), strings.TrimPrefix(srv.URL, "http://"), good, later))
	us := &replica{name: "understage", base: fmt.Sprintf("http://127.0.0.1:%d", port)}

	type entity struct {
		Status struct {
			Items []struct{ Message string }
		}
	}
	get := func(ref string) (entity, int) {
		var e entity
		kind, name, _ := strings.Cut(ref, ":default/")
		code := us.try("/api/catalog/entities/by-name/"+kind+"/default/"+name, &e)
		return e, code
	}
	post := func(path, body string) {
		t.Helper()
		if s, _ := us.do(t, "POST", "/api/catalog"+path, body); s >= 300 {
			t.Fatalf("POST %s: %d", path, s)
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
	// alive checks the process still runs and peaked below 512 MB.
	alive := func() {
		t.Helper()
		if err := us.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Fatalf("the process died: %v", err)
		}
		if peak := peakRSS(t, us.cmd.Process.Pid); peak > 512<<20 {
			t.Errorf("the process peaked at %d MB", peak>>20)
		}
	}

	laterURL, phURL := srv.URL+"/later.yaml", srv.URL+"/ph.yaml"
	fileErr := "Error: file " + later + " could not be read, ReferenceError: Excessive alias count indicates a resource exhaustion attack"
	urlErr := "Error: Unable to read url, Excessive alias count indicates a resource exhaustion attack"
	phErr := "InputError: Processor PlaceholderProcessor threw an error while preprocessing; caused by ReferenceError: Excessive alias count indicates a resource exhaustion attack"

	us.cmd = startServe(t, bin, cfg, "error", os.Stderr)
	defer us.stop()
	pollFor(t, "the file locations", served200("component:default/file-good", "component:default/file-later"))
	post("/locations", `{"type":"url","target":"`+laterURL+`"}`)
	post("/locations", `{"type":"url","target":"`+phURL+`"}`)
	post("/locations", `{"type":"url","target":"`+srv.URL+`/bomb.yaml"}`)
	pollFor(t, "the url locations", served200("component:default/url-later", "component:default/url-placeholder"))

	// Every one of them turns into a bomb.
	if err := os.WriteFile(later, []byte(component("file-later", "")+"---\n"+bomb), 0o644); err != nil {
		t.Fatal(err)
	}
	serve("/later.yaml", bomb)
	serve("/phdata.yaml", strings.SplitN(bomb, "spec:\n", 2)[1])
	for _, ref := range []string{generated("file:" + later), generated("url:" + laterURL), "component:default/url-placeholder"} {
		post("/refresh", `{"entityRef":"`+ref+`"}`)
	}
	pollFor(t, "the file location's error", statusIs(generated("file:"+later), fileErr))
	pollFor(t, "the url location's error", statusIs(generated("url:"+laterURL), urlErr))
	pollFor(t, "the placeholder's error", statusIs("component:default/url-placeholder", phErr))
	// As in Backstage, a location that never read well stays invisible.
	if _, code := get(generated("url:" + srv.URL + "/bomb.yaml")); code != 404 {
		t.Errorf("the url location registered as a bomb answers %d, want 404", code)
	}
	if _, code := get("component:default/bomb"); code != 404 {
		t.Errorf("the bomb's entity answers %d, want 404", code)
	}
	pollFor(t, "the last good entities", served200("component:default/file-good", "component:default/file-later", "component:default/url-later"))
	alive()
	us.stop()

	// A restart on the same database reads every bomb again at once.
	us.cmd = startServe(t, bin, cfg, "error", os.Stderr)
	pollFor(t, "the catalog after the restart", served200("component:default/file-good", "component:default/file-later", "component:default/url-later", "component:default/url-placeholder"))
	for _, ref := range []string{generated("file:" + later), generated("url:" + laterURL), generated("url:" + srv.URL + "/bomb.yaml"), "component:default/url-placeholder"} {
		post("/refresh", `{"entityRef":"`+ref+`"}`)
	}
	pollFor(t, "the file location's error after the restart", statusIs(generated("file:"+later), fileErr))
	pollFor(t, "the url location's error after the restart", statusIs(generated("url:"+laterURL), urlErr))
	pollFor(t, "the placeholder's error after the restart", statusIs("component:default/url-placeholder", phErr))
	alive()
}
