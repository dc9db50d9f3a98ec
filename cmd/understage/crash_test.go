package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	bin := buildUnderstage(t)

	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: crash-%05d\n  tags: [crash]\nspec: {type: service, lifecycle: production, owner: team-%d}\n", i, i%10)
	}
	file := filepath.Join(dir, "components.yaml")
	writeFile(t, file, b.String())
	port := freePort(t)
	cfg := filepath.Join(dir, "app-config.yaml")
	writeFile(t, cfg, fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
catalog:
  processingInterval: PT10M
  locations:
    - {type: file, target: %q}
`, port, port, filepath.Join(dir, "catalog.sqlite"), file))
	srv := &replica{name: "understage", base: fmt.Sprintf("http://127.0.0.1:%d", port)}
	count := func() int { return srv.totalItems("kind=component,metadata.tags=crash") }

	srv.cmd = startServe(t, bin, cfg, "error", os.Stderr)
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
	srv.kill(t)
	if killedAt < 0 {
		t.Fatalf("never caught the ingest in the middle (count %d)", count())
	}
	t.Logf("killed with %d of %d components ingested", killedAt, n)

	srv.cmd = startServe(t, bin, cfg, "error", os.Stderr)
	defer srv.stop()
	if !eventually(3*time.Minute, func() bool { return count() == n }) {
		t.Fatalf("after restart the catalog has %d components, want %d", count(), n)
	}
	// Every name exactly once.
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("crash-%05d", i)
	}
	srv.namesExactlyOnce(t, "kind=component,metadata.tags=crash", names)
}
