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
	numbers map[string]float64
}

// Parse splits a raw query string as Backstage's query parser (qs) does
// for the validator: repeated keys collect their values in order, and an
// empty key is dropped. qs's brackets (a[]=1, a[b]=1) are not read: such
// a key stays as written.
func Parse(raw string) *Values {
	q := &Values{values: url.Values{}, numbers: map[string]float64{}}
	for _, part := range strings.Split(raw, "&") {
		k, v, _ := strings.Cut(part, "=")
		k, v = decode(k), decode(v)
		if k == "" {
			continue
		}
		if _, seen := q.values[k]; !seen {
			q.keys = append(q.keys, k)
		}
		q.values[k] = append(q.values[k], v)
	}
	return q
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
		if vs := q.values[k]; len(vs) == 1 && vs[0] == "" {
			return backend.Input("Empty value found for query parameter '%s'", k)
		}
	}
	for _, p := range spec {
		if p.Required && !q.Has(p.Name) {
			return backend.Input("request/query must have required property '%s'", p.Name)
		}
	}
	for _, p := range spec {
		vs, ok := q.values[p.Name]
		if !ok {
			continue
		}
		switch p.Kind {
		case String:
			if len(vs) > 1 {
				return backend.Input("request/query/%s must be string", p.Name)
			}
			if p.Enum != nil && !slices.Contains(p.Enum, vs[0]) {
				return backend.Input("request/query/%s must be equal to one of the allowed values: %s", p.Name, strings.Join(p.Enum, ", "))
			}
		case Integer:
			if len(vs) > 1 {
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
