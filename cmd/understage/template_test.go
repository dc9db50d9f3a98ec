package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
)

// dryRunBody is the part of a dry-run answer that must agree between the
// command, the API and the oracle (the log carries temporary paths).
type dryRunBody struct {
	DirectoryContents []struct {
		Path          string `json:"path"`
		Executable    bool   `json:"executable"`
		Base64Content string `json:"base64Content"`
	} `json:"directoryContents"`
	Output json.RawMessage `json:"output"`
	Steps  json.RawMessage `json:"steps"`
	Log    []struct {
		Body struct{ StepID, Status, Message string }
	} `json:"log"`
}

var exampleValues = map[string]string{
	"node-service": "name: gift-cards\ndescription: Sells gift cards\nport: 9090\nowner: group:default/team-shop\nsystem: system:default/shop\nlifecycle: production\n",
	"go-library":   "name: ledger\nmodulePath: git.fernwood.example/platform/ledger\n",
}

func writeValues(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name+"-values.yaml")
	if err := os.WriteFile(p, []byte(exampleValues[name]), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func exampleTemplate(name string) string {
	return filepath.Join("..", "..", "examples", "templates", name, "template.yaml")
}

func TestTemplateDryRun(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(dir, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	trap := filepath.Join(dir, "trap")
	if err := os.MkdirAll(trap, 0o755); err != nil {
		t.Fatal(err)
	}
	// A symlinked folder in the output must not carry writes out of it.
	if err := os.Symlink(outside, filepath.Join(trap, "src")); err != nil {
		t.Fatal(err)
	}
	badValues := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badValues, []byte("name: Not Valid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// An alias bomb (the billion laughs) and duplicate keys in a template,
	// and a bomb in a values file.
	bomb := "l0: &l0 lol\n"
	for i := 1; i <= 9; i++ {
		bomb += fmt.Sprintf("l%d: &l%d [%s*l%d]\n", i, i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), i-1)
	}
	template, err := os.ReadFile(exampleTemplate("node-service"))
	if err != nil {
		t.Fatal(err)
	}
	bombTemplate := filepath.Join(dir, "bomb-template.yaml")
	if err := os.WriteFile(bombTemplate, []byte(strings.Replace(string(template), "\nspec:\n", "\nspec:\n"+strings.ReplaceAll("x:\n"+bomb, "\n", "\n  ")+"\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dupTemplate := filepath.Join(dir, "dup-template.yaml")
	if err := os.WriteFile(dupTemplate, []byte(strings.Replace(string(template), "\nspec:\n", "\nspec:\n  type: a\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	bombValues := filepath.Join(dir, "bomb-values.yaml")
	if err := os.WriteFile(bombValues, []byte(bomb), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string
		wantStderr string
		out        string   // the --output folder
		wantFiles  []string // written under it
	}{
		{
			name:       "node-service",
			args:       []string{"template", "dry-run", exampleTemplate("node-service"), "--values", writeValues(t, dir, "node-service"), "--output", filepath.Join(dir, "node")},
			wantStdout: []string{"[fetch] Beginning step Render the skeleton", "[log] info: Created gift-cards for group:default/team-shop", "link: Owner -> group:default/team-shop", "text: Next steps", "4 file(s) written"},
			out:        filepath.Join(dir, "node"),
			wantFiles:  []string{"README.md", "catalog-info.yaml", "package.json", "src/index.js"},
		},
		{
			name:       "go-library, flags before the template",
			args:       []string{"template", "dry-run", "--values", writeValues(t, dir, "go-library"), "--output", filepath.Join(dir, "go"), exampleTemplate("go-library")},
			wantStdout: []string{"list: List the workspace (fs:readdir)", "text: Files"},
			out:        filepath.Join(dir, "go"),
			wantFiles:  []string{"catalog-info.yaml", "doc.go", "go.mod"},
		},
		{
			name:       "failing step",
			args:       []string{"template", "dry-run", exampleTemplate("broken")},
			wantCode:   1,
			wantStderr: "no such file or directory",
		},
		{
			name:       "invalid values",
			args:       []string{"template", "dry-run", exampleTemplate("node-service"), "--values", badValues},
			wantCode:   1,
			wantStdout: []string{"parameter validation failed:", `instance.name does not match pattern "^[a-z][a-z0-9-]{2,40}$"`, `instance requires property "description"`},
		},
		{
			name:       "output through a symlink",
			args:       []string{"template", "dry-run", exampleTemplate("node-service"), "--values", writeValues(t, dir, "node-service"), "--output", trap},
			wantCode:   1,
			wantStderr: "refusing to write outside",
		},
		{
			name:     "no template",
			args:     []string{"template", "dry-run", "--values", badValues},
			wantCode: 2,
		},
		{
			name:       "alias bomb in the template",
			args:       []string{"template", "dry-run", bombTemplate, "--values", writeValues(t, dir, "node-service")},
			wantCode:   1,
			wantStderr: "ReferenceError: Excessive alias count indicates a resource exhaustion attack",
		},
		{
			name:       "duplicate keys in the template",
			args:       []string{"template", "dry-run", dupTemplate, "--values", writeValues(t, dir, "node-service")},
			wantCode:   1,
			wantStderr: "YAMLParseError: Map keys must be unique at line ",
		},
		{
			name:       "alias bomb in the values",
			args:       []string{"template", "dry-run", exampleTemplate("node-service"), "--values", bombValues},
			wantCode:   1,
			wantStderr: "ReferenceError: Excessive alias count indicates a resource exhaustion attack",
		},
		{
			name:       "not a template",
			args:       []string{"template", "dry-run", badValues},
			wantCode:   1,
			wantStderr: "no Template entity",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout.String(), stderr.String())
			}
			for _, w := range tt.wantStdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.wantStderr, stderr.String())
			}
			for _, f := range tt.wantFiles {
				if _, err := os.Stat(filepath.Join(tt.out, f)); err != nil {
					t.Errorf("output: %v", err)
				}
			}
		})
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("dry run wrote outside its output folder: %v", entries)
	}
	got, err := os.ReadFile(filepath.Join(dir, "node", "catalog-info.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got), "name: gift-cards") || !strings.Contains(string(got), "lifecycle: production") {
		t.Fatalf("catalog-info.yaml:\n%s", got)
	}
}

// cliDryRun runs the command with --json and returns its body and the
// directoryContents it read (to post the same to an API).
func cliDryRun(t *testing.T, name, values string) (dryRunBody, []any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"template", "dry-run", "--json", exampleTemplate(name), "--values", values}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var body dryRunBody
	if err := json.Unmarshal(stdout.Bytes(), &body); err != nil {
		t.Fatalf("%v: %s", err, stdout.String())
	}
	files, err := readTemplateDir(filepath.Dir(exampleTemplate(name)), "")
	if err != nil {
		t.Fatal(err)
	}
	var dc []any
	for _, f := range files {
		dc = append(dc, map[string]any{"path": f.Path, "base64Content": base64.StdEncoding.EncodeToString(f.Content)})
	}
	return body, dc
}

// apiDryRun posts the template, values and files to a dry-run endpoint.
func apiDryRun(t *testing.T, url, name, values string, dc []any) dryRunBody {
	t.Helper()
	tv, err := decodeFile(exampleTemplate(name))
	if err != nil {
		t.Fatal(err)
	}
	vv, err := decodeFile(values)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ojson.Marshal(ojson.NewObject("template", tv, "values", vv, "directoryContents", ojson.FromGo(dc)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url, "application/json", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body dryRunBody
	if resp.StatusCode != 200 {
		t.Fatalf("dry run answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body
}

func sameDryRun(t *testing.T, who string, got, want dryRunBody) {
	t.Helper()
	if !reflect.DeepEqual(got.DirectoryContents, want.DirectoryContents) {
		t.Errorf("files differ from %s:\n got %+v\nwant %+v", who, got.DirectoryContents, want.DirectoryContents)
	}
	if !jsonEqual(got.Output, want.Output) {
		t.Errorf("output differs from %s:\n got %s\nwant %s", who, got.Output, want.Output)
	}
	if !jsonEqual(got.Steps, want.Steps) {
		t.Errorf("steps differ from %s:\n got %s\nwant %s", who, got.Steps, want.Steps)
	}
	// The same step events in the same order (messages hold temp paths).
	steps := func(b dryRunBody) (s []string) {
		for _, l := range b.Log {
			if l.Body.Status != "" {
				s = append(s, l.Body.StepID+" "+l.Body.Status)
			}
		}
		return s
	}
	if g, w := steps(got), steps(want); !reflect.DeepEqual(g, w) {
		t.Errorf("step events differ from %s:\n got %v\nwant %v", who, g, w)
	}
}

// workspacePath matches a dry run's temporary workspace in rendered output.
var workspacePath = regexp.MustCompile(`/[^"\\]*/dry-run-[0-9a-f-]{36}`)

func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	a = workspacePath.ReplaceAll(a, []byte("WORKSPACE"))
	b = workspacePath.ReplaceAll(b, []byte("WORKSPACE"))
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestTemplateDryRunMatchesAPI compares the command with POST /v2/dry-run of
// an in-process understage built by the binary's wiring.
func TestTemplateDryRunMatchesAPI(t *testing.T) {
	dir := t.TempDir()
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  workingDirectory: %q
  database: {client: better-sqlite3, connection: %q}
scaffolder: {concurrentTasksLimit: 0}
`, filepath.Join(dir, "work"), filepath.Join(dir, "db.sqlite"))
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.Server.SetReady()
	srv := httptest.NewServer(b.Server.Handler())
	defer srv.Close()
	for _, name := range []string{"node-service", "go-library"} {
		t.Run(name, func(t *testing.T) {
			values := writeValues(t, dir, name)
			got, dc := cliDryRun(t, name, values)
			want := apiDryRun(t, srv.URL+"/api/scaffolder/v2/dry-run", name, values, dc)
			if len(got.DirectoryContents) == 0 {
				t.Fatal("no files")
			}
			sameDryRun(t, "understage's API", got, want)
		})
	}
}

// TestTemplateDryRunMatchesOracle compares the command with the real
// Backstage backend's dry run (skipped when the oracle is not running).
func TestTemplateDryRunMatchesOracle(t *testing.T) {
	const oracle = "http://127.0.0.1:7007"
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(oracle + "/api/scaffolder/v2/actions")
	if err != nil {
		t.Skip("oracle not running:", err)
	}
	resp.Body.Close()
	dir := t.TempDir()
	values := writeValues(t, dir, "node-service")
	got, dc := cliDryRun(t, "node-service", values)
	want := apiDryRun(t, oracle+"/api/scaffolder/v2/dry-run", "node-service", values, dc)
	sameDryRun(t, "the oracle", got, want)
}
