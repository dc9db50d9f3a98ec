package workspace

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/understage/understage/plugins/backend"
)

// newWS makes a workspace with a sibling "outside" folder and a link
// ws/out -> outside.
func newWS(t *testing.T) (ws, outside string) {
	t.Helper()
	dir := t.TempDir()
	ws, outside = filepath.Join(dir, "ws"), filepath.Join(dir, "outside")
	for _, d := range []string{ws, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(ws, "out")); err != nil {
		t.Fatal(err)
	}
	return ws, outside
}

func TestOperationsStayInside(t *testing.T) {
	tests := []struct {
		name string
		op   func(ws string) error
	}{
		{"write through a linked folder", func(ws string) error { return WriteFile(ws, "out/x", []byte("x"), 0, false) }},
		{"write with dot-dot", func(ws string) error { return WriteFile(ws, "../outside/x", []byte("x"), 0, false) }},
		{"write absolute", func(ws string) error { return WriteFile(ws, "/tmp/x", []byte("x"), 0, false) }},
		{"mkdir through a linked folder", func(ws string) error { return MkdirAll(ws, "out/d") }},
		{"link pointing out", func(ws string) error { return Symlink(ws, "l", "../outside", false) }},
		{"rename out", func(ws string) error {
			if err := WriteFile(ws, "f", []byte("x"), 0, false); err != nil {
				return err
			}
			return Rename(ws, filepath.Join(ws, "f"), filepath.Join(ws, "out", "f"))
		}},
		{"remove through a linked folder", func(ws string) error { return RemoveAll(ws, "out/keep") }},
		{"remove the workspace", func(ws string) error { return RemoveAll(ws, ws) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws, outside := newWS(t)
			if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("k"), 0o644); err != nil {
				t.Fatal(err)
			}
			err := tc.op(ws)
			if !errors.Is(err, backend.ErrNotAllowed) || err.Error() != EscapeMessage {
				t.Fatalf("err = %v, want NotAllowedError %q", err, EscapeMessage)
			}
			des, _ := os.ReadDir(outside)
			if len(des) != 1 || des[0].Name() != "keep" {
				t.Fatalf("outside changed: %v", des)
			}
		})
	}
}

// The check and the use are one: with the path check passed (a folder
// swapped for a link after it), the os.Root operation itself refuses.
func TestRootRefusesWhatTheCheckDidNotSee(t *testing.T) {
	ws, outside := newWS(t)
	err := withRoot(ws, "out/x", func(r *os.Root, p string) error {
		return r.WriteFile(p, []byte("x"), 0o644)
	})
	if err == nil {
		t.Fatal("wrote through a link to outside the workspace")
	}
	if _, err := os.Stat(filepath.Join(outside, "x")); !os.IsNotExist(err) {
		t.Fatalf("file written outside: %v", err)
	}
}

func TestOperationsInside(t *testing.T) {
	ws, _ := newWS(t)
	if err := WriteFile(ws, "a/b/f.txt", []byte("hi"), 0o600, true); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(ws, "a/b/f.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat: %v %v", fi, err)
	}
	// A link inside the workspace at a file's place is replaced.
	if err := Symlink(ws, filepath.Join(ws, "a/l"), "b/f.txt", false); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(ws, "a/l", []byte("new"), 0, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "a/b/f.txt")); string(b) != "hi" {
		t.Fatalf("wrote through the link: %q", b)
	}
	if err := Rename(ws, filepath.Join(ws, "a/b/f.txt"), filepath.Join(ws, "c/g.txt")); err != nil {
		t.Fatal(err)
	}
	des, err := ReadDir(ws, filepath.Join(ws, "c"))
	if err != nil || len(des) != 1 || des[0].Name() != "g.txt" {
		t.Fatalf("ReadDir = %v, %v", des, err)
	}
	if err := RemoveAll(ws, "c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ws, "c")); !os.IsNotExist(err) {
		t.Fatal("not removed")
	}
}
