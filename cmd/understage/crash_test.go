package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKillDuringIngest kills the real binary with SIGKILL while it ingests a
// 20,000-entity location, starts it again on the same SQLite file, and
// checks that the catalog converges to exactly the entities of the file:
// none lost, none duplicated.
func TestKillDuringIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	const n = 20000
	dir := t.TempDir()
	bin := filepath.Join(dir, "understage")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}

	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: crash-%05d\n  tags: [crash]\nspec: {type: service, lifecycle: production, owner: team-%d}\n", i, i%10)
	}
	file := filepath.Join(dir, "components.yaml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
catalog:
  processingInterval: PT10M
  locations:
    - {type: file, target: %q}
`, port, port, filepath.Join(dir, "catalog.sqlite"), file)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/api/catalog", port)
	count := func() int {
		resp, err := http.Get(base + "/entities/by-query?limit=0&filter=kind=component,metadata.tags=crash")
		if err != nil {
			return -1
		}
		defer resp.Body.Close()
		var page struct{ TotalItems int }
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&page) != nil {
			return -1
		}
		return page.TotalItems
	}
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", cfg, "--log-level", "error")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	first := start()
	killedAt := -1
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		// Kill once a good part is in: some batches written, more in flight.
		if c := count(); c >= n/4 && c < n {
			killedAt = c
			break
		} else if c == n {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = first.Process.Wait()
	if killedAt < 0 {
		t.Fatalf("never caught the ingest in the middle (count %d)", count())
	}
	t.Logf("killed with %d of %d components ingested", killedAt, n)

	second := start()
	defer func() {
		_ = second.Process.Signal(syscall.SIGTERM)
		_, _ = second.Process.Wait()
	}()
	deadline = time.Now().Add(3 * time.Minute)
	for count() != n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if c := count(); c != n {
		t.Fatalf("after restart the catalog has %d components, want %d", c, n)
	}
	// Every name exactly once.
	resp, err := http.Get(base + "/entities?filter=kind=component,metadata.tags=crash&fields=metadata.name")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list []struct{ Metadata struct{ Name string } }
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range list {
		if seen[e.Metadata.Name] {
			t.Fatalf("%s listed twice", e.Metadata.Name)
		}
		seen[e.Metadata.Name] = true
	}
	for i := 0; i < n; i++ {
		if name := fmt.Sprintf("crash-%05d", i); !seen[name] {
			t.Fatalf("%s missing after restart", name)
		}
	}
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
