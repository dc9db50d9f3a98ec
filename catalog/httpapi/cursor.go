package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/plugins/backend"
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
	raw := decodeBase64Lenient(s)
	v, err := ojson.Decode(raw)
	if err != nil {
		return Cursor{}, backend.Input("Malformed cursor: SyntaxError: %s", jsonSyntaxMessage(raw, err))
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
		out, msg, ok := validatePredicate(q, []any{"query"})
		if !ok {
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
		return undefinedValue{}
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

// jsonSyntaxMessage approximates V8's JSON.parse messages for the common cases.
func jsonSyntaxMessage(raw []byte, err error) string {
	src := strings.ToValidUTF8(string(raw), "\uFFFD")
	if strings.TrimSpace(src) == "" {
		return "Unexpected end of JSON input"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && int(se.Offset) <= len(raw) {
		pos := int(se.Offset) - 1
		tok := []rune(string(raw[pos:]))
		if len(tok) > 0 && len([]rune(src)) <= 10 {
			return fmt.Sprintf("Unexpected token '%c', \"%s\" is not valid JSON", tok[0], src)
		}
	}
	return "Unexpected end of JSON input"
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
