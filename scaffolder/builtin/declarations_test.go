package builtin

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestEverySchemaFileIsDeclared: each file under schemas/ is the input or
// output schema of a declared action, so none is left behind when an
// action changes or goes.
func TestEverySchemaFileIsDeclared(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("schemas", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("schemas: %v %v", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		used := 0
		for _, a := range Actions(Options{}) {
			if bytes.Equal(a.Input, b) || bytes.Equal(a.Output, b) {
				used++
			}
		}
		if used == 0 {
			t.Errorf("%s is the schema of no declared action", f)
		}
	}
}
