package builtin

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/scaffolder/workspace"
)

func TestResolveSafeChildPath(t *testing.T) {
	root := t.TempDir()
	base := filepath.Join(root, "ws")
	outside := filepath.Join(root, "outside")
	writeTree(t, root, map[string]string{
		"ws/a/b.txt": "x", "outside/secret": "s",
		"ws/in":       "->a",
		"ws/out":      "->../outside",
		"ws/abs":      "->" + filepath.Join(root, "outside"),
		"ws/dangling": "->../outside/new",
		"ws/loop1":    "->loop2", "ws/loop2": "->loop1",
		"ws/chain": "->out/secret",
	})
	_ = outside
	tests := []struct {
		p  string
		ok bool
	}{
		{"a/b.txt", true},
		{".", true},
		{"", true},
		{"new/dir/file", true},
		{"in/b.txt", true},
		{"a/../a/b.txt", true},
		{"..", false},
		{"../outside/secret", false},
		{"a/../../outside", false},
		{"/etc/passwd", false},
		{base + "/a", true},
		{"out", false},
		{"out/secret", false},
		{"out/newfile", false},
		{"abs/x", false},
		{"dangling", false},
		{"chain", false},
		{"loop1", false},
	}
	for _, tc := range tests {
		got, err := workspace.ResolveSafeChildPath(base, tc.p)
		if tc.ok {
			if err != nil {
				t.Errorf("%q: %v", tc.p, err)
			} else if !workspace.Within(base, got) {
				t.Errorf("%q → %s outside", tc.p, got)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q: resolved to %s, want an error", tc.p, got)
			continue
		}
		if tc.p != "loop1" && (!errors.Is(err, backend.ErrNotAllowed) || err.Error() != workspace.EscapeMessage) {
			t.Errorf("%q: err = %v", tc.p, err)
		}
	}
}

// A symlink planted in the workspace (by an earlier step or a skeleton)
// never lets an action write or delete outside it.
func TestNoEscapeThroughSymlinks(t *testing.T) {
	tests := []struct {
		name, id, input string
	}{
		{"fetch:template into a linked dir", "fetch:template", `{"url":"./sk","targetPath":"link"}`},
		{"fetch:template file under a linked dir", "fetch:template", `{"url":"./sk2"}`},
		{"fetch:plain into a linked dir", "fetch:plain", `{"url":"./sk","targetPath":"link/x"}`},
		{"fetch:plain file under a linked dir", "fetch:plain", `{"url":"./sk2"}`},
		{"fetch:plain:file through a link", "fetch:plain:file", `{"url":"./sk/f.txt","targetPath":"link/f.txt"}`},
		{"fetch:template:file through a link", "fetch:template:file", `{"url":"./sk/f.txt","targetPath":"link/f.txt"}`},
		{"catalog:write through a link", "catalog:write", `{"filePath":"link/catalog-info.yaml","entity":{"metadata":{}}}`},
		{"fs:rename to a link", "fs:rename", `{"files":[{"from":"own.txt","to":"link/own.txt"}]}`},
		{"fs:rename from a link", "fs:rename", `{"files":[{"from":"link/victim","to":"stolen"}]}`},
		{"fs:delete through a link", "fs:delete", `{"files":["link/victim"]}`},
		{"fs:delete with ..", "fs:delete", `{"files":["../outside/victim"]}`},
		{"fs:delete absolute", "fs:delete", `{"files":["/tmp/**"]}`},
		{"fs:readdir through a link", "fs:readdir", `{"paths":["link"]}`},
		{"fs:readdir with ..", "fs:readdir", `{"paths":[".."]}`},
		{"fetch:template rendered ..", "fetch:template", `{"url":"./sk3","values":{"p":"../outside"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, map[string]string{
				"sk/f.txt": "data", "sk2/link/victim": "pwned", "sk3/${{ values.p }}/victim": "pwned",
			})
			outside := filepath.Join(filepath.Dir(e.ws), "outside")
			writeTree(t, filepath.Dir(e.ws), map[string]string{"outside/victim": "safe"})
			writeTree(t, e.ws, map[string]string{"link": "->" + outside, "own.txt": "mine"})
			err := e.run(t, tc.id, tc.input)
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, backend.ErrNotAllowed) {
				t.Errorf("err = %v, want NotAllowedError", err)
			}
			equalTrees(t, readTree(t, outside), map[string]string{"victim": "safe"})
		})
	}
}

// A rendered path starting with "/" is skipped, as in Backstage.
func TestRenderedAbsolutePathSkipped(t *testing.T) {
	e := newEnv(t, map[string]string{"sk/${{ values.p }}/victim": "pwned", "sk/keep": "k"})
	if err := e.run(t, "fetch:template", `{"url":"./sk","values":{"p":"/../../outside"}}`); err != nil {
		t.Fatal(err)
	}
	equalTrees(t, readTree(t, e.ws), map[string]string{"keep": "k"})
	if _, err := os.Stat(filepath.Join(filepath.Dir(e.ws), "outside")); err == nil {
		t.Error("wrote outside")
	}
}

// A skeleton's own symlinks are never followed: links leading out of the
// template are left out, links inside are recreated as links.
func TestSkeletonSymlinks(t *testing.T) {
	for _, id := range []string{"fetch:template", "fetch:plain"} {
		t.Run(id, func(t *testing.T) {
			e := newEnv(t, map[string]string{
				"secret.txt": "do not read", "sk/up": "->../secret.txt", "sk/abs": "->/etc/passwd",
				"sk/ok": "->real.txt", "sk/real.txt": "real", "sk/dir/": "",
				"sk/linkdir": "->/tmp",
			})
			if err := e.run(t, id, `{"url":"./sk"}`); err != nil {
				t.Fatal(err)
			}
			equalTrees(t, readTree(t, e.ws), map[string]string{"ok": "->real.txt", "real.txt": "real"})
		})
	}
}

// A reader returning hostile paths cannot place files outside.
func TestTreeEntriesRejectTraversal(t *testing.T) {
	for _, p := range []string{"../x", "/abs", "a/../../x", "..", ""} {
		if _, err := cleanRel(p); err == nil {
			t.Errorf("cleanRel(%q) accepted", p)
		}
	}
	if p, err := cleanRel("a/./b/../c"); err != nil || p != "a/c" {
		t.Errorf("cleanRel = %q, %v", p, err)
	}
}

func TestWriteFileReplacesSymlink(t *testing.T) {
	root := t.TempDir()
	ws := filepath.Join(root, "ws")
	writeTree(t, root, map[string]string{"ws/target.txt": "t", "ws/l": "->target.txt"})
	if err := workspace.WriteFile(ws, filepath.Join(ws, "l"), []byte("new"), 0o644, false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(ws, "target.txt"))
	if string(b) != "t" {
		t.Errorf("wrote through the link: %q", b)
	}
}
