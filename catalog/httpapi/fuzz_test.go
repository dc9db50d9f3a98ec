package httpapi

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// The fuzz targets feed hostile input to the three parsers every request
// reaches before any SQL: GET filter parameters, POST predicates and
// cursors. Each must answer an InputError or a parse within the request
// limits, never panic, and keep its answer proportionate to its input.
// Seeds are in testdata/fuzz/<target>; run one with e.g.
//
//	go test ./catalog/httpapi -run '^$' -fuzz FuzzFilterParams -fuzztime 30s

// inputError fails the test unless err is a Backstage InputError.
func inputError(t *testing.T, err error) {
	t.Helper()
	if k := backend.KindOf(err); k != backend.ErrInput {
		t.Fatalf("error is %v (kind %v), want an InputError", err, k)
	}
	if msg := backend.MessageOf(err); msg == "" {
		t.Fatal("InputError without a message")
	}
}

// withinLimits fails unless f stays within the node and value limits.
func withinLimits(t *testing.T, f catalog.Filter) {
	t.Helper()
	if err := filterSizeError(f); err != nil {
		t.Fatalf("compiled filter over the limits: %v", err)
	}
}

// FuzzFilterParams: the `filter` values of a GET request (one per line).
func FuzzFilterParams(f *testing.F) {
	for _, s := range []string{
		"kind=component",
		"kind=component,spec.type=service\nkind=api",
		"metadata.annotations.backstage.io/techdocs-ref=dir:.",
		"=x",
		",,,",
		"spec.type=\nkind",
		"a=b=c,a=d,a",
		"relations.ownedby=group:default/team-a",
		"\u2028kind\u00a0=\u3000x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		values := strings.Split(in, "\n")
		pred, err := FilterParamsPredicate(values)
		if err != nil {
			inputError(t, err)
			return
		}
		if pred == nil {
			return
		}
		// The predicate travels in by-query cursors, where it is validated
		// again. Backstage's cursor refuses keys starting with "$" (found
		// by this target: filter=$x); no filter may trip the depth limit.
		if _, _, err := validatePredicate(pred, []any{"query"}); err != nil {
			t.Fatalf("filter %q built a predicate over the limits: %v", in, err)
		}
		compiled, err := CompilePredicate(pred)
		if err != nil {
			inputError(t, err)
			return
		}
		withinLimits(t, compiled)
		if n := countConditions(compiled); n > len(in)+1 {
			t.Fatalf("%d conditions from %d bytes", n, len(in))
		}
	})
}

// FuzzPredicate: the JSON `query` of POST /entities/by-query.
func FuzzPredicate(f *testing.F) {
	for _, s := range []string{
		`{"kind":"component"}`,
		`{"$all":[{"kind":"component"},{"$not":{"spec.type":{"$in":["service","website"]}}}]}`,
		`{"$any":[{"metadata.name":{"$hasPrefix":"a"}},{"spec.owner":{"$exists":true}}]}`,
		`{"relations":{"$contains":{"type":"ownedBy","targetRef":{"$in":["group:default/a"]}}}}`,
		`{"tags":{"$contains":"java"}}`,
		`{"$not":{"$not":{"$not":{"kind":[]}}}}`,
		`{"$all":[],"kind":1}`,
		`"kind"`,
		`[{"kind":"x"}]`,
		`{"":{"$exists":false}}`,
		`{"$foo":1}`,
		`{"a\u2028b":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := ojson.Decode(in)
		if err != nil {
			return // the body parser refuses it before
		}
		out, msg, err := validatePredicate(v, nil)
		if err != nil {
			inputError(t, err)
			return
		}
		// The quiet run that decides validity agrees with the full one.
		full, quiet := &zctx{}, &zctx{quiet: true}
		fs, fo := newPredicateSchemas().predicate(full, v, nil)
		qs, qo := newPredicateSchemas().predicate(quiet, v, nil)
		if fs != qs || len(full.issues) != quiet.n || !reflect.DeepEqual(fo, qo) {
			t.Fatalf("quiet run: status %v, %d issues, output %v; full run: %v, %d, %v", qs, quiet.n, qo, fs, len(full.issues), fo)
		}
		if msg != "" {
			if !utf8.ValidString(msg) && utf8.Valid(in) {
				t.Fatalf("message is not UTF-8: %q", msg)
			}
			// zod's message repeats paths once per level: quadratic in the
			// depth, which the depth limit bounds.
			if limit := 1000 + 200*len(in)*maxPredicateDepth; len(msg) > limit {
				t.Fatalf("%d-byte message for a %d-byte predicate", len(msg), len(in))
			}
			return
		}
		compiled, err := CompilePredicate(out)
		if err != nil {
			inputError(t, err)
			return
		}
		withinLimits(t, compiled)
	})
}

// FuzzDecodeCursor: the `cursor` of GET and POST /entities/by-query.
func FuzzDecodeCursor(f *testing.F) {
	seed := Cursor{
		OrderFields:      []CursorOrderField{{Field: "metadata.name", Order: "asc"}},
		Query:            ojson.NewObject("kind", "component"),
		FullTextFilter:   &CursorFullText{Term: "pay", Fields: []string{"metadata.name"}},
		OrderFieldValues: []*string{ptr("a"), ptr("0190c2f4-0000-7000-8000-000000000000")},
		TotalItems:       ptr(ojson.Number("3")),
	}
	for _, s := range []string{
		EncodeCursor(seed),
		EncodeCursor(Cursor{OrderFieldValues: []*string{nil}}),
		"eyJvcmRlckZpZWxkcyI6W10sImlzUHJldmlvdXMiOmZhbHNlLCJvcmRlckZpZWxkVmFsdWVzIjpbXX0=",
		"e30=",
		"not base64 at all!",
		"eyJoZWxsbyI6IndvcmxkIn0",
		"-_-_",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		c, err := DecodeCursor(in)
		if err != nil {
			inputError(t, err)
			return
		}
		// What decodes re-encodes to a cursor that decodes the same.
		again, err := DecodeCursor(EncodeCursor(c))
		if err != nil {
			t.Fatalf("re-encoded cursor refused: %v", err)
		}
		if a, b := EncodeCursor(c), EncodeCursor(again); a != b {
			t.Fatalf("cursor changes on a round trip:\n%s\n%s", a, b)
		}
		if c.Query != nil {
			if compiled, err := CompilePredicate(c.Query); err != nil {
				inputError(t, err)
			} else {
				withinLimits(t, compiled)
			}
		}
		if err := fullTextError(c.FullTextFilter); err != nil {
			inputError(t, err)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func countConditions(f catalog.Filter) int {
	switch t := f.(type) {
	case catalog.AllOf:
		n := 0
		for _, s := range t.Filters {
			n += countConditions(s)
		}
		return n
	case catalog.AnyOf:
		n := 0
		for _, s := range t.Filters {
			n += countConditions(s)
		}
		return n
	case catalog.Not:
		return countConditions(t.Filter)
	case catalog.Field:
		return 1
	}
	return 0
}

// FuzzBodyFastPath: a body decodeBody takes without the JavaScript-exact
// decoding must be one that decoding leaves unchanged and finds no error in.
func FuzzBodyFastPath(f *testing.F) {
	for _, s := range []string{`{"entityRefs":["component:default/a"]}`, ` [1, 2.5e3, "\u00e9\ud83d\ude00"]`, `{"a":{"b":[null,true,false]}}`, "\t{}", `"abc"`, `123`, "\xEF\xBB\xBF{}", `{"a":"\xff"}`, `{"a":1,}`, `[1] x`, ``, ` `} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		raw := []byte(body)
		if !plainJSONBody(raw) {
			return
		}
		text := decodeUTF8JS(raw)
		if len(text) > 0 && text[0] == 0xFEFF {
			t.Fatalf("%q: a BOM on the fast path", body)
		}
		if msg := bodyParseError(text); msg != "" {
			t.Fatalf("%q: fast path for a body JSON.parse refuses: %s", body, msg)
		}
		if got := text.String(); got != body {
			t.Fatalf("%q: decoding changed the body to %q", body, got)
		}
	})
}
