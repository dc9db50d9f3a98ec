package openapiquery

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend"
)

func TestParseNumber(t *testing.T) {
	t.Parallel()
	inf := math.Inf(1)
	cases := []struct {
		in   string
		want float64
		ok   bool
	}{
		{"5", 5, true}, {" 5\t", 5, true}, {"\u00a05\u2028", 5, true}, {"", 0, true}, {"  ", 0, true},
		{"1e2", 100, true}, {".5e1", 5, true}, {"5.", 5, true}, {"+1", 1, true}, {"-0", math.Copysign(0, -1), true},
		{"0x10", 16, true}, {"0X1f", 31, true}, {"0o17", 15, true}, {"0b101", 5, true},
		{"Infinity", inf, true}, {"+Infinity", inf, true}, {"-Infinity", -inf, true}, {"1e400", inf, true},
		{"1e-400", 0, true},
		// NaN in JavaScript, though Go's ParseFloat reads some of them.
		{"abc", 0, false}, {"inf", 0, false}, {"NaN", 0, false}, {"1_0", 0, false}, {"0x", 0, false},
		{"1e", 0, false}, {"0x1p3", 0, false}, {"-0x10", 0, false}, {"1 2", 0, false}, {"\x00", 0, false},
		{"0x-1", 0, false}, {"0x1_0", 0, false}, {"0b2", 0, false},
		// Hex beyond 64 bits is a number all the same.
		{"0x10000000000000000", 1 << 64, true}, {"0x" + strings.Repeat("f", 300), inf, true},
	}
	for _, c := range cases {
		got, ok := ParseNumber(c.in)
		if ok != c.ok || ok && (got != c.want || math.Signbit(got) != math.Signbit(c.want)) {
			t.Errorf("ParseNumber(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	spec := []Param{{Name: "a", Kind: Array, Required: true}, {Name: "limit", Kind: Integer},
		{Name: "offset", Kind: Integer}, {Name: "mode", Kind: String, Enum: []string{"x", "y"}}}
	cases := []struct{ query, want string }{
		{"a=1&limit=2", ""},
		{"a=1&a=", ""}, // only a lone empty value is refused
		{"limit=1&foo=1&a=", "Unknown query parameter 'foo'"},
		{"a=&foo=1", "Empty value found for query parameter 'a'"},
		{"limit=1", "request/query must have required property 'a'"},
		{"a=1&offset=x&limit=-1", "request/query/limit must be >= 0"}, // spec order, not request order
		{"a=1&limit=1&limit=2", "request/query/limit must be integer"},
		{"a=1&offset=1.5", "request/query/offset must be integer"},
		{"a=1&mode=z", "request/query/mode must be equal to one of the allowed values: x, y"},
		{"a=1&mode=x&mode=y", "request/query/mode must be string"},
	}
	for _, c := range cases {
		err := Parse(c.query).Validate(spec)
		got := ""
		if err != nil {
			if backend.KindOf(err) != backend.ErrInput {
				t.Errorf("%s: %v is not an input error", c.query, err)
			}
			got = backend.MessageOf(err)
		}
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.query, got, c.want)
		}
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	q := Parse("limit=%201e2&offset=-Infinity")
	if err := q.Validate([]Param{{Name: "limit", Kind: Integer}, {Name: "offset", Kind: Integer}, {Name: "n", Kind: Integer}}); err != nil {
		t.Fatal(err)
	}
	if f, ok := q.Number("limit"); f != 100 || !ok {
		t.Errorf("limit %v %v", f, ok)
	}
	if f, ok := q.Number("offset"); !math.IsInf(f, -1) || !ok {
		t.Errorf("offset %v %v", f, ok)
	}
	if _, ok := q.Number("n"); ok {
		t.Error("n is absent")
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	q := Parse("a=1&&=x&b=%ZZ&a=2+3&%6C=%2B&c&d=%FF&e=%ED%A0%80&f=%C3%A9")
	want := map[string][]string{"a": {"1", "2 3"}, "b": {"%ZZ"}, "l": {"+"}, "c": {""},
		"d": {"%FF"}, "e": {"%ED%A0%80"}, "f": {"é"}}
	if got := q.keys; !slices.Equal(got, []string{"a", "b", "l", "c", "d", "e", "f"}) {
		t.Errorf("keys %q", got)
	}
	for k, vs := range want {
		if got := q.List(k); !slices.Equal(got, vs) {
			t.Errorf("%s: %q, want %q", k, got, vs)
		}
	}
}

// TestParseBrackets: qs's bracket forms, as Backstage 1.55 reads them (the
// catalog's and the scaffolder's oracle recordings hold the same cases
// through HTTP).
func TestParseBrackets(t *testing.T) {
	t.Parallel()
	spec := []Param{{Name: "filter", Kind: Array}, {Name: "limit", Kind: Integer}, {Name: "after", Kind: String}}
	cases := []struct {
		raw  string
		list []string // filter's values
		err  string
	}{
		{raw: "filter[]=a&filter[]=b", list: []string{"a", "b"}},
		{raw: "filter%5B%5D=a", list: []string{"a"}},
		{raw: "filter[1]=b&filter[0]=a", list: []string{"a", "b"}},
		{raw: "filter[25]=a", list: []string{"a"}},
		{raw: "filter[999]=a", list: []string{"a"}},
		{raw: "filter[1000]=a", err: "request/query/filter/0 must be string"},
		{raw: strings.Repeat("filter=a&", 999) + "x=1", err: "Unknown query parameter 'x'"},
		{raw: strings.Repeat("&", 1000) + "x=1&filter=b", list: nil},
		{raw: strings.Repeat("filter=a&", 1000) + "x=1", list: slices.Repeat([]string{"a"}, 1000)},
		// Grouped by key as written first: the plain values come before
		// the bracketed ones that sat between them.
		{raw: "filter=a&filter[]=b&filter=c", list: []string{"a", "c", "b"}},
		{raw: "filter[]=b&filter=a", list: []string{"b", "a"}},
		{raw: "filter=a&filter[0]=b", list: []string{"a", "b"}},
		{raw: "filter[0]=a&filter[]=b", list: []string{"a", "b"}},
		// An empty element is no empty parameter.
		{raw: "filter[]=", list: []string{""}},
		{raw: "filter[]", list: []string{""}},
		{raw: "filter[00]=a", err: "request/query/filter/0 must be string"},
		{raw: "filter[x]=a", err: "request/query/filter/0 must be string"},
		{raw: "filter[", err: "request/query/filter/0 must be string"},
		{raw: "filter[][x]=a", err: "request/query/filter/0 must be string"},
		{raw: "filter=a&filter[x]=b", err: "request/query/filter/1 must be string"},
		{raw: "filter[]=a&filter[x]=b", err: "request/query/filter/0 must be string"},
		{raw: "filter[0]=a&filter[0]=b", err: "request/query/filter/0 must be string"},
		{raw: "limit[]=1", err: "request/query/limit must be integer"},
		{raw: "limit=1&limit[]=2", err: "request/query/limit must be integer"},
		{raw: "after[0]=x", err: "request/query/after must be string"},
		{raw: "filter]=a", err: "Unknown query parameter 'filter]'"},
		{raw: "x[]=1&limit[]=1", err: "Unknown query parameter 'x'"},
		{raw: "[filter]=a", list: []string{"a"}},
		{raw: "[filter][]=a&[filter][]=b", list: []string{"a", "b"}},
		{raw: "[]=a", err: "Unknown query parameter '0'"},
	}
	for _, c := range cases {
		q := Parse(c.raw)
		err := q.Validate(spec)
		if c.err != "" {
			if err == nil || backend.MessageOf(err) != c.err {
				t.Errorf("%s: error %v, want %q", c.raw, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.raw, err)
		} else if got := q.List("filter"); !slices.Equal(got, c.list) {
			t.Errorf("%s: filter %q, want %q", c.raw, got, c.list)
		}
	}
}

// FuzzParse: any query string parses, and Validate answers nil or an input
// error, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"filter[]=a&filter[1]=b&filter=c", "a[b][c]=1&[d]=2&[]=3", "limit[0]=1&offset=2", "filter[", "%5B%5D=x", "filter[999999999999999]=a&filter[]=b"} {
		f.Add(s)
	}
	spec := []Param{{Name: "filter", Kind: Array}, {Name: "limit", Kind: Integer}, {Name: "order", Kind: String, Enum: []string{"asc"}}, {Name: "0", Kind: Array}}
	f.Fuzz(func(t *testing.T, raw string) {
		q := Parse(raw)
		if err := q.Validate(spec); err != nil && !errors.Is(err, backend.ErrInput) {
			t.Fatalf("%q: %v", raw, err)
		}
	})
}
