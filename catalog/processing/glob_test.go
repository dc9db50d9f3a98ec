package processing

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// File location globs: "*" within a folder, "**" at any depth, braces,
// dotfiles taken, folders and links to folders never.
func TestFileReaderGlobs(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"a.yaml", ".hidden.yaml", "x/b.yaml", "x/y/c.yaml", "x/y/c.json", "z/d.yaml", "dir.yaml/e.txt"} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("kind: x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "x"), filepath.Join(root, "linkdir.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "a.yaml"), filepath.Join(root, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		pattern string
		want    []string
	}{
		{"*.yaml", []string{".hidden.yaml", "a.yaml", "link.yaml"}},
		{"**/*.yaml", []string{".hidden.yaml", "a.yaml", "link.yaml", "x/b.yaml", "x/y/c.yaml", "z/d.yaml"}},
		{"x/**/c.*", []string{"x/y/c.json", "x/y/c.yaml"}},
		{"{x,z}/*.yaml", []string{"x/b.yaml", "z/d.yaml"}},
		{"nothing/**/*.yaml", nil},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			files, err := FileReader{}.Read(context.Background(), filepath.Join(root, tc.pattern), 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range files {
				rel, _ := filepath.Rel(root, f.Target)
				got = append(got, filepath.ToSlash(rel))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
