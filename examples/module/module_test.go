package examplemodule_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/examples/module"
	"github.com/understage/understage/plugins/backend/config"
)

// TestExampleModule adds the example modules to the real backend with one
// argument each, runs it, and uses both: the provider's entity appears in
// the catalog, and a dry run of a template with example:greet writes the
// greeting into the workspace.
func TestExampleModule(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cfg, err := config.LoadBytes(fmt.Appendf(nil, `backend:
  baseUrl: http://127.0.0.1:%d
  listen: {host: 127.0.0.1, port: %d}
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: ':memory:'}
  workingDirectory: %q
`, port, port, t.TempDir()), "app-config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler), examplemodule.CatalogModule, examplemodule.ScaffolderModule)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d/api", port)

	// poll retries get until it answers 200; the deadline only stops a hung test.
	poll := func(path string) []byte {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for {
			resp, err := http.Get(base + path)
			if err == nil {
				var body json.RawMessage
				derr := json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode == 200 && derr == nil {
					return body
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s never answered 200", path)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	entity := poll("/catalog/entities/by-name/component/default/example-greeter")
	if !strings.Contains(string(entity), `"lifecycle":"experimental"`) {
		t.Errorf("provider's entity: %s", entity)
	}
	if actions := poll("/scaffolder/v2/actions"); !strings.Contains(string(actions), `"id":"example:greet"`) {
		t.Errorf("example:greet is not listed: %.300s", actions)
	}

	req := `{"template":{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"greet"},
  "spec":{"type":"demo","steps":[{"id":"greet","name":"Greet","action":"example:greet","input":{"name":"${{ parameters.who }}"}}],
  "output":{"text":[{"title":"Greeting","content":"${{ steps.greet.output.greeting }}"}]}}},
 "values":{"who":"newcomer"},"directoryContents":[]}`
	resp, err := http.Post(base+"/scaffolder/v2/dry-run", "application/json", strings.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var res struct {
		DirectoryContents []struct{ Path, Base64Content string }
		Output            json.RawMessage
	}
	if err := json.Unmarshal(raw, &res); err != nil || resp.StatusCode != 200 {
		t.Fatalf("dry run: %d %v %s", resp.StatusCode, err, raw)
	}
	var got string
	for _, f := range res.DirectoryContents {
		if f.Path == "greeting.txt" {
			b, _ := base64.StdEncoding.DecodeString(f.Base64Content)
			got = string(b)
		}
	}
	if got != "Hello, newcomer!\n" || !strings.Contains(string(res.Output), "Hello, newcomer!") {
		t.Errorf("greeting.txt = %q, output %s", got, res.Output)
	}
}
