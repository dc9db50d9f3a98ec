package ojson

import (
	"fmt"
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
			if got := len(splitYAMLStream(data, 4)) > 1; got != tt.split {
				t.Errorf("split = %v, want %v", got, tt.split)
			}
			want, wantErr := decodeYAMLStream(data, 0)
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
		if _, err := decodeYAMLStream(data, 0); err != nil {
			b.Fatal(err)
		}
	}
}
