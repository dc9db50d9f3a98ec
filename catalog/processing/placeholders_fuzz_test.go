package processing_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/understage/understage/catalog/processing"
)

// FuzzPlaceholderConfinement: whatever path a placeholder names, relative
// to a file in a location's folder, the file reader never returns a file
// from outside that folder, through "..", absolute paths or links.
func FuzzPlaceholderConfinement(f *testing.F) {
	dir := f.TempDir()
	root := filepath.Join(dir, "repo")
	secret := []byte("SECRET-OUTSIDE")
	for name, content := range map[string][]byte{
		filepath.Join(dir, "secret.txt"):         secret,
		filepath.Join(root, "inside.txt"):        []byte("inside"),
		filepath.Join(root, "docs", "spec.yaml"): []byte("spec"),
	} {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(name, content, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for link, to := range map[string]string{
		filepath.Join(root, "out-link.txt"):      filepath.Join(dir, "secret.txt"),
		filepath.Join(root, "docs", "rel-link"):  "../../secret.txt",
		filepath.Join(root, "dir-link"):          dir,
		filepath.Join(root, "docs", "in-link"):   "../inside.txt",
		filepath.Join(root, "docs", "loop-link"): "loop-link",
	} {
		if err := os.Symlink(to, link); err != nil {
			f.Fatal(err)
		}
	}
	for _, seed := range []string{"./spec.yaml", "../inside.txt", "in-link", "../secret.txt", "../../secret.txt",
		filepath.Join(dir, "secret.txt"), "../out-link.txt", "rel-link", "../dir-link/secret.txt", "loop-link",
		"./../docs/../../secret.txt", "", ".", "..", "/", "\x00", "../dir-link/repo/inside.txt"} {
		f.Add(seed)
	}
	base := filepath.Join(root, "docs", "catalog-info.yaml")
	r := processing.FileReader{}
	f.Fuzz(func(t *testing.T, value string) {
		target, err := r.Resolve(base, value)
		if err != nil {
			return
		}
		data, err := r.ReadFile(context.Background(), target, root, 1<<20)
		if err == nil && bytes.Contains(data, secret) {
			t.Fatalf("%q read the file outside the location's folder", value)
		}
	})
}
