package ojson

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// repeatDocs builds a stream of n documents from doc (with %d for the index).
func repeatDocs(n int, doc string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, doc, i)
	}
	return b.String()
}

// TestDecodeYAMLDocumentsSplit checks that streams large enough to be parsed
// in pieces give exactly what one sequential parse gives: values, lines and
// errors.
func TestDecodeYAMLDocumentsSplit(t *testing.T) {
	const plain = "---\nkind: Component\nmetadata:\n  name: c-%d\n  description: |\n    text\n    --- not a marker when indented\n    ...\nspec:\n  type: service\n"
	tests := []struct {
		name   string
		stream string
		split  bool // whether the stream is expected to be cut at all
		err    bool
	}{
		{"explicit documents", repeatDocs(3000, plain), true, false},
		{"implicit first document", "a: 1\n" + repeatDocs(3000, plain), true, false},
		{"comments and empty documents", "# head\n" + repeatDocs(10000, "--- # doc %d\n---\nx: [1, 2]\n...\n"), true, false},
		{"marker with content", repeatDocs(10000, "--- {name: n%d, v: 1.5}\n"), true, false},
		{"crlf", strings.ReplaceAll(repeatDocs(3000, plain), "\n", "\r\n"), true, false},
		{"syntax error late", repeatDocs(3000, plain) + "---\na: [\n" + repeatDocs(10, plain), true, true},
		{"alias to an earlier document", "---\nbase: &b {x: 1}\n" + repeatDocs(12000, "---\nv%d: *b\n"), true, false},
		{"directives", "%TAG !e! tag:example.com,2000:\n" + repeatDocs(3000, plain), false, false},
		{"lone cr", repeatDocs(3000, "---\r\na: %d\rb: 2\n"), false, false},
		{"small", repeatDocs(10, plain), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.stream)
			if got := len(splitYAMLStream(data, 4, minYAMLPiece)) > 1; got != tt.split {
				t.Errorf("split = %v, want %v", got, tt.split)
			}
			seq := decodeYAMLStream(data, data, 0, aliasBudget(data), false)
			want, wantErr := seq.docs, seq.err
			got, gotErr := DecodeYAMLDocuments(data)
			if (wantErr != nil) != tt.err {
				t.Fatalf("sequential error = %v, want error %v", wantErr, tt.err)
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("error = %v, want %v", gotErr, wantErr)
			}
			if len(got) != len(want) {
				t.Fatalf("%d documents, want %d", len(got), len(want))
			}
			for i := range want {
				g, w := got[i], want[i]
				if g.Line != w.Line || fmt.Sprint(g.Err) != fmt.Sprint(w.Err) || string(MustMarshal(g.Value)) != string(MustMarshal(w.Value)) {
					t.Fatalf("document %d = line %d %s %v, want line %d %s %v", i, g.Line, MustMarshal(g.Value), g.Err, w.Line, MustMarshal(w.Value), w.Err)
				}
			}
		})
	}
}

func TestDocMarkerAfter(t *testing.T) {
	tests := []struct {
		data string
		from int
		want int
	}{
		{"a: 1\n---\nb: 2\n", 0, 5},
		{"a: 1\n---\nb: 2\n", 5, 5},
		{"a: 1\n---\nb: 2\n", 6, -1},
		{"a: 1\n----\n--- x\n", 1, 10},
		{"a: 1\n---", 2, 5},
		{"a: 1\n---x\n ---\n", 0, -1},
	}
	for _, tt := range tests {
		if got := docMarkerAfter([]byte(tt.data), tt.from); got != tt.want {
			t.Errorf("docMarkerAfter(%q, %d) = %d, want %d", tt.data, tt.from, got, tt.want)
		}
	}
}

func BenchmarkDecodeYAMLDocuments10k(b *testing.B) {
	data := []byte(repeatDocs(10000, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: gen-%05d\n  description: Generated component\n  tags: [gen, t1]\nspec:\n  type: service\n  lifecycle: production\n  owner: team-1\n  system: system-1\n"))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := DecodeYAMLDocuments(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeYAMLStreamSequential10k(b *testing.B) {
	data := []byte(repeatDocs(10000, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: gen-%05d\n  description: Generated component\n  tags: [gen, t1]\nspec:\n  type: service\n  lifecycle: production\n  owner: team-1\n  system: system-1\n"))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if r := decodeYAMLStream(data, data, 0, aliasBudget(data), false); r.err != nil {
			b.Fatal(r.err)
		}
	}
}

// yamlUnits measures a value the way the alias budget does: one per node,
// one more per 64 bytes of a string.
func yamlUnits(v any) int {
	switch t := v.(type) {
	case *Object:
		n := 1
		for _, m := range t.Members {
			n += 1 + len(m.Key)/64 + yamlUnits(m.Value)
		}
		return n
	case []any:
		n := 1
		for _, e := range t {
			n += yamlUnits(e)
		}
		return n
	case string:
		return 1 + len(t)/64
	}
	return 1
}

// heapGrowth runs f and returns how many bytes it allocated.
func heapGrowth(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestYAMLAliasExpansionIsBounded: alias bombs are refused with Backstage's
// error (eemeli/yaml's maxAliasCount of 100, recorded in
// testdata/yaml/alias-*.json), in bounded memory, wherever the YAML is
// read.
func TestYAMLAliasExpansionIsBounded(t *testing.T) {
	laughs := func(levels int) string {
		return "kind: Component\nmetadata: {name: bomb}\nspec:\n" + billionLaughs("  ", levels)
	}
	// Aliases within Backstage's count but expanding far beyond the input:
	// the expansion budget stops them.
	var wide strings.Builder
	for i := range 40 {
		fmt.Fprintf(&wide, "a%d: &a%d [%sx]\nb%d: [%s*a%d]\n", i, i, strings.Repeat("x, ", 999), i, strings.Repeat(fmt.Sprintf("*a%d, ", i), 98), i)
	}
	tests := []struct {
		name string
		yaml string
	}{
		{"five levels of ten", laughs(5)},
		{"billion laughs", laughs(9)}, // 544 bytes
		{"within the alias count, beyond the budget", wide.String()},
		{"as keys", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c {*b : 1}\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var docs []YAMLDocument
			var derr, serr error
			grown := heapGrowth(func() {
				docs, derr = DecodeYAMLDocuments([]byte(tt.yaml))
				_, serr = DecodeYAML([]byte(tt.yaml))
			})
			if derr != nil || len(docs) != 1 {
				t.Fatalf("DecodeYAMLDocuments = %d documents, %v", len(docs), derr)
			}
			for _, err := range []error{docs[0].Err, serr} {
				var ye *YAMLError
				if !errors.As(err, &ye) || !ye.Thrown() || ye.Error() != "ReferenceError: "+msgExcessiveAlias {
					t.Errorf("error = %v, want ReferenceError: %s", err, msgExcessiveAlias)
				}
			}
			if grown > 256<<20 {
				t.Errorf("decoding allocated %d MB", grown>>20)
			}
		})
	}
}

// TestDecodeYAMLErrorsLikeYAMLParse: DecodeYAML is Backstage's YAML.parse
// (its config loader): the first error of the document, or of a second
// document, is the error.
func TestDecodeYAMLErrorsLikeYAMLParse(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // the error, "" for none
		value    string
	}{
		{"empty", "", "", "null"},
		{"comment only", "# nothing\n", "", "null"},
		{"duplicate key", "app:\n  title: a\n  title: b\n", "YAMLParseError: Map keys must be unique at line 3, column 3:\n\n  title: a\n  title: b\n  ^\n", ""},
		// Recorded with the oracle's yaml package (YAML.parse).
		{"two documents", "a: 1\n---\nb: 2\n", "YAMLParseError: Source contains multiple documents; please use YAML.parseAllDocuments() at line 2, column 1:\n\na: 1\n---\n^\n", ""},
		{"error before a second document", "a: 1\na: 2\n---\nb: 2\n", "YAMLParseError: Map keys must be unique at line 2, column 1:\n\na: 1\na: 2\n^\n", ""},
		{"unresolved alias", "a: *x\n", "ReferenceError: Unresolved alias (the anchor must be set before the alias): x", ""},
		{"unresolved alias before a second document", "a: *x\n---\nb: 1\n", "YAMLParseError: " + msgMultipleDocs + " at line 2, column 1:\n\na: *x\n---\n^\n", ""},
		{"syntax error in a second document", "a: 1\n---\nb: [\n", "YAMLParseError: " + msgMultipleDocs + " at line 2, column 1:\n\na: 1\n---\n^\n", ""},
		{"empty second document", "a: 1\n---\n\n", "YAMLParseError: " + msgMultipleDocs + " at line 2, column 1:\n\na: 1\n---\n^^^\n", ""},
		{"second document after a comment", "a: 1\n--- # c\n", "YAMLParseError: " + msgMultipleDocs + " at line 2, column 1:\n\na: 1\n--- # c\n^\n", ""},
		// Found by FuzzDecodeYAMLDocuments (seed alias-unresolved).
		{"unresolved alias in a second document", "a: 1\n---\nb: *nope\n", "YAMLParseError: " + msgMultipleDocs + " at line 2, column 1:\n\na: 1\n---\n^\n", ""},
		{"block scalar at the end", "a: |\n  x", "", `{"a":"x\n"}`},
		{"aliases", "a: &a {b: 1}\nc: *a\n", "", `{"a":{"b":1},"c":{"b":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := DecodeYAML([]byte(tt.in))
			if fmt.Sprint(err) != tt.want && !(err == nil && tt.want == "") {
				t.Fatalf("error = %q, want %q", fmt.Sprint(err), tt.want)
			}
			if tt.want == "" && string(MustMarshal(v)) != tt.value {
				t.Errorf("value = %s, want %s", MustMarshal(v), tt.value)
			}
		})
	}
}

// TestYAMLNestingIsBounded: nesting deeper than Node's stack allows in
// Backstage's parser is refused with its message, placed at the first
// collection too deep (Backstage's own limit moves with the JIT between
// about 800 and 900 levels); deeper than yaml.v3 allows is refused too.
func TestYAMLNestingIsBounded(t *testing.T) {
	flow := func(n int) string { return "a: " + strings.Repeat("[", n) + strings.Repeat("]", n) + "\n" }
	tests := []struct {
		name, in, want string
	}{
		{"at the limit", flow(maxNestingDepth - 1), ""},
		{"flow", flow(1000), "YAMLParseError: " + msgStackExceeded + " at line 1, column 803:"},
		{"block", "a:\n" + deepBlock(maxNestingDepth+5, 1), "YAMLParseError: " + msgStackExceeded + " at line 801, column 801:"},
		{"beyond yaml.v3", flow(20000), "YAMLParseError: "},
		{"through aliases", "a: &a " + strings.Repeat("[", 700) + strings.Repeat("]", 700) + "\nb: &b " + strings.Repeat("[", 600) + "*a" + strings.Repeat("]", 600) + "\nc: " + strings.Repeat("[", 600) + "*b" + strings.Repeat("]", 600) + "\n",
			"RangeError: " + msgStackExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := DecodeYAMLDocuments([]byte(tt.in))
			if err == nil && len(docs) == 1 {
				err = docs[0].Err
			}
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q...", err, tt.want)
			}
		})
	}
}

// TestCoreSchemaMatchers checks the hand-written tests of the core schema
// against eemeli/yaml's regular expressions.
func TestCoreSchemaMatchers(t *testing.T) {
	res := map[string]*regexp.Regexp{
		"null": regexp.MustCompile(`^(?:~|[Nn]ull|NULL)?$`),
		"bool": regexp.MustCompile(`^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$`),
		"int":  regexp.MustCompile(`^0o[0-7]+$|^[-+]?[0-9]+$|^0x[0-9a-fA-F]+$`),
		"nan":  regexp.MustCompile(`^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$`),
		"float": regexp.MustCompile(`^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$|` +
			`^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$`),
	}
	var words []string
	parts := []string{"", "+", "-", "0", "1", "9", "07", "0o", "0o7", "0o8", "0x", "0xF", "0xg", ".", "e", "E", "e+", "e-3", "1e", ".5", "5.", "_", "~", "null", "Null", "nULL", "true", "tRue", "FALSE", "inf", ".inf", ".Inf", ".nan", ".nAn", "x", " "}
	for _, a := range parts {
		for _, b := range parts {
			words = append(words, a+b)
			for _, c := range parts[:12] {
				words = append(words, a+b+c)
			}
		}
	}
	for _, w := range words {
		_, nanOK := resolveFloat(w)
		got := map[string]bool{
			"null":  isCoreNull(w),
			"bool":  isCoreBool(w),
			"int":   func() bool { _, ok := resolveInt(w); return ok }(),
			"nan":   nanOK && !isCoreFloat(w),
			"float": isCoreFloat(w),
		}
		for name, re := range res {
			if got[name] != re.MatchString(w) {
				t.Errorf("%s(%q) = %v, regexp says %v", name, w, got[name], !got[name])
			}
		}
	}
}
