// Package openapiquery checks a request's query string as Backstage's
// OpenAPI routers do before a handler runs (express-openapi-validator with
// ajv, coercing types): the same checks, in the same order, with the same
// messages, and integer parameters read as JavaScript's Number() reads
// them, so that the values a handler sees are the ones Backstage's would.
//
// A plugin describes a route's query parameters as a []Param, parses the
// raw query with Parse and checks it with Validate. The catalog's and the
// scaffolder's HTTP tests hold the oracle recordings this is pinned by.
package openapiquery

import (
	"cmp"
	"errors"
	"math"
	"math/big"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/understage/understage/plugins/backend"
)

// Kind is a parameter's schema type.
type Kind int

const (
	// Array is an array of strings: every value passes.
	Array Kind = iota
	// String is one string; Param.Enum, when set, lists the allowed values.
	String
	// Integer is an integer with minimum 0.
	Integer
)

// Param is one query parameter of a route's spec.
type Param struct {
	Name     string
	Kind     Kind
	Enum     []string // String only
	Required bool
}

// Values is a parsed query string that remembers key order, and after
// Validate the numbers its integer parameters hold.
type Values struct {
	keys    []string
	values  url.Values
	shapes  map[string]*qsValue
	numbers map[string]float64
}

// Parse reads a raw query string as Backstage's query parser (Express's
// "extended" parser, qs) does for the validator: values are grouped by
// their key as written (an empty key is dropped), then keys in brackets
// are read. a[]=1 and a[0]=1 are elements of the array a (ordered by
// index, below 1000), and any other bracket form (a[b]=1, a[][b]=1, an
// unclosed a[) makes an object, which no parameter of the specs here
// accepts. A key that starts with a bracket group is named by it ([a]=1 is
// a=1). Only the first 1,000 parameters are read, as qs reads them.
func Parse(raw string) *Values {
	q := &Values{values: url.Values{}, shapes: map[string]*qsValue{}, numbers: map[string]float64{}}
	var order []string
	groups := map[string][]string{}
	parts := strings.SplitN(raw, "&", parameterLimit+1)
	for _, part := range parts[:min(len(parts), parameterLimit)] {
		k, v, _ := strings.Cut(part, "=")
		k, v = decode(k), decode(v)
		if k == "" {
			continue
		}
		if _, seen := groups[k]; !seen {
			order = append(order, k)
		}
		groups[k] = append(groups[k], v)
	}
	for _, k := range order {
		name, val := bracketValue(k, groups[k])
		if prev, seen := q.shapes[name]; seen {
			q.shapes[name] = mergeQS(prev, val)
		} else {
			q.keys = append(q.keys, name)
			q.shapes[name] = val
		}
	}
	for name, v := range q.shapes {
		slices.SortFunc(v.elems, func(a, b qsElem) int { return cmp.Compare(a.index, b.index) })
		v.taken = nil
		q.values[name] = v.strings()
	}
	return q
}

// Express's qs options: the parameters read from a query string (the rest
// are dropped), and the array indexes read as such (a larger one makes an
// object).
const (
	parameterLimit = 1000
	arrayLimit     = 1000
)

// qsValue is what qs makes of a parameter: one string, an array (whose
// elements are strings, or nested values: notString), or an object.
type qsValue struct {
	kind qsKind
	str  string
	// elems are an array's elements, holes left out, in index order once
	// Parse has sorted them; length is its JavaScript length (one past the
	// largest index), taken the indexes in use while arrays are merged.
	elems  []qsElem
	length int
	taken  map[int]bool
}

type qsKind int

const (
	qsString qsKind = iota
	qsArray
	qsObject
)

type qsElem struct {
	index     int
	str       string
	notString bool
}

// bracketValue is the value qs gives the values vals of key k, and the
// parameter it belongs to.
func bracketValue(k string, vals []string) (string, *qsValue) {
	open := strings.IndexByte(k, '[')
	if open == 0 {
		// A key that starts with a bracket group names its parameter
		// there: [a]=1 is a=1, [a][]=1 is a[]=1.
		if end := strings.IndexAny(k[1:], "[]"); end > 0 && k[1+end] == ']' {
			return bracketValue(k[1:1+end]+k[2+end:], vals)
		}
		if strings.HasPrefix(k, "[]") {
			// A top-level array, which qs turns into an object keyed 0, 1...
			return "0", &qsValue{kind: qsObject}
		}
		open = -1
	}
	if open < 0 {
		if len(vals) == 1 {
			return k, &qsValue{kind: qsString, str: vals[0]}
		}
		return k, stringArray(vals)
	}
	name := k[:open]
	// One bracket group that closes at the end of the key: [] or [index].
	if inner, ok := strings.CutSuffix(k[open+1:], "]"); ok && !strings.ContainsAny(inner, "[]") {
		if inner == "" {
			return name, stringArray(vals)
		}
		if i, ok := arrayIndex(inner); ok && i < arrayLimit {
			e := qsElem{index: i, notString: len(vals) > 1}
			if len(vals) == 1 {
				e.str = vals[0]
			}
			return name, &qsValue{kind: qsArray, elems: []qsElem{e}, length: i + 1}
		}
	}
	return name, &qsValue{kind: qsObject}
}

// arrayIndex reads an index as qs does: the digits of a whole number
// written as JavaScript writes it (no sign, no leading zero).
func arrayIndex(s string) (int, bool) {
	if len(s) > 15 || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

func stringArray(vals []string) *qsValue {
	v := &qsValue{kind: qsArray, length: len(vals)}
	for i, s := range vals {
		v.elems = append(v.elems, qsElem{index: i, str: s})
	}
	return v
}

// mergeQS combines two values of one parameter as qs's merge does.
func mergeQS(t, s *qsValue) *qsValue {
	switch {
	case t.kind == qsObject || s.kind == qsObject && t.kind == qsArray:
		return &qsValue{kind: qsObject}
	case t.kind == qsString:
		// [target].concat(source)
		out := &qsValue{kind: qsArray, elems: []qsElem{{index: 0, str: t.str}}, length: 1}
		if s.kind == qsString {
			out.elems, out.length = append(out.elems, qsElem{index: 1, str: s.str}), 2
			return out
		}
		if s.kind == qsObject {
			out.elems, out.length = append(out.elems, qsElem{index: 1, notString: true}), 2
			return out
		}
		for _, e := range s.elems {
			e.index++
			out.elems = append(out.elems, e)
		}
		out.length += s.length
		return out
	case s.kind == qsString:
		// target.push(source)
		t.elems = append(t.elems, qsElem{index: t.length, str: s.str})
		t.length++
		return t
	}
	// Two arrays: each element of the source goes to its index, or is
	// pushed where the target already has one.
	if t.taken == nil {
		t.taken = make(map[int]bool, len(t.elems))
		for _, e := range t.elems {
			t.taken[e.index] = true
		}
	}
	for _, e := range s.elems {
		if t.taken[e.index] {
			e.index = t.length
		}
		t.taken[e.index] = true
		t.elems = append(t.elems, e)
		t.length = max(t.length, e.index+1)
	}
	return t
}

// strings is every string the value holds, in order.
func (v *qsValue) strings() []string {
	switch v.kind {
	case qsString:
		return []string{v.str}
	case qsArray:
		out := make([]string, 0, len(v.elems))
		for _, e := range v.elems {
			if !e.notString {
				out = append(out, e.str)
			}
		}
		return out
	}
	return nil
}

// decode is qs's decoding of a key or a value: '+' is a space, and text
// that decodeURIComponent refuses (a malformed escape such as %ZZ, or
// escapes of bytes that are not UTF-8 such as %FF) stays as written.
func decode(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	d, err := url.PathUnescape(s)
	if err != nil || !utf8.ValidString(d) {
		return s
	}
	return d
}

// Has reports whether the query names k.
func (q *Values) Has(k string) bool { _, ok := q.values[k]; return ok }

// List is every value of k, in request order.
func (q *Values) List(k string) []string { return q.values[k] }

// First is k's first value, or "".
func (q *Values) First(k string) string {
	if v := q.values[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Number is the value of an Integer parameter that Validate passed, as the
// validator hands it to Backstage's handler: an integer of at least zero
// (-0 included), or ±Infinity, which the validator lets through (a
// number beyond a double is infinite too). ok is false when k is absent.
func (q *Values) Number(k string) (f float64, ok bool) {
	f, ok = q.numbers[k]
	return f, ok
}

// Validate applies spec's rules: unknown and empty parameters first, in
// request order, then required ones and types in spec order. The error is
// a backend.ErrInput with the validator's message.
func (q *Values) Validate(spec []Param) error {
	known := map[string]bool{}
	for _, p := range spec {
		known[p.Name] = true
	}
	for _, k := range q.keys {
		if !known[k] {
			return backend.Input("Unknown query parameter '%s'", k)
		}
		if v := q.shapes[k]; v.kind == qsString && v.str == "" {
			return backend.Input("Empty value found for query parameter '%s'", k)
		}
	}
	for _, p := range spec {
		if p.Required && !q.Has(p.Name) {
			return backend.Input("request/query must have required property '%s'", p.Name)
		}
	}
	for _, p := range spec {
		v, ok := q.shapes[p.Name]
		if !ok {
			continue
		}
		vs := q.values[p.Name]
		switch p.Kind {
		case Array:
			// A value that is not an array is taken as one element.
			if v.kind == qsObject {
				return backend.Input("request/query/%s/0 must be string", p.Name)
			}
			for i, e := range v.elems {
				if e.notString {
					return backend.Input("request/query/%s/%d must be string", p.Name, i)
				}
			}
		case String:
			if v.kind != qsString {
				return backend.Input("request/query/%s must be string", p.Name)
			}
			if p.Enum != nil && !slices.Contains(p.Enum, vs[0]) {
				return backend.Input("request/query/%s must be equal to one of the allowed values: %s", p.Name, strings.Join(p.Enum, ", "))
			}
		case Integer:
			if v.kind != qsString {
				return backend.Input("request/query/%s must be integer", p.Name)
			}
			f, ok := ParseNumber(vs[0])
			// ajv's integer and minimum checks do not catch ±Infinity.
			if ok && math.IsInf(f, 0) {
				q.numbers[p.Name] = f
				continue
			}
			if !ok || f != math.Trunc(f) {
				return backend.Input("request/query/%s must be integer", p.Name)
			}
			if f < 0 {
				return backend.Input("request/query/%s must be >= 0", p.Name)
			}
			q.numbers[p.Name] = f
		}
	}
	return nil
}

// ParseNumber is JavaScript's Number(string) as ajv's coercion applies it:
// surrounding white space is ignored, "" is 0, 0x/0o/0b prefixes and
// Infinity are read, and a number beyond a double is ±Infinity. ok is
// false where JavaScript gives NaN.
func ParseNumber(s string) (f float64, ok bool) {
	t := TrimSpace(s)
	if t == "" {
		return 0, true
	}
	switch t {
	case "Infinity", "+Infinity":
		return math.Inf(1), true
	case "-Infinity":
		return math.Inf(-1), true
	}
	if len(t) > 2 && t[0] == '0' {
		base := 0
		switch t[1] {
		case 'x', 'X':
			base = 16
		case 'o', 'O':
			base = 8
		case 'b', 'B':
			base = 2
		}
		if base != 0 {
			return parseInteger(t[2:], base)
		}
	}
	// ParseFloat also reads "inf", "nan", hex floats and underscores,
	// which Number() refuses.
	for _, r := range t {
		if !strings.ContainsRune("0123456789+-.eE", r) {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	return f, err == nil || errors.Is(err, strconv.ErrRange)
}

// parseInteger reads the digits after 0x, 0o or 0b, of any length (a
// double holds 2^64 and beyond, rounded), with no sign or underscore.
func parseInteger(digits string, base int) (float64, bool) {
	for _, r := range digits {
		d := base
		switch {
		case r >= '0' && r <= '9':
			d = int(r - '0')
		case r >= 'a' && r <= 'f':
			d = int(r-'a') + 10
		case r >= 'A' && r <= 'F':
			d = int(r-'A') + 10
		}
		if d >= base {
			return 0, false
		}
	}
	n, _ := new(big.Int).SetString(digits, base)
	f, _ := new(big.Float).SetInt(n).Float64()
	return f, true
}

// TrimSpace trims like String.prototype.trim (Unicode white space and line
// terminators).
func TrimSpace(s string) string {
	return strings.TrimFunc(s, IsSpace)
}

// IsSpace reports whether r is JavaScript white space or a line terminator
// (what trim removes and \s matches).
func IsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', ' ', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}
