package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

// TestLocationsDryRunYAMLCorpus sends the YAML corpus of plugins/backend/ojson
// (catalog files recorded against Backstage 1.55: block scalars at the end
// of a file, BOM, CRLF, comments, markers, tags, 1.2 scalars, keys,
// duplicate keys, aliases and alias bombs) through the whole dry run of
// POST /locations, and compares the entities or the error with what
// Backstage answered.
func TestLocationsDryRunYAMLCorpus(t *testing.T) {
	b := newLocationsServer(t, false)
	const corpus = "../../plugins/backend/ojson/testdata/yaml"
	files, err := filepath.Glob(filepath.Join(corpus, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(filepath.Join(corpus, name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			var want struct {
				Error    string `json:"error"`
				Entities []struct {
					Name       string          `json:"name"`
					Spec       json.RawMessage `json:"spec"`
					SpecSHA256 string          `json:"specSha256"`
				} `json:"entities"`
			}
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			target := filepath.Join(b.root, name+".yaml")
			if err := os.WriteFile(target, text, 0o644); err != nil {
				t.Fatal(err)
			}
			r := do(t, b.srv, "POST", "/locations?dryRun=true", `{"type":"file","target":"`+target+`"}`)
			if want.Error != "" {
				wantBody := envelope("POST", "/locations?dryRun=true", "InputError", strings.ReplaceAll(want.Error, "<file>", target), 400)
				if r.status != 400 || r.body != wantBody {
					t.Fatalf("dry run %d\n got %s\nwant %s", r.status, r.body, wantBody)
				}
				return
			}
			if r.status != 201 {
				t.Fatalf("dry run %d: %s", r.status, r.body)
			}
			var got struct {
				Entities []*ojson.Object `json:"entities"`
			}
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatal(err)
			}
			var ents []*ojson.Object
			for _, e := range got.Entities {
				if e.String("kind") != "Location" {
					ents = append(ents, e)
				}
			}
			sort.Slice(ents, func(i, j int) bool {
				return ents[i].Object("metadata").String("name") < ents[j].Object("metadata").String("name")
			})
			if len(ents) != len(want.Entities) {
				t.Fatalf("%d entities, want %d: %s", len(ents), len(want.Entities), r.body)
			}
			for i, w := range want.Entities {
				spec := ojson.MustMarshal(ents[i].Object("spec"))
				var ok bool
				if w.SpecSHA256 != "" {
					sum := sha256.Sum256(spec)
					ok = hex.EncodeToString(sum[:]) == w.SpecSHA256
				} else {
					wv, err := ojson.Decode(w.Spec)
					ok = err == nil && string(ojson.MustMarshal(wv)) == string(spec)
				}
				if n := ents[i].Object("metadata").String("name"); n != w.Name || !ok {
					t.Errorf("entity %s spec %s\nwant %s %s", n, spec, w.Name, w.Spec)
				}
			}
		})
	}
}
