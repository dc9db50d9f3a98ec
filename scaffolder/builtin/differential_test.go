package builtin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
)

// The differential corpus: skeletons run through the real scaffolder's
// POST /v2/dry-run (recorded in testdata/differential/) and through our
// actions; the resulting workspace files under out/ must be equal byte for
// byte, executable bits included. Re-record with
//
//	UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7007 go test ./scaffolder/builtin -run TestRecordDifferential

type diffStep struct {
	Action string         `json:"action"`
	Input  map[string]any `json:"input"`
}

type diffCase struct {
	Name  string
	Files map[string]string // template files; names ending in .sh are executable
	Steps []diffStep
}

type diffResult struct {
	Files map[string]string `json:"files,omitempty"` // path → base64 ("+x " prefix marks executables)
	Error string            `json:"error,omitempty"`
}

var png = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89${{ values.name }}"

var diffCases = []diffCase{
	{
		Name: "basic",
		Files: map[string]string{
			"sk/README.md":                       "# ${{ values.name }}\n\n${{ values.description | default('none') }}\nOwner: ${{ values.owner | parseEntityRef | pick('name') }}\n",
			"sk/${{ values.name }}/index.js":     "module.exports = '${{ values.name | replace('-', '_') }}';\n",
			"sk/${{ 'opt.txt' if values.flag }}": "never",
			"sk/${{ 'yes.txt' if values.name }}": "always",
			"sk/.gitignore":                      "node_modules\n",
			"sk/scripts/run.sh":                  "#!/bin/sh\necho ${{ values.name }}\n",
			"sk/img.png":                         png,
			"sk/static/raw.txt":                  "${{ values.name }} stays",
			"sk/loop.txt":                        "{% for t in values.tags %}- ${{ loop.index }}: ${{ t | upper }}\n{% endfor %}",
			"sk/json.txt":                        "${{ values | dump }}",
			"sk/blocks.txt":                      "start\n  {% if values.flag %}\n  yes\n  {% else %}\n  no\n  {% endif %}\nend\n",
			"sk/utf8.txt":                        "héllo ✓ ${{ values.name }}",
			"sk/repo.txt":                        "${{ values.repoUrl | parseRepoUrl | dump }} ${{ values.repoUrl | projectSlug }}",
		},
		Steps: []diffStep{{Action: "fetch:template", Input: map[string]any{
			"url": "./sk", "targetPath": "out", "copyWithoutTemplating": []any{"static"},
			"values": map[string]any{"name": "my-app", "owner": "group:default/team-a", "flag": false, "tags": []any{"a", "b"},
				"repoUrl": "github.com?owner=o&repo=r"},
		}}},
	},
	{
		Name:  "trim-lstrip",
		Files: map[string]string{"sk/blocks.txt": "start\n  {% if values.flag %}\n  yes\n  {% else %}\n  no\n  {% endif %}\nend\n{% for x in [1,2] %}\n  ${{ x }}\n{% endfor %}\n"},
		Steps: []diffStep{{Action: "fetch:template", Input: map[string]any{
			"url": "./sk", "targetPath": "out", "trimBlocks": true, "lstripBlocks": true, "values": map[string]any{"flag": true},
		}}},
	},
	{
		Name: "cookiecutter",
		Files: map[string]string{
			"sk/{{ cookiecutter.name }}.md": "{{ cookiecutter.name | upper }} ${{ cookiecutter.name }} {{ cookiecutter.n + 1 }}\n",
			"sk/keep.txt":                   "{{ cookiecutter.name }}",
		},
		Steps: []diffStep{{Action: "fetch:template", Input: map[string]any{
			"url": "./sk", "targetPath": "out", "cookiecutterCompat": true, "values": map[string]any{"name": "cc", "n": 41},
		}}},
	},
	{
		Name: "extension",
		Files: map[string]string{
			"sk/a.yaml.njk":              "name: ${{ values.name }}\n",
			"sk/b.yaml":                  "name: ${{ values.name }}\n",
			"sk/${{ values.name }}/c.md": "${{ values.name }}",
			"sk/d.j2":                    "${{ values.name }}",
		},
		Steps: []diffStep{
			{Action: "fetch:template", Input: map[string]any{"url": "./sk", "targetPath": "out", "templateFileExtension": true, "values": map[string]any{"name": "x"}}},
			{Action: "fetch:template", Input: map[string]any{"url": "./sk", "targetPath": "out/j2", "templateFileExtension": "j2", "values": map[string]any{"name": "y"}}},
		},
	},
	{
		Name:  "extension-conflict",
		Files: map[string]string{"sk/a": "a"},
		Steps: []diffStep{{Action: "fetch:template", Input: map[string]any{"url": "./sk", "targetPath": "out", "templateFileExtension": true, "cookiecutterCompat": true}}},
	},
	{
		Name: "plain-file-rename-delete",
		Files: map[string]string{
			"sk/a.txt": "${{ values.x }}", "sk/sub/b.sh": "#!/bin/sh\n", "sk/sub/c.txt": "c", "one.txt": "Hello ${{ values.who }}!\n",
		},
		Steps: []diffStep{
			{Action: "fetch:plain", Input: map[string]any{"url": "./sk", "targetPath": "out/plain"}},
			{Action: "fetch:plain:file", Input: map[string]any{"url": "./one.txt", "targetPath": "out/one.txt"}},
			{Action: "fetch:template:file", Input: map[string]any{"url": "./one.txt", "targetPath": "out/t/one.txt", "values": map[string]any{"who": "you"}}},
			{Action: "fetch:template:file", Input: map[string]any{"url": "./one.txt", "targetPath": "out/t/one.txt", "values": map[string]any{"who": "not replaced"}}},
			{Action: "fs:rename", Input: map[string]any{"files": []any{map[string]any{"from": "out/plain/a.txt", "to": "out/renamed/a.txt"}}}},
			{Action: "fs:delete", Input: map[string]any{"files": []any{"out/plain/sub/*.txt"}}},
		},
	},
	{
		Name:  "catalog-write",
		Files: map[string]string{"x": ""},
		Steps: []diffStep{
			{Action: "catalog:write", Input: map[string]any{"filePath": "out/catalog-info.yaml", "entity": map[string]any{
				"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
				"metadata": map[string]any{
					"name": "my-app", "description": "An app: with a colon, and a rather long description that goes past the eighty column limit of the emitter",
					"tags": []any{"a", "b"}, "annotations": map[string]any{"github.com/project-slug": "o/r"},
					"links": []any{map[string]any{"url": "https://x", "title": "X"}},
				},
				"spec": map[string]any{"type": "service", "lifecycle": "experimental", "owner": "team-a", "n": 3, "empty": map[string]any{}, "list": []any{}, "multi": "a\nb\n", "quoted": "123", "yes": true},
			}}},
			{Action: "catalog:write", Input: map[string]any{"filePath": "out/min.yaml", "entity": map[string]any{"kind": "X", "metadata": map[string]any{"name": "n"}}}},
		},
	},
}

func TestRecordDifferential(t *testing.T) {
	base := os.Getenv("UNDERSTAGE_RECORD_SCAFFOLDER")
	if base == "" {
		t.Skip("set UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7007 to record")
	}
	if err := os.MkdirAll(filepath.Join("testdata", "differential"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range diffCases {
		res := oracleDryRun(t, base, c)
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("testdata", "differential", c.Name+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func oracleDryRun(t *testing.T, base string, c diffCase) diffResult {
	t.Helper()
	var files []any
	for _, p := range sortedKeys(c.Files) {
		files = append(files, map[string]any{"path": p, "executable": strings.HasSuffix(p, ".sh"),
			"base64Content": base64.StdEncoding.EncodeToString([]byte(c.Files[p]))})
	}
	var steps []any
	for i, s := range c.Steps {
		steps = append(steps, map[string]any{"id": "s" + string(rune('a'+i)), "name": s.Action, "action": s.Action, "input": s.Input})
	}
	body, err := json.Marshal(map[string]any{
		"template": map[string]any{"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
			"metadata": map[string]any{"name": "t"}, "spec": map[string]any{"type": "x", "parameters": map[string]any{}, "steps": steps}},
		"values": map[string]any{}, "directoryContents": files,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/scaffolder/v2/dry-run", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		Log []struct {
			Body struct{ Message, Status string } `json:"body"`
		} `json:"log"`
		DirectoryContents []struct {
			Path          string `json:"path"`
			Executable    bool   `json:"executable"`
			Base64Content string `json:"base64Content"`
		} `json:"directoryContents"`
		Error struct{ Message string } `json:"error"`
	}
	if err := json.Unmarshal(rb, &out); err != nil {
		t.Fatalf("%s: %d %s", c.Name, resp.StatusCode, rb)
	}
	if resp.StatusCode != 200 {
		return diffResult{Error: out.Error.Message}
	}
	for _, l := range out.Log {
		if l.Body.Status == "failed" {
			// The failing step's error is the log line before its status.
			return diffResult{Error: lastError(out.Log)}
		}
	}
	res := diffResult{Files: map[string]string{}}
	for _, f := range out.DirectoryContents {
		if !strings.HasPrefix(f.Path, "out/") {
			continue
		}
		v := f.Base64Content
		if f.Executable {
			v = "+x " + v
		}
		res.Files[f.Path] = v
	}
	return res
}

func lastError(log []struct {
	Body struct{ Message, Status string } `json:"body"`
}) string {
	for i := len(log) - 1; i >= 0; i-- {
		if m := log[i].Body.Message; strings.HasPrefix(m, "Error: ") || strings.Contains(m, "Error: ") {
			_, after, _ := strings.Cut(m, "Error: ")
			return after
		}
	}
	return "failed"
}

func TestDifferential(t *testing.T) {
	for _, c := range diffCases {
		t.Run(c.Name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "differential", c.Name+".json"))
			if err != nil {
				t.Fatalf("no recording (run TestRecordDifferential): %v", err)
			}
			var want diffResult
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			got := runLocally(t, c)
			if want.Error != "" {
				if got.Error != want.Error {
					t.Fatalf("error = %q, want %q", got.Error, want.Error)
				}
				return
			}
			if got.Error != "" {
				t.Fatalf("error %s", got.Error)
			}
			for _, p := range sortedKeys(want.Files) {
				if g, ok := got.Files[p]; !ok {
					t.Errorf("missing %s", p)
				} else if g != want.Files[p] {
					t.Errorf("%s:\n got  %q\n want %q", p, decode64(g), decode64(want.Files[p]))
				}
			}
			for p := range got.Files {
				if _, ok := want.Files[p]; !ok {
					t.Errorf("unexpected %s = %q", p, decode64(got.Files[p]))
				}
			}
		})
	}
}

func decode64(s string) string {
	prefix := ""
	if strings.HasPrefix(s, "+x ") {
		prefix, s = "+x ", s[3:]
	}
	b, _ := base64.StdEncoding.DecodeString(s)
	return prefix + string(b)
}

// runLocally mirrors the dry run: the files become the template's folder
// (template.yaml's directory) and each step runs in a fresh workspace.
func runLocally(t *testing.T, c diffCase) diffResult {
	t.Helper()
	root := t.TempDir()
	tmpl, ws := filepath.Join(root, "template"), filepath.Join(root, "ws")
	for p, content := range c.Files {
		full := filepath.Join(tmpl, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		// The dry run writes its files without the executable flag.
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(ws, 0o755); err != nil {
		t.Fatal(err)
	}
	acts := map[string]scaffolder.Action{}
	for _, a := range Actions(Options{}) {
		acts[a.ID] = a
	}
	for _, s := range c.Steps {
		raw, err := json.Marshal(s.Input)
		if err != nil {
			t.Fatal(err)
		}
		in, err := ojson.DecodeObject(raw)
		if err != nil {
			t.Fatal(err)
		}
		ac := &scaffolder.ActionContext{
			Input: in, Workspace: ws, Log: io.Discard, Output: func(string, any) {},
			TemplateInfo: scaffolder.TemplateInfo{EntityRef: "template:default/dry-run", BaseURL: "file://" + filepath.ToSlash(tmpl) + "/template.yaml"},
		}
		if err := acts[s.Action].Run(context.Background(), ac); err != nil {
			return diffResult{Error: err.Error()}
		}
	}
	res := diffResult{Files: map[string]string{}}
	err := filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(ws, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, _ := d.Info()
		v := base64.StdEncoding.EncodeToString(b)
		if fi.Mode().Perm()&0o100 != 0 {
			v = "+x " + v
		}
		res.Files[filepath.ToSlash(rel)] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
