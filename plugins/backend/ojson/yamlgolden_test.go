package ojson

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The YAML corpus: catalog files (testdata/yaml/<case>.yaml, written from
// yamlCases) registered with the real Backstage backend, whose answers are
// recorded in testdata/yaml/<case>.json: the stored entities (read back
// through GET /entities/by-name after a real POST /locations) or, for a
// file Backstage refuses, the error of a POST /locations?dryRun=true.
// TestYAMLGolden replays them through DecodeYAMLDocuments (and
// catalog/httpapi through the whole dry run). Re-record with
//
//	UNDERSTAGE_RECORD_YAML=http://127.0.0.1:7150 go test ./plugins/backend/ojson -run TestRecordYAMLGolden
//
// (the oracle must read files under the OS temp directory; every case
// writes its file there).

const yamlGoldenDir = "testdata/yaml"

type yamlCase struct {
	name string
	text string
}

// head starts a Component entity whose spec goes on.
func head(name string) string {
	return "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name + "\nspec:\n  type: service\n  owner: me\n  lifecycle: x\n"
}

func yamlCases() []yamlCase {
	var cs []yamlCase
	add := func(name, text string) { cs = append(cs, yamlCase{name, text}) }

	// Block scalars ending the file, with and without its last line break.
	for _, ind := range []struct{ name, text string }{
		{"literal-clip", "|"}, {"literal-strip", "|-"}, {"literal-keep", "|+"},
		{"folded-clip", ">"}, {"folded-strip", ">-"}, {"folded-keep", ">+"},
	} {
		body := head("eof-"+ind.name) + "  definition: " + ind.text + "\n    openapi: 3.0.0\n    info:\n      title: x"
		add("eof-"+ind.name+"-no-newline", body)
		add("eof-"+ind.name+"-newline", body+"\n")
		add("eof-"+ind.name+"-blank-lines", body+"\n\n\n")
		add("eof-"+ind.name+"-spaces", body+"\n\n  ")
	}
	add("eof-multidoc", head("eof-multi-1")+"  a: |\n    one\n---\n"+head("eof-multi-2")+"  a: >-\n    two\n...\n---\n"+head("eof-multi-3")+"  a: |+\n    three\n\n---\n"+head("eof-multi-4")+"  a: |\n    four")
	add("eof-plain-no-newline", head("eof-plain")+"  a: last")
	add("eof-comment-no-newline", head("eof-comment")+"  a: |\n    text\n# done")
	add("eof-document-end", head("eof-dots")+"  a: |\n    text\n...")

	// Encoding and line ends.
	add("bom", "\ufeff"+head("bom")+"  a: 1\n")
	add("bom-multidoc", "\ufeff---\n"+head("bom-multi-1")+"---\n"+head("bom-multi-2"))
	add("crlf", strings.ReplaceAll(head("crlf")+"  lit: |\n    a\n    b\n  keep: |+\n    a\n\n  fold: >\n    a\n    b\n\n    c\n  strip: |-\n    a\n  q: \"x\n    y\"\n...\n---\n"+head("crlf-2")+"  end: |\n    z", "\n", "\r\n"))
	add("crlf-no-final-newline", strings.ReplaceAll(head("crlf-eof")+"  end: |\n    z", "\n", "\r\n"))

	// Comments, markers and empty documents.
	add("comments", "# top\n\n---   # marker comment\n# before\napiVersion: backstage.io/v1alpha1 # trailing\nkind: Component\nmetadata:\n  # inside\n  name: comments # name\n  tags: [a, # in flow\n    b]\nspec: # spec\n  type: service\n  owner: me\n  lifecycle: x\n  lit: | # after indicator\n    # not a comment\n    text\n  # between\n  seq:\n    # first\n    - 1 # one\n\n    - 2\n# after\n...\n# end\n")
	add("markers", "---\n---\n"+head("markers-1")+"...\n---\n...\n--- # c\n"+head("markers-2")+"---\n")
	add("document-end-then-implicit", head("doc-end-1")+"...\n"+head("doc-end-2"))
	add("only-empty-documents", "---\n...\n---\n# nothing\n")
	add("yaml-1.2-directive", "%YAML 1.2\n---\n"+head("directive")+"  a: 0o17\n")

	// Scalars: YAML 1.2 core schema as eemeli/yaml resolves it.
	add("scalars", head("scalars")+"  bools: [true, True, TRUE, false, False, FALSE, tRue, yes, no, on, off, y, n, Yes, NO, On]\n"+
		"  nulls: [~, null, Null, NULL, nULL, '', \"~\"]\n  empty:\n"+
		"  ints: [0, -0, +12, 017, 0o17, 0o8, 0x1F, 0x1f, 0X1F, 0b101, 1_000, 12345678901234567890, 9007199254740993, 0x1FFFFFFFFFFFFFFFFF, 00, 08]\n"+
		"  floats: [1.5, 1., .5, -.5, +.5e3, 1e3, 1E-3, 1.5e-7, 1e21, 1e400, -1e400, 1e-400, 0.0, -0.0, 3.14159265358979323846, 1_0.5]\n"+
		"  special: [.inf, +.inf, -.inf, .Inf, -.INF, .nan, .NaN, .NAN, .nAn, inf, nan]\n"+
		"  times: [2021-01-01, 2021-01-01T10:00:00Z, 2001-12-14 21:59:43.10 -5, 12:30:00, 1:20]\n"+
		"  strings: [\"1\", '2', \"true\", 'null', 1.2.3, 1e, 0x, 0o, 1-2, \"a\\tb\\u00e9\\x41\", 'it''s']\n  plus: +\n  dot: .\n")
	add("tags", head("tags")+"  str: [!!str 1, !!str true, !!str null, !!str 1.5, !!str ~]\n"+
		"  int: [!!int 12, !!int \"7\", !!int 0x10, !!int 1.5, !!int abc]\n"+
		"  float: [!!float 1.5, !!float 3, !!float \"2.5\", !!float 1e3]\n"+
		"  bool: [!!bool true, !!bool yes, !!bool \"false\"]\n"+
		"  null: [!!null \"\", !!null ~, !!null x]\n"+
		"  binary: !!binary aGVsbG8=\n"+
		"  binaryBlock: !!binary |\n    aGVs\n    bG8=\n"+
		"  timestamps: [!!timestamp 2021-01-01, !!timestamp 2001-12-14t21:59:43.10-05:00, !!timestamp \"2001-12-14 21:59:43.1 +5\"]\n"+
		"  local: !foo bar\n  localMap: !foo {x: 1}\n  verbatim: !<tag:yaml.org,2002:str> 12\n"+
		"  set: !!set {a, b}\n  omap: !!omap [a: 1, b: 2]\n  pairs: !!pairs [a: 1, a: 2]\n"+
		"  mapOnSeq: !!map [1]\n  seqOnMap: !!seq {a: 1}\n  strOnMap: !!str {a: 1}\n")
	add("bad-timestamp", head("bad-timestamp")+"  t: !!timestamp yesterday\n")
	add("keys", head("keys")+"  order: {b: 1, \"2\": x, a: 3, \"1\": y, \"-1\": z, \"01\": w, 4294967295: q, 4294967294: r, 10: s}\n"+
		"  scalarKeys: {1: a, 1.5: b, true: c, null: d, 0x10: e, 1e3: f, .inf: g, -.inf: h, .nan: i}\n"+
		"  collectionKeys:\n    ? [a, b]\n    : 1\n    ? {x: 1}\n    : 2\n    ? []\n    : 3\n"+
		"  merge: {<<: {a: 1}, b: 2}\n")
	add("long-key-ok", head("long-key-ok")+"  "+strings.Repeat("k", 1000)+": 1\n")
	add("long-key", head("long-key")+"  "+strings.Repeat("k", 1030)+": 1\n")
	add("huge-scalar", head("huge-scalar")+"  text: |\n"+strings.Repeat("    "+strings.Repeat("0123456789", 10)+"\n", 1000)+"  plain: "+strings.Repeat("x", 100000)+"\n")
	add("deep", head("deep")+"  flow: "+strings.Repeat("[", 200)+"1"+strings.Repeat("]", 200)+"\n  block:\n"+deepBlock(150, 4))

	// Duplicate keys.
	add("dup-block", head("dup-block")+"  a: 1\n  a: 2\n")
	add("dup-metadata-name", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: dup-a\n  name: dup-b\nspec: {type: service, owner: me, lifecycle: x}\n")
	add("dup-flow", "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: dup-flow-a, name: dup-flow-b}\nspec: {type: service, owner: me, lifecycle: x}\n")
	add("dup-values", head("dup-values")+"  m: {1: a, 1.0: b}\n")
	add("dup-not", head("dup-not")+"  m: {1: a, \"1\": b, true: c, \"true\": d, .nan: e, .NaN: f}\n")
	add("dup-null", head("dup-null")+"  m:\n    ~: 1\n    null: 2\n")
	add("dup-props", head("dup-props")+"  m:\n    k: 1\n    &x k: 2\n  n:\n    k: 1\n    !!str k: 2\n")
	add("dup-explicit-quoted", head("dup-explicit")+"  m:\n    \"k\": 1\n    ? 'k'\n    : 2\n")
	add("dup-merge-keys", head("dup-merge")+"  base: &b {x: 1}\n  m:\n    <<: *b\n    <<: *b\n")
	add("dup-unicode", head("dup-unicode")+"  m: {é😀: 1, é😀: 2}\n")
	add("dup-long-line", head("dup-long-line")+"  m: {"+strings.Repeat("a", 100)+": 1, "+strings.Repeat("a", 100)+": 2}\n")
	add("dup-bom-first-line", "\ufeff{apiVersion: x, apiVersion: y}\n")
	add("dup-crlf", strings.ReplaceAll(head("dup-crlf")+"  a: 1\n  a: 2\n", "\n", "\r\n"))
	add("dup-multidoc", head("dup-multi-1")+"---\n"+head("dup-multi-2")+"  a: 1\n  a: 2\n---\n"+head("dup-multi-3")+"  b: 1\n  b: 2\n---\n"+head("dup-multi-4"))
	add("dup-alias-keys", head("dup-alias-keys")+"  k: &k kk\n  m:\n    *k : 1\n    *k : 2\n    kk: 3\n")

	// Aliases.
	add("aliases", head("aliases")+"  base: &base {owner: team-a, tags: [a, b]}\n  copy: *base\n  merged:\n    <<: *base\n    extra: 1\n  list: &l [1, 2]\n  lists: [*l, *l]\n  scalar: &s text\n  again: *s\n")
	add("alias-99", head("alias-99")+"  a: &a x\n  b: ["+strings.Repeat("*a, ", 98)+"*a]\n")
	add("alias-100", head("alias-100")+"  a: &a x\n  b: ["+strings.Repeat("*a, ", 99)+"*a]\n")
	add("alias-empty", head("alias-empty")+"  a: &a []\n  b: ["+strings.Repeat("*a, ", 499)+"*a]\n")
	add("alias-nested", head("alias-nested")+"  a: &a [x, x, x]\n  b: &b [*a, *a, *a]\n  c: &c [*b, *b, *b]\n  d: [*c, *c]\n")
	add("alias-bomb", head("alias-bomb-before")+"---\n"+head("alias-bomb")+billionLaughs("  ", 9)+"---\n"+head("alias-bomb-after"))
	add("alias-unresolved", head("alias-unresolved")+"  a: *nope\n")
	add("alias-other-document", head("alias-doc-1")+"  a: &x 1\n---\n"+head("alias-doc-2")+"  b: *x\n")
	add("alias-redefined", head("alias-redefined")+"  a: &x 1\n  b: &x 2\n  c: *x\n")
	return cs
}

// billionLaughs is the classic alias bomb: levels of ten aliases (10^9
// strings once expanded with nine), indented by indent.
func billionLaughs(indent string, levels int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%sl0: &l0 lol\n", indent)
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "%sl%d: &l%d [%s*l%d]\n", indent, i, i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), i-1)
	}
	return b.String()
}

// deepBlock is a block mapping nested depth levels, indented from indent.
func deepBlock(depth, indent int) string {
	var b strings.Builder
	for i := range depth {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", indent+i), i)
	}
	fmt.Fprintf(&b, "%sleaf\n", strings.Repeat(" ", indent+depth))
	return b.String()
}

// yamlGolden is the oracle's answer for one case.
type yamlGolden struct {
	// Error is the message of POST /locations?dryRun=true when Backstage
	// refuses the file ("<file>" stands for its path).
	Error string `json:"error,omitempty"`
	// Entities are the stored entities, by name (Backstage's dry run does
	// not list them in file order).
	Entities []goldenEntity `json:"entities,omitempty"`
}

type goldenEntity struct {
	Name string `json:"name"`
	// Spec is the entity's spec; SpecSHA256 replaces it when large.
	Spec       json.RawMessage `json:"spec,omitempty"`
	SpecSHA256 string          `json:"specSha256,omitempty"`
}

const goldenSpecMax = 16 << 10

func specOf(name string, spec []byte) goldenEntity {
	if len(spec) > goldenSpecMax {
		sum := sha256.Sum256(spec)
		return goldenEntity{Name: name, SpecSHA256: hex.EncodeToString(sum[:])}
	}
	return goldenEntity{Name: name, Spec: spec}
}

func sortEntities(es []goldenEntity) {
	sort.Slice(es, func(i, j int) bool { return es[i].Name < es[j].Name })
}

// replayCase reads a case the way Backstage's catalog reads a file location
// (parseEntityYaml inside the file reader) and answers in the golden's
// terms.
func replayCase(t *testing.T, c yamlCase) yamlGolden {
	t.Helper()
	docs, err := DecodeYAMLDocuments([]byte(c.text))
	var errs []string
	var ents []goldenEntity
	for _, d := range docs {
		if d.Err != nil {
			if ye, ok := d.Err.(*YAMLError); ok && ye.Thrown() {
				errs = append(errs, "file <file> could not be read, "+d.Err.Error())
				break
			}
			errs = append(errs, "YAML error at file:<file>, "+d.Err.Error())
			continue
		}
		o, ok := d.Value.(*Object)
		if !ok {
			continue
		}
		ents = append(ents, specOf(o.Object("metadata").String("name"), MustMarshal(o.Object("spec"))))
	}
	if err != nil {
		errs = append(errs, "YAML error at file:<file>, "+err.Error())
	}
	if len(errs) > 0 {
		return yamlGolden{Error: "Error: " + strings.Join(errs, ", Error: ")}
	}
	sortEntities(ents)
	return yamlGolden{Entities: ents}
}

func TestYAMLGolden(t *testing.T) {
	for _, c := range yamlCases() {
		t.Run(c.name, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join(yamlGoldenDir, c.name+".yaml"))
			if err != nil || string(text) != c.text {
				t.Fatalf("testdata/yaml/%s.yaml is not the case (re-record it): %v", c.name, err)
			}
			raw, err := os.ReadFile(filepath.Join(yamlGoldenDir, c.name+".json"))
			if err != nil {
				t.Fatalf("no golden (record it): %v", err)
			}
			var want yamlGolden
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatal(err)
			}
			got := replayCase(t, c)
			if got.Error != want.Error {
				t.Fatalf("error\n got: %q\nwant: %q", got.Error, want.Error)
			}
			if len(got.Entities) != len(want.Entities) {
				t.Fatalf("%d entities, want %d: %s", len(got.Entities), len(want.Entities), MustMarshal(FromGo(got.Entities)))
			}
			for i, w := range want.Entities {
				g := got.Entities[i]
				if g.Name != w.Name || g.SpecSHA256 != w.SpecSHA256 || !sameJSON(g.Spec, w.Spec) {
					t.Errorf("entity %d\n got: %s %s %s\nwant: %s %s %s", i, g.Name, g.Spec, g.SpecSHA256, w.Name, w.Spec, w.SpecSHA256)
				}
			}
		})
	}
}

// sameJSON compares two JSON texts as ordered values (key order counts,
// as it does for what Backstage serves).
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	va, err1 := Decode(a)
	vb, err2 := Decode(b)
	return err1 == nil && err2 == nil && bytes.Equal(MustMarshal(va), MustMarshal(vb))
}

func TestRecordYAMLGolden(t *testing.T) {
	base := os.Getenv("UNDERSTAGE_RECORD_YAML")
	if base == "" {
		t.Skip("set UNDERSTAGE_RECORD_YAML=http://127.0.0.1:7150 to record from the oracle")
	}
	dir, err := os.MkdirTemp("", "understage-yaml-golden-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range yamlCases() {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(dir, c.name+".yaml")
			if err := os.WriteFile(file, []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(yamlGoldenDir, c.name+".yaml"), []byte(c.text), 0o644); err != nil {
				t.Fatal(err)
			}
			g := recordCase(t, base, file)
			b, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(yamlGoldenDir, c.name+".json"), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func recordCase(t *testing.T, base, file string) yamlGolden {
	body := fmt.Sprintf(`{"type":"file","target":%q}`, file)
	var dry struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
		Entities []struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		} `json:"entities"`
	}
	if status := oracleCall(t, "POST", base+"/api/catalog/locations?dryRun=true", body, &dry); dry.Error != nil {
		if status != http.StatusBadRequest {
			t.Fatalf("dry run: status %d", status)
		}
		return yamlGolden{Error: strings.ReplaceAll(dry.Error.Message, file, "<file>")}
	}
	var created struct {
		Location struct {
			ID string `json:"id"`
		} `json:"location"`
	}
	if status := oracleCall(t, "POST", base+"/api/catalog/locations", body, &created); status != http.StatusCreated {
		t.Fatalf("register: status %d", status)
	}
	defer oracleCall(t, "DELETE", base+"/api/catalog/locations/"+created.Location.ID, "", nil)
	var g yamlGolden
	for _, e := range dry.Entities {
		if e.Kind == "Location" {
			continue
		}
		var stored struct {
			Spec json.RawMessage `json:"spec"`
		}
		deadline := time.Now().Add(90 * time.Second)
		for oracleCall(t, "GET", base+"/api/catalog/entities/by-name/component/default/"+e.Metadata.Name, "", &stored) != http.StatusOK {
			if time.Now().After(deadline) {
				t.Fatalf("%s never stored", e.Metadata.Name)
			}
			time.Sleep(time.Second)
		}
		var spec bytes.Buffer
		if err := json.Compact(&spec, stored.Spec); err != nil {
			t.Fatal(err)
		}
		g.Entities = append(g.Entities, specOf(e.Metadata.Name, spec.Bytes()))
	}
	sortEntities(g.Entities)
	return g
}

func oracleCall(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if out != nil && resp.StatusCode != http.StatusNotFound {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, raw)
		}
	}
	return resp.StatusCode
}
