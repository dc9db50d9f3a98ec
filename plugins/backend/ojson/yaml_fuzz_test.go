package ojson

import (
	"fmt"
	"testing"
)

// FuzzDecodeYAMLDocuments feeds hostile YAML to the entity reader: it must
// not panic, its output must stay within the input's size plus the alias
// budget, and parsing in pieces (cut small, so that fuzzed inputs are cut
// at all) must give exactly what one sequential parse gives. Seeds: the
// corpus of TestYAMLGolden and testdata/fuzz/FuzzDecodeYAMLDocuments
// (alias bombs, huge scalars, deep nesting, duplicate keys). Run with
//
//	go test ./plugins/backend/ojson -run '^$' -fuzz FuzzDecodeYAMLDocuments -fuzztime 20s
func FuzzDecodeYAMLDocuments(f *testing.F) {
	for _, c := range yamlCases() {
		f.Add([]byte(c.text))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			t.Skip()
		}
		seq := decodeYAMLStream(prepareYAML(data), prepareYAML(data), 0, aliasBudget(prepareYAML(data)), false)
		docs, err := decodeYAMLParallel(data, 4, 8)
		if fmt.Sprint(err) != fmt.Sprint(seq.err) {
			t.Fatalf("pieces: error %v, sequential: %v", err, seq.err)
		}
		if len(docs) != len(seq.docs) {
			t.Fatalf("pieces: %d documents, sequential: %d", len(docs), len(seq.docs))
		}
		units := 0
		for i, d := range docs {
			s := seq.docs[i]
			if d.Line != s.Line || fmt.Sprint(d.Err) != fmt.Sprint(s.Err) || string(MustMarshal(d.Value)) != string(MustMarshal(s.Value)) {
				t.Fatalf("document %d: pieces line %d %v %s, sequential line %d %v %s", i, d.Line, d.Err, MustMarshal(d.Value), s.Line, s.Err, MustMarshal(s.Value))
			}
			units += yamlUnits(d.Value)
		}
		// Every value node needs a byte of input (or is one of the nulls
		// a byte implies), except what aliases add within their budget.
		if limit := 4*len(data) + 16 + aliasBudget(data); units > limit {
			t.Fatalf("%d bytes of YAML decoded to %d units, more than %d", len(data), units, limit)
		}
		if _, err := DecodeYAML(data); err != nil {
			_ = err.Error()
		}
	})
}
