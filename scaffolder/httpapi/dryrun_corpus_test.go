package httpapi_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// The dry-run corpus: templates of our own (testdata/dryrun/cases/*.yaml,
// each a template spec with values, secrets and files) posted to the real
// Backstage's POST /v2/dry-run; the status and body it answered are kept
// in testdata/dryrun/golden/ and our answer must be the same once the
// random workspace paths are normalized. Re-record with
//
//	UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 go test ./scaffolder/httpapi -run TestRecordDryRunCorpus
//
// The oracle registers only Backstage's built-in actions, so the replay
// does too: publish:* and other module actions answer NotFoundError in both.

type dryRunCase struct {
	Name    string
	Spec    *ojson.Object     // the template's spec
	Values  any               // request values
	Secrets map[string]string // request secrets
	Files   map[string]string // template directory (path → content)
}

type dryRunGolden struct {
	Status int             `json:"status"`
	Body   json.RawMessage `json:"body"`
}

func loadDryRunCases(t *testing.T) []dryRunCase {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "dryrun", "cases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []dryRunCase
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ojson.DecodeYAML(raw)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		doc, _ := v.(*ojson.Object)
		if doc == nil || doc.Object("spec") == nil {
			t.Fatalf("%s: no spec", p)
		}
		c := dryRunCase{Name: strings.TrimSuffix(filepath.Base(p), ".yaml"), Spec: doc.Object("spec"), Values: ojson.NewObject()}
		if v, ok := doc.Get("values"); ok {
			c.Values = v
		}
		if s := doc.Object("secrets"); s != nil {
			c.Secrets = map[string]string{}
			for _, m := range s.Members {
				c.Secrets[m.Key], _ = m.Value.(string)
			}
		}
		if f := doc.Object("files"); f != nil {
			c.Files = map[string]string{}
			for _, m := range f.Members {
				c.Files[m.Key], _ = m.Value.(string)
			}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		t.Fatal("no dry-run cases")
	}
	return out
}

// requestBody is the POST /v2/dry-run body of a case.
func (c dryRunCase) requestBody() []byte {
	spec := ojson.NewObject("type", "service")
	for _, m := range c.Spec.Members {
		spec.Set(m.Key, m.Value)
	}
	tpl := ojson.NewObject("apiVersion", scaffolder.APIVersion, "kind", "Template",
		"metadata", ojson.NewObject("name", c.Name), "spec", spec)
	files := []any{}
	names := make([]string, 0, len(c.Files))
	for p := range c.Files {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		files = append(files, ojson.NewObject("path", p, "base64Content", base64.StdEncoding.EncodeToString([]byte(c.Files[p]))))
	}
	body := ojson.NewObject("template", tpl, "values", c.Values, "directoryContents", files)
	if c.Secrets != nil {
		sec := ojson.NewObject()
		for k, v := range c.Secrets {
			sec.Set(k, v)
		}
		body.Set("secrets", sec)
	}
	return ojson.MustMarshal(body)
}

var (
	workspaceRe = regexp.MustCompile(`(?:/[^\s"'/]+)*/dry-run-(content-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	uuidRe      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	// The fetch actions' per-entry log lines, whose order inside one
	// directory is the file system's (readdir) order in Backstage.
	entryLineRe = regexp.MustCompile(`^(?:\x1b\[\d+m\w+\x1b\[39m: )?(?:Writing file |Writing directory |Copying file binary or symbolic link at |Copying file/directory )(\S+)`)
)

// normalizeDryRun makes a dry-run answer comparable: workspace and
// template paths (random per run) become placeholders, and each run of
// fetch entry log lines, and of resulting files, at the same depth is
// sorted, since Backstage lists the entries of one directory in readdir
// order, which depends on the file system. Shallower entries still have
// to come before deeper ones.
func normalizeDryRun(body []byte) []byte {
	s := workspaceRe.ReplaceAllStringFunc(string(body), func(m string) string {
		if strings.Contains(m, "dry-run-content-") {
			return "<template>"
		}
		return "<workspace>"
	})
	s = uuidRe.ReplaceAllString(s, "<uuid>")
	v, err := ojson.Decode([]byte(s))
	if err != nil {
		return []byte(s)
	}
	o, ok := v.(*ojson.Object)
	if !ok {
		return []byte(s)
	}
	if logs, ok := field(o, "log").([]any); ok {
		sortSameDepthRuns(logs, func(v any) (string, bool) {
			l, _ := v.(*ojson.Object)
			if l == nil || l.Object("body") == nil {
				return "", false
			}
			m := entryLineRe.FindStringSubmatch(l.Object("body").String("message"))
			if m == nil {
				return "", false
			}
			return strings.TrimSuffix(m[1], "/"), true
		})
	}
	if files, ok := field(o, "directoryContents").([]any); ok {
		sortSameDepthRuns(files, func(v any) (string, bool) {
			f, _ := v.(*ojson.Object)
			if f == nil {
				return "", false
			}
			return f.String("path"), true
		})
	}
	return ojson.MustMarshal(o)
}

func field(o *ojson.Object, k string) any { v, _ := o.Get(k); return v }

// sortSameDepthRuns sorts, in place, each run of consecutive items whose
// paths (as pathOf finds them) have the same depth.
func sortSameDepthRuns(items []any, pathOf func(any) (string, bool)) {
	depth := func(i int) int {
		p, ok := pathOf(items[i])
		if !ok {
			return -1
		}
		return strings.Count(p, "/")
	}
	for i := 0; i < len(items); {
		d := depth(i)
		j := i + 1
		for d >= 0 && j < len(items) && depth(j) == d {
			j++
		}
		run := items[i:j]
		sort.SliceStable(run, func(a, b int) bool {
			pa, _ := pathOf(run[a])
			pb, _ := pathOf(run[b])
			return pa < pb
		})
		i = j
	}
}

func TestRecordDryRunCorpus(t *testing.T) {
	base := os.Getenv("UNDERSTAGE_RECORD_SCAFFOLDER")
	if base == "" {
		t.Skip("set UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 to record from the oracle")
	}
	dir := filepath.Join("testdata", "dryrun", "golden")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range loadDryRunCases(t) {
		resp, err := http.Post(base+"/api/scaffolder/v2/dry-run", "application/json", bytes.NewReader(c.requestBody()))
		if err != nil {
			t.Fatal(err)
		}
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		g := dryRunGolden{Status: resp.StatusCode, Body: normalizeDryRun(raw)}
		b, err := json.MarshalIndent(g, "", " ")
		if err != nil {
			t.Fatalf("%s: %v (%s)", c.Name, err, raw)
		}
		if err := os.WriteFile(filepath.Join(dir, c.Name+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDryRunCorpusMatchesOracle replays every recorded case through our
// POST /v2/dry-run with the built-in actions.
func TestDryRunCorpusMatchesOracle(t *testing.T) {
	b := setup(t, sqliteDB, true)
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	b.svc.Runner.Actions = acts
	for _, c := range loadDryRunCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "dryrun", "golden", c.Name+".json"))
			if err != nil {
				t.Fatalf("no recording (run TestRecordDryRunCorpus): %v", err)
			}
			var want dryRunGolden
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			code, got := b.do(t, "POST", "/v2/dry-run", string(c.requestBody()))
			wantBody := ojson.MustMarshal(mustDecode(t, want.Body))
			if gotBody := normalizeDryRun(got); code != want.Status || string(gotBody) != string(wantBody) {
				t.Errorf("%d\n got %s\nwant %d %s", code, gotBody, want.Status, wantBody)
			}
		})
	}
}

func mustDecode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := ojson.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestEachOverMissingValueFailsTask runs, as a task, a template whose each
// names an optional parameter left empty: the step fails with Backstage's
// InputError and message, later steps are skipped, and the completion
// event keeps the error's name (testdata/oracle/each_missing_events.json,
// recorded from a task run on the oracle; its failure line also carries a
// Node stack trace, which we never send).
func TestEachOverMissingValueFailsTask(t *testing.T) {
	b := setup(t, sqliteDB, false)
	raw, err := os.ReadFile("testdata/oracle/each_missing_template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := ojson.DecodeYAML(raw)
	if err != nil {
		t.Fatal(err)
	}
	b.svc.Templates.(templateMap)["template:default/scaf-each-missing"] = tpl.(*ojson.Object)
	id := b.create(t, `{"templateRef":"template:default/scaf-each-missing","values":{}}`)
	if got := b.waitStatus(t, id, "completed", "failed"); got != "failed" {
		t.Fatalf("status %s", got)
	}
	var oracle []event
	raw, _ = os.ReadFile("testdata/oracle/each_missing_events.json")
	if err := json.Unmarshal(raw, &oracle); err != nil {
		t.Fatal(err)
	}
	want := lines(oracle)
	for i, w := range want {
		want[i], _, _ = strings.Cut(w, "\n    at ")
	}
	evs := b.events(t, id)
	if got := lines(evs); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	last, wantLast := evs[len(evs)-1].Body, oracle[len(oracle)-1].Body
	if string(ojson.MustMarshal(mustDecode(t, last))) != string(ojson.MustMarshal(mustDecode(t, wantLast))) {
		t.Errorf("completion %s, want %s", last, wantLast)
	}
}

// snapshot lists every path under root (with file contents), to prove a
// refused step wrote, moved and deleted nothing.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		v := "dir"
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v = string(b)
		}
		out[p] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRefusedPathsWriteNothingOutside runs the refused-* dry runs (paths
// leaving the workspace: relative, absolute, through fs:rename, fs:delete,
// catalog:write, a fetch url) with the working directory two levels below
// a sentinel tree: each answers 403 NotAllowedError, and nothing around
// the workspace is created, changed or removed.
func TestRefusedPathsWriteNothingOutside(t *testing.T) {
	b := setup(t, sqliteDB, true)
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	b.svc.Runner.Actions = acts
	root := t.TempDir()
	work := filepath.Join(root, "a", "b", "work")
	for _, p := range []string{work, filepath.Join(root, "a", "b", "out"), filepath.Join(root, "etc")} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/b/sentinel.txt", "a/keep.txt", "etc/hostname", "catalog-info.yaml"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte("untouched "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.svc.Runner.WorkingDirectory = work
	before := snapshot(t, root)
	n := 0
	for _, c := range loadDryRunCases(t) {
		if !strings.HasPrefix(c.Name, "refused-") {
			continue
		}
		n++
		code, got := b.do(t, "POST", "/v2/dry-run", string(c.requestBody()))
		if code != 403 || !strings.Contains(string(got), `"name":"NotAllowedError"`) {
			t.Errorf("%s: %d %s", c.Name, code, got)
		}
		if after := snapshot(t, root); len(after) != len(before) {
			t.Errorf("%s: the tree changed: %d paths before, %d after", c.Name, len(before), len(after))
		} else {
			for p, v := range before {
				if after[p] != v {
					t.Errorf("%s: %s changed", c.Name, p)
				}
			}
		}
	}
	if n < 8 {
		t.Fatalf("only %d refused cases", n)
	}
	if _, err := os.Lstat("/tmp/understage-absolute-target"); !os.IsNotExist(err) {
		t.Errorf("absolute target written: %v", err)
	}
}

// TestDryRunGithubActions runs the wild-publish-github case with our
// GitHub actions registered (the oracle has no GitHub module, so its
// golden is a NotFoundError): as in Backstage's module, publish:github and
// github:actions:dispatch do not support dry runs and are skipped with
// their example outputs, publish:github:pull-request and github:webhook
// run in dry-run mode, and no request reaches the GitHub API.
func TestDryRunGithubActions(t *testing.T) {
	var calls atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusTeapot)
	}))
	defer api.Close()
	b := setup(t, sqliteDB, true)
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	if err := acts.Add(github.Actions(github.ActionOptions{Integrations: []github.Integration{{Host: "github.com", APIBaseURL: api.URL, Token: "t0ken-value"}}})...); err != nil {
		t.Fatal(err)
	}
	b.svc.Runner.Actions = acts
	var c dryRunCase
	for _, x := range loadDryRunCases(t) {
		if x.Name == "wild-publish-github" {
			c = x
		}
	}
	code, out := b.do(t, "POST", "/v2/dry-run", string(c.requestBody()))
	if code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	var res struct {
		Log []struct {
			Body struct{ StepID, Status, Message string }
		}
		DirectoryContents []struct{ Path string }
		Output            json.RawMessage
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range res.Log {
		if l.Body.Status != "" || strings.Contains(l.Body.Message, "dry run") || strings.Contains(l.Body.Message, "Dry run") {
			got = append(got, l.Body.StepID+"|"+l.Body.Status+"|"+strings.TrimPrefix(l.Body.Message, "\x1b[32minfo\x1b[39m: "))
		}
	}
	want := []string{
		"fetch|processing|Beginning step fetch:template", "fetch|completed|Finished step fetch:template",
		"publish|processing|Beginning step Publish", "publish|skipped|Skipping because publish:github does not support dry-run",
		"pr|processing|Beginning step publish:github:pull-request", "pr||Performing dry run of creating pull request", "pr||Dry run complete", "pr|completed|Finished step publish:github:pull-request",
		"hook|processing|Beginning step github:webhook", "hook||Dry run complete", "hook|completed|Finished step github:webhook",
		"dispatch|processing|Beginning step github:actions:dispatch", "dispatch|skipped|Skipping because github:actions:dispatch does not support dry-run",
		"register|processing|Beginning step catalog:register", "register|skipped|Skipping because catalog:register does not support dry-run",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("log\n got %s\nwant %s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if string(res.Output) != `{"links":[{"title":"Repository","url":"<example>"},{"title":"Pull request","url":"github.com?owner=acme&repo=app"}]}` {
		t.Errorf("output %s", res.Output)
	}
	if len(res.DirectoryContents) != 1 || res.DirectoryContents[0].Path != "README.md" {
		t.Errorf("files %+v", res.DirectoryContents)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d requests reached the GitHub API in a dry run", n)
	}
	if strings.Contains(string(out), "t0ken-value") {
		t.Error("the integration token leaked into the answer")
	}
}

// TestTaskSymlinksStayInside runs a task whose skeleton (a template read
// from disk) holds a symlink to a folder outside it and one inside it: the
// outside link is left out of the workspace, as Backstage's copy filter
// does, so a later fs:rename through it finds nothing and the folder it
// pointed at is untouched; the task fails with Backstage's plain Error.
func TestTaskSymlinksStayInside(t *testing.T) {
	b := setup(t, sqliteDB, false)
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	b.svc.Runner.Actions = acts
	root := t.TempDir()
	secret := filepath.Join(root, "secret")
	tpl := filepath.Join(root, "tpl")
	for _, d := range []string{secret, filepath.Join(tpl, "sk")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(secret, "key.txt"), []byte("private"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tpl, "sk", "ok.txt"), []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(tpl, "sk", "outside")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("ok.txt", filepath.Join(tpl, "sk", "inside")); err != nil {
		t.Fatal(err)
	}
	addTemplate(t, b, `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: links
  annotations:
    backstage.io/managed-by-location: file:`+filepath.Join(tpl, "template.yaml")+`
spec:
  type: service
  steps:
    - id: copy
      action: fetch:plain
      input: {url: ./sk, targetPath: out}
    - id: list
      action: debug:log
      input: {message: copied, listWorkspace: true}
    - id: steal
      action: fs:rename
      input:
        files: [{from: out/outside/key.txt, to: stolen.txt}]
`)
	id := b.create(t, `{"templateRef":"links","values":{}}`)
	if got := b.waitStatus(t, id, "completed", "failed"); got != "failed" {
		t.Fatalf("status %s", got)
	}
	evs := b.events(t, id)
	listing := ""
	for _, l := range lines(evs) {
		if _, after, ok := strings.Cut(l, "Workspace:"); ok {
			listing = after
		}
	}
	if listing != "\n  - out/inside\n  - out/ok.txt" {
		t.Errorf("workspace listing %q", listing)
	}
	var last struct {
		Error struct{ Name, Message string }
	}
	if err := json.Unmarshal(evs[len(evs)-1].Body, &last); err != nil {
		t.Fatal(err)
	}
	if last.Error.Name != "Error" || !strings.HasPrefix(last.Error.Message, "ENOENT: no such file or directory") {
		t.Errorf("completion error %+v", last.Error)
	}
	if b, err := os.ReadFile(filepath.Join(secret, "key.txt")); err != nil || string(b) != "private" {
		t.Errorf("the folder outside changed: %q %v", b, err)
	}
}

// TestTaskFailuresKeepTheirKind: a task's failed step line and completion
// event name the error as the dry run answers it (NotFoundError,
// NotAllowedError, InputError, TemplateRenderError, Error).
func TestTaskFailuresKeepTheirKind(t *testing.T) {
	b := setup(t, sqliteDB, false)
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	b.svc.Runner.Actions = acts
	tpl := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tpl, "sk"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tpl, "sk", "bad.txt"), []byte("${{ values.x | frobnicatecase }}"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, step, kind, msg string }{
		{"unknown", `{id: s, action: acme:nope}`, "NotFoundError", "Template action with ID 'acme:nope' is not registered."},
		{"refused", `{id: s, action: fetch:plain, input: {url: ./sk, targetPath: ../..}}`, "NotAllowedError", "Relative path is not allowed to refer to a directory outside its parent"},
		{"input", `{id: s, action: debug:log, input: {message: 5}}`, "InputError", "Invalid input passed to action debug:log, instance.message is not of a type(s) string"},
		{"render", `{id: s, action: fetch:template, input: {url: ./sk, values: {x: 1}}}`, "TemplateRenderError", "Template error at line 1, column"},
		{"plain", `{id: s, action: fs:rename, input: {files: [{from: missing.txt, to: b.txt}]}}`, "Error", "ENOENT: no such file or directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addTemplate(t, b, `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: fail-`+c.name+`
  annotations:
    backstage.io/managed-by-location: file:`+filepath.Join(tpl, "template.yaml")+`
spec:
  type: service
  steps: [`+c.step+`]
`)
			id := b.create(t, `{"templateRef":"fail-`+c.name+`","values":{}}`)
			if got := b.waitStatus(t, id, "completed", "failed"); got != "failed" {
				t.Fatalf("status %s", got)
			}
			evs := b.events(t, id)
			var last struct {
				Error struct{ Name, Message string }
			}
			if err := json.Unmarshal(evs[len(evs)-1].Body, &last); err != nil {
				t.Fatal(err)
			}
			if last.Error.Name != c.kind || !strings.HasPrefix(last.Error.Message, c.msg) {
				t.Errorf("completion %+v, want %s: %s…", last.Error, c.kind, c.msg)
			}
			if l := lines(evs)[len(evs)-2]; !strings.HasPrefix(l, "log|s|failed|"+c.kind+": "+c.msg) {
				t.Errorf("failure line %q", l)
			}
		})
	}
}
