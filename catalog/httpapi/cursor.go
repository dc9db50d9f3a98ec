package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Cursor is the by-query page cursor. Its JSON layout is Backstage's, so a
// cursor minted by either backend decodes in the other.
type Cursor struct {
	OrderFields    []CursorOrderField
	IsPrevious     bool
	Query          any // validated predicate (ojson), nil when absent
	FullTextFilter *CursorFullText
	// OrderFieldValues is [sortValue, uid] when sorted, [uid] otherwise.
	OrderFieldValues     []*string
	FirstSortFieldValues []*string // nil on the initial request
	TotalItems           *int
	// Continued records that the cursor came from a cursor request, which
	// changes Backstage's key order when re-encoding.
	Continued bool
}

// CursorOrderField is one {field, order} entry; Order may be empty.
type CursorOrderField struct {
	Field string
	Order string
}

// CursorFullText is the full-text filter carried by a cursor.
type CursorFullText struct {
	Term   string
	Fields []string // nil = absent
}

// EncodeCursor renders c as base64 JSON.
func EncodeCursor(c Cursor) string {
	o := &ojson.Object{}
	ofs := make([]any, len(c.OrderFields))
	for i, f := range c.OrderFields {
		of := ojson.NewObject("field", f.Field)
		if f.Order != "" {
			of.Set("order", f.Order)
		}
		ofs[i] = of
	}
	o.Set("orderFields", ofs)
	o.Set("isPrevious", c.IsPrevious)
	if !c.Continued && c.Query != nil {
		o.Set("query", c.Query)
	}
	if c.FullTextFilter != nil {
		ft := ojson.NewObject("term", c.FullTextFilter.Term)
		if c.FullTextFilter.Fields != nil {
			fs := make([]any, len(c.FullTextFilter.Fields))
			for i, f := range c.FullTextFilter.Fields {
				fs[i] = f
			}
			ft.Set("fields", fs)
		}
		o.Set("fullTextFilter", ft)
	}
	o.Set("orderFieldValues", stringPtrs(c.OrderFieldValues))
	if c.Continued && c.Query != nil {
		o.Set("query", c.Query)
	}
	if c.FirstSortFieldValues != nil {
		o.Set("firstSortFieldValues", stringPtrs(c.FirstSortFieldValues))
	}
	if c.TotalItems != nil {
		o.Set("totalItems", *c.TotalItems)
	}
	return base64.StdEncoding.EncodeToString(ojson.MustMarshal(o))
}

func stringPtrs(vs []*string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		if v != nil {
			out[i] = *v
		}
	}
	return out
}

// decodeBase64Lenient decodes like Node's Buffer.from(s, "base64"): both
// alphabets, invalid characters skipped, stops at padding.
func decodeBase64Lenient(s string) []byte {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '=':
			goto done
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/':
			b.WriteRune(r)
		case r == '-':
			b.WriteByte('+')
		case r == '_':
			b.WriteByte('/')
		}
	}
done:
	clean := b.String()
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1]
	}
	out, err := base64.RawStdEncoding.DecodeString(clean)
	if err != nil {
		return nil
	}
	return out
}

// DecodeCursor parses a cursor; anything malformed is a 400 "Malformed cursor: ...".
func DecodeCursor(s string) (Cursor, error) {
	text := decodeBase64Lenient(s)
	// As for request bodies, only text that is not plain JSON takes the
	// JavaScript-exact path.
	decode := ojson.DecodeValid
	if !plainJSON(text) {
		js := decodeUTF8JS(text)
		if msg := v8JSONParseError(js); msg != "" {
			return Cursor{}, backend.Input("Malformed cursor: SyntaxError: %s", msg)
		}
		text, decode = []byte(js.String()), ojson.Decode
	}
	v, err := decode(text)
	if err != nil {
		return Cursor{}, backend.Input("Malformed cursor: SyntaxError: %s", err.Error())
	}
	if issues := cursorIssues(v); len(issues) > 0 {
		return Cursor{}, malformedCursor(zodErrorText(issues))
	}
	o, ok := v.(*ojson.Object)
	if !ok {
		return Cursor{}, malformedCursor(fmt.Sprintf("expected object, received %s", jsType(v)))
	}
	var c Cursor
	c.Continued = true
	ofs, ok := getOr(o, "orderFields").([]any)
	if !ok {
		return Cursor{}, malformedCursor("orderFields must be an array")
	}
	for _, el := range ofs {
		fo, ok := el.(*ojson.Object)
		if !ok {
			return Cursor{}, malformedCursor("orderFields entries must be objects")
		}
		field, ok1 := getOr(fo, "field").(string)
		order, ok2 := getOr(fo, "order").(string)
		if !ok1 || !ok2 || (order != "asc" && order != "desc") {
			return Cursor{}, malformedCursor("invalid orderFields entry")
		}
		c.OrderFields = append(c.OrderFields, CursorOrderField{Field: field, Order: order})
	}
	if ft, present := o.Get("fullTextFilter"); present {
		fto, ok := ft.(*ojson.Object)
		if !ok {
			return Cursor{}, malformedCursor("invalid fullTextFilter")
		}
		term, ok := getOr(fto, "term").(string)
		if !ok {
			return Cursor{}, malformedCursor("invalid fullTextFilter.term")
		}
		c.FullTextFilter = &CursorFullText{Term: term}
		if fs, present := fto.Get("fields"); present {
			arr, ok := fs.([]any)
			if !ok {
				return Cursor{}, malformedCursor("invalid fullTextFilter.fields")
			}
			c.FullTextFilter.Fields = []string{}
			for _, f := range arr {
				s, ok := f.(string)
				if !ok {
					return Cursor{}, malformedCursor("invalid fullTextFilter.fields")
				}
				c.FullTextFilter.Fields = append(c.FullTextFilter.Fields, s)
			}
		}
	}
	if c.OrderFieldValues, ok = nullableStrings(getOr(o, "orderFieldValues")); !ok {
		return Cursor{}, malformedCursor("invalid orderFieldValues")
	}
	if c.IsPrevious, ok = getOr(o, "isPrevious").(bool); !ok {
		return Cursor{}, malformedCursor("invalid isPrevious")
	}
	if q, present := o.Get("query"); present {
		out, msg, err := validatePredicate(q, []any{"query"})
		if err != nil {
			return Cursor{}, err
		}
		if msg != "" {
			return Cursor{}, malformedCursor(msg)
		}
		c.Query = out
	}
	if fs, present := o.Get("firstSortFieldValues"); present {
		if c.FirstSortFieldValues, ok = nullableStrings(fs); !ok {
			return Cursor{}, malformedCursor("invalid firstSortFieldValues")
		}
		if c.FirstSortFieldValues == nil {
			c.FirstSortFieldValues = []*string{}
		}
	}
	if t, present := o.Get("totalItems"); present {
		n, ok := t.(ojson.Number)
		if !ok {
			return Cursor{}, malformedCursor("invalid totalItems")
		}
		ti := int(n.Float())
		c.TotalItems = &ti
	}
	return c, nil
}

func malformedCursor(detail string) error {
	return backend.Input("Malformed cursor: InputError: Malformed cursor: %s", detail)
}

func getOr(o *ojson.Object, key string) any {
	v, ok := o.Get(key)
	if !ok {
		return ojson.Undefined
	}
	return v
}

func nullableStrings(v any) ([]*string, bool) {
	arr, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]*string, len(arr))
	for i, el := range arr {
		switch t := el.(type) {
		case nil:
		case string:
			out[i] = &t
		default:
			return nil, false
		}
	}
	return out, true
}

// sortValues renders a store position as Backstage's sort-field values.
func sortValues(p *catalog.CursorPosition, sorted bool) []*string {
	if p == nil {
		if sorted {
			return []*string{nil, nil}
		}
		return []*string{nil}
	}
	uid := p.UID
	if sorted {
		return []*string{p.Value, &uid}
	}
	return []*string{&uid}
}

func positionFromValues(vs []*string, sorted bool) *catalog.CursorPosition {
	switch {
	case sorted && len(vs) == 2 && vs[1] != nil:
		return &catalog.CursorPosition{Value: vs[0], UID: *vs[1]}
	case !sorted && len(vs) == 1 && vs[0] != nil:
		return &catalog.CursorPosition{UID: *vs[0]}
	}
	return nil
}

func equalValues(a, b []*string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if (a[i] == nil) != (b[i] == nil) || (a[i] != nil && *a[i] != *b[i]) {
			return false
		}
	}
	return true
}

// cursorIssues checks a decoded cursor against Backstage's cursor schema and
// lists the violations as zod v3 issues, in zod's order (schema keys in
// declaration order, depth first). The legacy filter is not checked; the
// query is left to DecodeCursor.
func cursorIssues(v any) []any {
	z := &zodIssues{}
	o, ok := v.(*ojson.Object)
	if !ok {
		z.invalidType("object", v, nil)
		return z.list
	}
	path := func(p ...any) []any { return p }
	get := func(o *ojson.Object, k string) any { return getOr(o, k) }
	if ofs, ok := z.array(get(o, "orderFields"), path("orderFields")); ok {
		for i, el := range ofs {
			if fo, ok := z.object(el, path("orderFields", i)); ok {
				z.str(get(fo, "field"), path("orderFields", i, "field"))
				z.enum(get(fo, "order"), path("orderFields", i, "order"), "asc", "desc")
			}
		}
	}
	if ft, present := o.Get("fullTextFilter"); present {
		if fo, ok := z.object(ft, path("fullTextFilter")); ok {
			z.str(get(fo, "term"), path("fullTextFilter", "term"))
			if fs, present := fo.Get("fields"); present {
				if arr, ok := z.array(fs, path("fullTextFilter", "fields")); ok {
					for i, el := range arr {
						z.str(el, path("fullTextFilter", "fields", i))
					}
				}
			}
		}
	}
	z.nullableStrings(get(o, "orderFieldValues"), path("orderFieldValues"))
	if _, ok := get(o, "isPrevious").(bool); !ok {
		z.invalidType("boolean", get(o, "isPrevious"), path("isPrevious"))
	}
	if fs, present := o.Get("firstSortFieldValues"); present {
		z.nullableStrings(fs, path("firstSortFieldValues"))
	}
	if t, present := o.Get("totalItems"); present {
		if _, ok := t.(ojson.Number); !ok {
			z.invalidType("number", t, path("totalItems"))
		}
	}
	return z.list
}

// zodIssues collects zod v3 issues; their key order is zod's.
type zodIssues struct{ list []any }

func zodPath(p []any) []any {
	if p == nil {
		return []any{}
	}
	return p
}

func zodTypeMessage(expected string, v any) string {
	if _, ok := v.(ojson.UndefinedType); ok {
		return "Required"
	}
	return "Expected " + expected + ", received " + jsType(v)
}

func (z *zodIssues) invalidType(expected string, v any, path []any) {
	z.list = append(z.list, ojson.NewObject("code", "invalid_type", "expected", expected,
		"received", jsType(v), "path", zodPath(path), "message", zodTypeMessage(expected, v)))
}

func (z *zodIssues) object(v any, path []any) (*ojson.Object, bool) {
	o, ok := v.(*ojson.Object)
	if !ok {
		z.invalidType("object", v, path)
	}
	return o, ok
}

func (z *zodIssues) array(v any, path []any) ([]any, bool) {
	a, ok := v.([]any)
	if !ok {
		z.invalidType("array", v, path)
	}
	return a, ok
}

func (z *zodIssues) str(v any, path []any) {
	if _, ok := v.(string); !ok {
		z.invalidType("string", v, path)
	}
}

func (z *zodIssues) enum(v any, path []any, options ...string) {
	quoted := make([]string, len(options))
	opts := make([]any, len(options))
	for i, o := range options {
		quoted[i], opts[i] = "'"+o+"'", o
	}
	expected := strings.Join(quoted, " | ")
	s, ok := v.(string)
	if !ok {
		z.list = append(z.list, ojson.NewObject("expected", expected, "received", jsType(v),
			"code", "invalid_type", "path", zodPath(path), "message", zodTypeMessage(expected, v)))
		return
	}
	for _, o := range options {
		if s == o {
			return
		}
	}
	z.list = append(z.list, ojson.NewObject("received", s, "code", "invalid_enum_value", "options", opts,
		"path", zodPath(path), "message", "Invalid enum value. Expected "+expected+", received '"+s+"'"))
}

// nullableStrings checks z.array(z.string().or(z.null())); a bad element
// is a union issue carrying both alternatives' errors.
func (z *zodIssues) nullableStrings(v any, path []any) {
	arr, ok := z.array(v, path)
	if !ok {
		return
	}
	for i, el := range arr {
		switch el.(type) {
		case nil, string:
			continue
		}
		p := append(append([]any{}, path...), i)
		alt := func(expected string) any {
			one := &zodIssues{}
			one.invalidType(expected, el, p)
			return ojson.NewObject("issues", one.list, "name", "ZodError")
		}
		z.list = append(z.list, ojson.NewObject("code", "invalid_union",
			"unionErrors", []any{alt("string"), alt("null")}, "path", p, "message", "Invalid input"))
	}
}

// zodErrorText is String(zodError): the issues as JSON.stringify(issues, null, 2).
func zodErrorText(issues []any) string {
	var b bytes.Buffer
	if err := json.Indent(&b, ojson.MustMarshal(issues), "", "  "); err != nil {
		return string(ojson.MustMarshal(issues))
	}
	return b.String()
}
