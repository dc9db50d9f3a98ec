package builtin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzTemplateStaysInWorkspace renders fuzzed file names, folder names,
// targetPath and values through fetch:template and checks that nothing is
// ever written outside the task's workspace (the template folder and the
// folder around both stay exactly as they were).
func FuzzTemplateStaysInWorkspace(f *testing.F) {
	for _, s := range []struct{ name, target, value string }{
		{"${{ values.x }}.txt", "", "a"},
		{"${{ values.x }}/f.txt", "out", "../../escape"},
		{"f.txt", "../outside", "x"},
		{"${{ values.x }}", "", "/etc/passwd"},
		{"a/${{ values.x }}/b", ".", ".."},
		{"${{ '../' * 3 }}x", "", ""},
		{"${{ values.x | replace('a', '../') }}", "", "aaa"},
	} {
		f.Add(s.name, s.target, s.value)
	}
	f.Fuzz(func(t *testing.T, name, target, value string) {
		if len(name) > 200 || len(target) > 200 || len(value) > 200 || strings.ContainsRune(name, 0) {
			return
		}
		// The task lives twelve folders deep, so that an escape by up to
		// twelve ".." still lands inside root, where the snapshot sees it.
		root := t.TempDir()
		base := filepath.Join(root, "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l")
		tmpl := filepath.Join(base, "template")
		ws := filepath.Join(base, "ws")
		sk := filepath.Join(tmpl, "sk")
		if err := os.MkdirAll(ws, 0o755); err != nil {
			t.Fatal(err)
		}
		// The skeleton file's own name is the fuzzed template text; names
		// the file system refuses are not interesting here.
		p := filepath.Join(sk, filepath.FromSlash(name))
		if !strings.HasPrefix(filepath.Clean(p), sk+string(filepath.Separator)) {
			return
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return
		}
		if err := os.WriteFile(p, []byte("content ${{ values.x }}"), 0o644); err != nil {
			return
		}
		before := snapshot(t, root, ws)
		e := &env{tmpl: tmpl, ws: ws, outputs: map[string]any{}}
		e.reader = &dirReader{root: tmpl}
		e.catalog = &fakeCatalog{}
		in, _ := json.Marshal(map[string]any{"url": "./sk", "targetPath": target, "values": map[string]any{"x": value}})
		_ = e.run(t, "fetch:template", string(in)) // errors are fine; escapes are not
		after := snapshot(t, root, ws)
		for path := range after {
			if _, ok := before[path]; !ok {
				t.Fatalf("fetch:template wrote %s outside the workspace (name %q, target %q, value %q)", path, name, target, value)
			}
		}
	})
}

// snapshot lists every path under root except those inside ws.
func snapshot(t *testing.T, root, ws string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if p == ws {
			return filepath.SkipDir
		}
		out[p] = true
		return nil
	})
	return out
}
