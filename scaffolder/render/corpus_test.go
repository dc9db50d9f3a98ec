package render

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

// The conformance corpus: templates whose expected results were recorded
// from the real scaffolder (Backstage 1.55, nunjitsu) through POST
// /api/scaffolder/v2/dry-run. Re-record with
//
//	UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 go test ./scaffolder/render -run TestRecordCorpus
//
// Kinds: "value" is a spec.output entry (typed result, or undefined when the
// key is dropped; a step input that fails to render keeps its text); "file"
// is a skeleton file rendered by fetch:template (contents, or the dry-run
// error's message and name); "filename" is a templated file name.
// TestGeneratedDifferential (generate_test.go) finds new cases to add.
type corpusEntry struct {
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Template string          `json:"template"`
	Content  string          `json:"content,omitempty"`
	Options  *corpusOptions  `json:"options,omitempty"`
	Expected json.RawMessage `json:"expected,omitempty"`
}

type corpusOptions struct {
	CookiecutterCompat bool `json:"cookiecutterCompat,omitempty"`
	TrimBlocks         bool `json:"trimBlocks,omitempty"`
	LstripBlocks       bool `json:"lstripBlocks,omitempty"`
}

type corpusFile struct {
	Values  json.RawMessage `json:"values"`
	Entries []corpusEntry   `json:"entries"`
}

// expectation is the recorded oracle answer of one entry.
type expectation struct {
	Value     json.RawMessage   `json:"value,omitempty"`
	Undefined bool              `json:"undefined,omitempty"`
	Files     map[string]string `json:"files,omitempty"`
	Error     string            `json:"error,omitempty"`
	// ErrorName is the error's name in Backstage's envelope
	// (TemplateRenderError, TemplateLimitError).
	ErrorName string `json:"errorName,omitempty"`
}

const corpusPath = "testdata/corpus.json"

func loadCorpus(t *testing.T) *corpusFile {
	t.Helper()
	c, err := loadCorpusFile()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadCorpusFile() (*corpusFile, error) {
	b, err := os.ReadFile(corpusPath)
	if err != nil {
		return nil, err
	}
	var c corpusFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// knownDifferences lists entries whose oracle answer we deliberately do not
// reproduce, with the reason. It is empty: every recorded entry matches.
var knownDifferences = map[string]string{}

func TestCorpus(t *testing.T) {
	c := loadCorpus(t)
	values, err := ojson.Decode(c.Values)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	matched, total := 0, 0
	for _, e := range c.Entries {
		if len(e.Expected) == 0 {
			continue
		}
		total++
		var want expectation
		if err := json.Unmarshal(e.Expected, &want); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		got := replay(ctx, e, values)
		if sameExpectation(got, want) {
			matched++
			continue
		}
		if reason, ok := knownDifferences[e.ID]; ok {
			t.Logf("%s: known difference (%s)", e.ID, reason)
			continue
		}
		gb, _ := json.Marshal(got)
		t.Errorf("%s %q:\n got  %s\n want %s", e.ID, e.Template, gb, e.Expected)
	}
	t.Logf("corpus: %d of %d entries match the oracle", matched, total)
	if total < 150 {
		t.Errorf("corpus has only %d recorded entries", total)
	}
}

func sameExpectation(a, b expectation) bool {
	if a.Undefined != b.Undefined || a.Error != b.Error || a.ErrorName != b.ErrorName || len(a.Files) != len(b.Files) {
		return false
	}
	for k, v := range a.Files {
		if b.Files[k] != v {
			return false
		}
	}
	if len(a.Value) == 0 || len(b.Value) == 0 {
		return len(a.Value) == len(b.Value)
	}
	av, err1 := ojson.Decode(a.Value)
	bv, err2 := ojson.Decode(b.Value)
	if err1 != nil || err2 != nil {
		return false
	}
	return bytes.Equal(ojson.MustMarshal(av), ojson.MustMarshal(bv))
}

func entryOptions(e corpusEntry) Options {
	var o Options
	if e.Options != nil {
		o.CookiecutterCompat = e.Options.CookiecutterCompat
		o.TrimBlocks = e.Options.TrimBlocks
		o.LstripBlocks = e.Options.LstripBlocks
	}
	return o
}

func replay(ctx context.Context, e corpusEntry, values any) expectation {
	switch e.Kind {
	case "value":
		// The workflow runner supplies always() and failure(); no step failed.
		opts := Options{Globals: map[string]any{
			"always":  Func(func(...any) (any, error) { return true, nil }),
			"failure": Func(func(...any) (any, error) { return false, nil }),
		}}
		out, err := RenderValue(ctx, ojson.NewObject("v", e.Template), map[string]any{"parameters": values}, opts)
		if err != nil {
			return expectation{Error: err.Error()}
		}
		v, ok := out.(*ojson.Object).Get("v")
		if !ok {
			return expectation{Undefined: true}
		}
		return expectation{Value: ojson.MustMarshal(v)}
	case "file", "filename":
		opts := entryOptions(e)
		key := "values"
		if opts.CookiecutterCompat {
			key = "cookiecutter"
		}
		vars := map[string]any{key: values}
		name, content := "f.txt", e.Template
		if e.Kind == "filename" {
			name, content = e.Template, e.Content
		}
		rname, err := RenderString(ctx, name, vars, opts)
		if err != nil {
			return errorExpectation(err)
		}
		rcontent, err := RenderString(ctx, content, vars, opts)
		if err != nil {
			return errorExpectation(err)
		}
		files := map[string]string{}
		if rname != "" {
			files["out/"+rname] = rcontent
		}
		return expectation{Files: files}
	}
	return expectation{Error: "unknown kind " + e.Kind}
}

func errorExpectation(err error) expectation {
	name := "Error"
	if n, ok := err.(interface{ Name() string }); ok {
		name = n.Name()
	}
	return expectation{Error: err.Error(), ErrorName: name}
}

// ---- recorder ----

func TestRecordCorpus(t *testing.T) {
	base := os.Getenv("UNDERSTAGE_RECORD_SCAFFOLDER")
	if base == "" {
		t.Skip("set UNDERSTAGE_RECORD_SCAFFOLDER=http://127.0.0.1:7150 to record from the oracle")
	}
	c := loadCorpus(t)
	recordEntries(t, base, c)
	out, err := json.MarshalIndent(c, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corpusPath, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// recordEntries asks the oracle for every entry's expectation.
func recordEntries(t *testing.T, base string, c *corpusFile) {
	t.Helper()
	// Raw JSON keeps the key order of the values (a Go map would sort it).
	params := c.Values
	// All value entries go into one template's spec.output.
	output := map[string]string{}
	for _, e := range c.Entries {
		if e.Kind == "value" {
			output[e.ID] = e.Template
		}
	}
	spec := map[string]any{
		"type": "x", "parameters": map[string]any{},
		"steps":  []any{map[string]any{"id": "s", "action": "debug:log", "input": map[string]any{"message": "m"}}},
		"output": output,
	}
	resp, status := dryRun(t, base, spec, params, nil)
	if status != 200 {
		t.Fatalf("value dry-run: %d %s", status, resp)
	}
	var vr struct {
		Output map[string]json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(resp, &vr); err != nil {
		t.Fatal(err)
	}
	batched := recordFileBatches(t, base, c.Entries, params)
	for i, e := range c.Entries {
		var exp expectation
		switch e.Kind {
		case "value":
			if v, ok := vr.Output[e.ID]; ok {
				exp.Value = v
			} else {
				exp.Undefined = true
			}
		case "file", "filename":
			var ok bool
			if exp, ok = batched[e.ID]; !ok {
				exp = recordFile(t, base, e, params)
			}
		default:
			continue
		}
		b, err := json.Marshal(exp)
		if err != nil {
			t.Fatal(err)
		}
		c.Entries[i].Expected = b
	}
}

// recordFileBatches records the "file" entries that share options in one
// dry-run each, every entry in its own folder; a batch that fails (one of
// its entries is an error case) is left to recordFile entry by entry.
func recordFileBatches(t *testing.T, base string, entries []corpusEntry, params any) map[string]expectation {
	groups := map[corpusOptions][]corpusEntry{}
	for _, e := range entries {
		if e.Kind != "file" {
			continue
		}
		var o corpusOptions
		if e.Options != nil {
			o = *e.Options
		}
		groups[o] = append(groups[o], e)
	}
	out := map[string]expectation{}
	for o, group := range groups {
		for start := 0; start < len(group); start += 40 {
			part := group[start:min(start+40, len(group))]
			var files []any
			for _, e := range part {
				files = append(files, map[string]any{"path": "skeleton/" + e.ID + "/f.txt", "base64Content": base64.StdEncoding.EncodeToString([]byte(e.Template))})
			}
			spec := fileSpec(&o)
			resp, status := dryRun(t, base, spec, params, files)
			if status != 200 {
				continue
			}
			got := dryRunFiles(t, resp)
			for _, e := range part {
				prefix := "out/" + e.ID + "/"
				files := map[string]string{}
				for p, c := range got {
					if strings.HasPrefix(p, prefix) {
						files["out/"+strings.TrimPrefix(p, prefix)] = c
					}
				}
				out[e.ID] = expectation{Files: files}
			}
		}
	}
	return out
}

func fileSpec(o *corpusOptions) map[string]any {
	input := map[string]any{"url": "./skeleton", "targetPath": "./out", "values": "${{ parameters }}"}
	if o != nil {
		if o.CookiecutterCompat {
			input["cookiecutterCompat"] = true
		}
		if o.TrimBlocks {
			input["trimBlocks"] = true
		}
		if o.LstripBlocks {
			input["lstripBlocks"] = true
		}
	}
	return map[string]any{
		"type": "x", "parameters": map[string]any{},
		"steps": []any{map[string]any{"id": "f", "action": "fetch:template", "input": input}},
	}
}

func dryRunFiles(t *testing.T, resp []byte) map[string]string {
	t.Helper()
	var fr struct {
		DirectoryContents []struct {
			Path          string `json:"path"`
			Base64Content string `json:"base64Content"`
		} `json:"directoryContents"`
	}
	if err := json.Unmarshal(resp, &fr); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, f := range fr.DirectoryContents {
		if !strings.HasPrefix(f.Path, "out/") {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(f.Base64Content)
		if err != nil {
			t.Fatal(err)
		}
		out[f.Path] = string(b)
	}
	return out
}

func recordFile(t *testing.T, base string, e corpusEntry, params any) expectation {
	name, content := "f.txt", e.Template
	if e.Kind == "filename" {
		name, content = e.Template, e.Content
	}
	spec := fileSpec(e.Options)
	files := []any{map[string]any{"path": "skeleton/" + name, "base64Content": base64.StdEncoding.EncodeToString([]byte(content))}}
	resp, status := dryRun(t, base, spec, params, files)
	if status != 200 {
		var er struct {
			Error struct{ Name, Message string } `json:"error"`
		}
		if err := json.Unmarshal(resp, &er); err != nil || er.Error.Message == "" {
			t.Fatalf("%s: %d %s", e.ID, status, resp)
		}
		return expectation{Error: er.Error.Message, ErrorName: er.Error.Name}
	}
	return expectation{Files: dryRunFiles(t, resp)}
}

func dryRun(t *testing.T, base string, spec map[string]any, values any, files []any) ([]byte, int) {
	t.Helper()
	if files == nil {
		files = []any{}
	}
	body := map[string]any{
		"template": map[string]any{
			"apiVersion": "scaffolder.backstage.io/v1beta3", "kind": "Template",
			"metadata": map[string]any{"name": "t"}, "spec": spec,
		},
		"values":            values,
		"directoryContents": files,
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(base+"/api/scaffolder/v2/dry-run", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return rb, resp.StatusCode
}
