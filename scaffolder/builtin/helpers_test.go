package builtin

import (
	"bytes"
	"context"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/workspace"
)

// dirReader serves a folder through file:// URLs, as a URL reader would:
// only files under root are readable.
type dirReader struct {
	root  string
	reads []string
}

func (r *dirReader) local(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return "", backend.NotAllowed("Reading from '%s' is not allowed", raw)
	}
	p := filepath.Clean(filepath.FromSlash(u.Path))
	if !workspace.Within(r.root, p) {
		return "", backend.NotAllowed("Reading from '%s' is not allowed", raw)
	}
	return p, nil
}

func (r *dirReader) ReadURL(ctx context.Context, raw string, _ catalog.ReadOptions) (catalog.ReadResult, error) {
	r.reads = append(r.reads, raw)
	p, err := r.local(raw)
	if err != nil {
		return catalog.ReadResult{}, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return catalog.ReadResult{}, backend.NotFound("%s not found", raw)
	}
	return catalog.ReadResult{Data: b}, nil
}

func (r *dirReader) ReadTree(ctx context.Context, raw string, _ catalog.ReadOptions) (catalog.Tree, error) {
	r.reads = append(r.reads, raw)
	p, err := r.local(raw)
	if err != nil {
		return catalog.Tree{}, err
	}
	var t catalog.Tree
	err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(fp)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, fp)
		t.Files = append(t.Files, catalog.TreeFile{Path: filepath.ToSlash(rel), Data: b})
		return nil
	})
	return t, err
}

// fakeCatalog answers from a fixed set of entities.
type fakeCatalog struct {
	entities  map[string]*ojson.Object
	produced  []*ojson.Object
	addErr    error
	locations []string
}

func (c *fakeCatalog) EntityByRef(ctx context.Context, ref string) (*ojson.Object, error) {
	if e, ok := c.entities[ref]; ok {
		return e, nil
	}
	return nil, backend.NotFound("entity %s not found", ref)
}

func (c *fakeCatalog) AddLocation(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error) {
	c.locations = append(c.locations, typ+" "+target+map[bool]string{true: " dry", false: ""}[dryRun])
	if c.addErr != nil {
		return nil, c.addErr
	}
	if dryRun {
		return c.produced, nil
	}
	return nil, nil
}

// writeTree creates files; a value starting with "->" makes a symlink,
// a path ending in "/" a directory, a "+x " prefix an executable file.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, filepath.FromSlash(p))
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(c, "->"):
			if err := os.Symlink(strings.TrimPrefix(c, "->"), full); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(c, "+x "):
			if err := os.WriteFile(full, []byte(strings.TrimPrefix(c, "+x ")), 0o755); err != nil {
				t.Fatal(err)
			}
		default:
			if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readTree lists the workspace: files by content, symlinks as "->target",
// executables prefixed "+x ".
func readTree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out[rel+"/"] = ""
		case d.Type()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			out[rel] = "->" + l
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi, _ := d.Info()
			if fi.Mode().Perm()&0o100 != 0 {
				out[rel] = "+x " + string(b)
			} else {
				out[rel] = string(b)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// env is one action run: a template folder, a workspace, a reader.
type env struct {
	tmpl, ws string
	reader   *dirReader
	catalog  *fakeCatalog
	log      bytes.Buffer
	outputs  map[string]any
}

func newEnv(t *testing.T, template map[string]string) *env {
	t.Helper()
	root := t.TempDir()
	e := &env{tmpl: filepath.Join(root, "template"), ws: filepath.Join(root, "ws"), outputs: map[string]any{}}
	for _, d := range []string{e.tmpl, e.ws} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeTree(t, e.tmpl, template)
	e.reader = &dirReader{root: e.tmpl}
	e.catalog = &fakeCatalog{entities: map[string]*ojson.Object{}}
	return e
}

func (e *env) baseURL() string { return "file://" + filepath.ToSlash(e.tmpl) + "/template.yaml" }

func (e *env) run(t *testing.T, id string, in string) error {
	t.Helper()
	return e.runBase(t, id, in, e.baseURL())
}

func (e *env) runBase(t *testing.T, id, in, base string) error {
	t.Helper()
	obj, err := ojson.DecodeObject([]byte(in))
	if err != nil {
		t.Fatalf("input %s: %v", in, err)
	}
	a := action(t, id)
	ac := &scaffolder.ActionContext{
		Input: obj, Workspace: e.ws, Log: &e.log,
		Output:       func(n string, v any) { e.outputs[n] = v },
		TemplateInfo: scaffolder.TemplateInfo{EntityRef: "template:default/t", BaseURL: base},
		Reader:       e.reader, Catalog: e.catalog, TaskID: "task-1",
	}
	return a.Run(context.Background(), ac)
}

func action(t *testing.T, id string) scaffolder.Action {
	t.Helper()
	for _, a := range Actions(Options{}) {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("no action %s", id)
	return scaffolder.Action{}
}

func equalTrees(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("missing %q (have %v)", k, keys(got))
		} else if g != w {
			t.Errorf("%s = %q, want %q", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !strings.HasSuffix(k, "/") {
			t.Errorf("unexpected %q = %q", k, got[k])
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
