package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/github/githubtest"
)

// analyzeGolden holds the oracle's answers to POST /analyze-location for
// repositories it does not read (Backstage without the GitHub module never
// reads one; with it, a failing read is a 500, which Understage does not
// copy: the page then offers nothing to register).
//
// Recording (the oracle at 7150 as in catalog/conformance):
//
//	UNDERSTAGE_RECORD_ORACLE=http://127.0.0.1:7150 go test ./catalog/httpapi -run TestRecordAnalyzeLocation
const analyzeGolden = "testdata/analyze-location.oracle.json"

// analyzeTargets are the targets the golden file answers.
var analyzeTargets = []string{
	"https://github.com/acme/missing",
	"https://github.com/acme/missing/blob/main/catalog-info.yaml",
	"https://github.com/acme/missing.git",
	"https://github.com/acme/broken",
	"https://github.com/acme/payments",
	"https://github.com/onlyowner",
	"https://github.com/scm/proj/repo",
	"https://github.com/a/b%20c",
	"https://github.com/a/%E0%A4%A",
	"https://GitHub.com/acme/Up/tree/main/dir",
	"https://gitlab.com/group/sub/proj",
	"https://dev.azure.com/org/proj/_git/repo",
	"https://bitbucket.org/ws/repo",
	"https://bitbucket.example.com/projects/PRJ/repos/rep/browse/x.yaml",
	"https://git.internal.example/org/repo/tree/main/dir",
	"git@github.com:acme/ssh.git",
	"acme/shorthand",
	"github.com/acme/noscheme",
}

type analyzeAnswer struct {
	Target string `json:"target"`
	Status int    `json:"status"`
	Body   string `json:"body"` // verbatim
}

func postAnalyze(t *testing.T, base, target string) analyzeAnswer {
	t.Helper()
	body, err := json.Marshal(map[string]any{"location": map[string]string{"type": "url", "target": target}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Post(base+"/api/catalog/analyze-location", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return analyzeAnswer{Target: target, Status: res.StatusCode, Body: string(b)}
}

func TestRecordAnalyzeLocation(t *testing.T) {
	oracle := os.Getenv("UNDERSTAGE_RECORD_ORACLE")
	if oracle == "" {
		t.Skip("set UNDERSTAGE_RECORD_ORACLE to the oracle's URL to record " + analyzeGolden)
	}
	var out []analyzeAnswer
	for _, target := range analyzeTargets {
		out = append(out, postAnalyze(t, oracle, target))
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(analyzeGolden, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startWithGitHubAPI builds the backend with github.com read through api.
func startWithGitHubAPI(t *testing.T, api string) string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: {client: better-sqlite3, connection: %q}
integrations:
  github:
    - host: github.com
      apiBaseUrl: %s
catalog:
  processingInterval: PT10M
app: {disabled: true}
`, filepath.Join(dir, "catalog.sqlite"), api)
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	b, err := wire.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("wire.New: %v", err)
	}
	t.Cleanup(b.Close)
	b.Server.SetReady()
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAnalyzeUnreadableRepositories: a repository that cannot be read
// (unknown to GitHub, GitHub failing, GitHub unreachable, a host that is
// no integration) gets the Component Backstage proposes, byte for byte.
func TestAnalyzeUnreadableRepositories(t *testing.T) {
	data, err := os.ReadFile(analyzeGolden)
	if err != nil {
		t.Fatal(err)
	}
	var golden []analyzeAnswer
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	want := map[string]analyzeAnswer{}
	for _, a := range golden {
		want[a.Target] = a
	}

	gh := githubtest.New(t) // knows no repository: every one is a 404
	gh.Fail("/repos/acme/broken", http.StatusInternalServerError, -1)
	answering := startWithGitHubAPI(t, gh.APIURL())
	// An address nothing listens on: every GitHub call fails to connect.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	unreachable := startWithGitHubAPI(t, dead)

	for _, target := range analyzeTargets {
		for _, srv := range []struct{ name, url string }{{"github answers", answering}, {"github unreachable", unreachable}} {
			t.Run(srv.name+"/"+target, func(t *testing.T) {
				w, ok := want[target]
				if !ok {
					t.Fatalf("%s has no answer for %s: record it", analyzeGolden, target)
				}
				got := postAnalyze(t, srv.url, target)
				if got.Status != w.Status || got.Body != w.Body {
					t.Errorf("got %d %s\nwant %d %s", got.Status, got.Body, w.Status, w.Body)
				}
			})
		}
	}
}
