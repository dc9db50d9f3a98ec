package httpapi

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"

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
	// TotalItems is carried as the cursor holds it: zod takes any number,
	// so 2.5 and Infinity (written null) come back as they went in.
	TotalItems *ojson.Number
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
	if err := membersDepthError(v, "filter", "query"); err != nil {
		return Cursor{}, err
	}
	out, issues := zValidate(cursorSchema(), v, nil)
	if issues != nil {
		return Cursor{}, malformedCursor(zodIssuesText(issues))
	}
	parsed := out.(*ojson.Object)
	// parsed has the schema's shape: the assertions below cannot fail.
	c := Cursor{Continued: true}
	ofs, _ := parsed.Get("orderFields")
	for _, el := range ofs.([]any) {
		fo := el.(*ojson.Object)
		c.OrderFields = append(c.OrderFields, CursorOrderField{Field: fo.String("field"), Order: fo.String("order")})
	}
	if ft, present := parsed.Get("fullTextFilter"); present {
		c.FullTextFilter = fullTextFilter(ft.(*ojson.Object))
	}
	ofv, _ := parsed.Get("orderFieldValues")
	c.OrderFieldValues = nullableStrings(ofv.([]any))
	isPrevious, _ := parsed.Get("isPrevious")
	c.IsPrevious = isPrevious.(bool)
	if q, present := parsed.Get("query"); present {
		c.Query = q
	}
	if fs, present := parsed.Get("firstSortFieldValues"); present {
		c.FirstSortFieldValues = nullableStrings(fs.([]any))
	}
	if t, present := parsed.Get("totalItems"); present {
		ti := t.(ojson.Number)
		c.TotalItems = &ti
	}
	return c, nil
}

// fullTextFilter reads a validated {term, fields?} object; Fields stays
// nil when fields is absent.
func fullTextFilter(o *ojson.Object) *CursorFullText {
	ft := &CursorFullText{Term: o.String("term")}
	if fs, ok := o.Get("fields"); ok {
		ft.Fields = stringList(fs)
	}
	return ft
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

func nullableStrings(arr []any) []*string {
	out := make([]*string, len(arr))
	for i, el := range arr {
		if s, ok := el.(string); ok {
			out[i] = &s
		}
	}
	return out
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

// cursorSchema is Backstage's cursor schema (1.55) in the zod emulation of
// predicate.go, its keys in declaration order so that issues come in zod's
// order.
func cursorSchema() zschema {
	nullableStrings := zArray(zUnion(zLit(zString(nil)), zLit(zNull)))
	return zObject(false,
		zfield{"orderFields", zArray(zObject(false, zfield{"field", zString(nil)}, zfield{"order", zEnum("asc", "desc")}))},
		zfield{"fullTextFilter", zOptional(zObject(false,
			zfield{"term", zString(nil)}, zfield{"fields", zOptional(zArray(zString(nil)))}))},
		zfield{"orderFieldValues", nullableStrings},
		zfield{"filter", zOptional(legacyFilterSchema())},
		zfield{"isPrevious", zBoolean},
		zfield{"query", zOptional(newPredicateSchemas().predicate)},
		zfield{"firstSortFieldValues", zOptional(nullableStrings)},
		zfield{"totalItems", zOptional(zNumber)},
	)
}

// legacyFilterSchema is the cursor's `filter`, Backstage's legacy entity
// filter: ((({key, values?} or {not}) or {anyOf}) or {allOf}), each "or" a
// union of two.
func legacyFilterSchema() zschema {
	var filter zschema
	filter = func(c *zctx, v any, path []any) (zstatus, any) {
		keyed := zObject(false, zfield{"key", zString(nil)}, zfield{"values", zOptional(zArray(zString(nil)))})
		not := zObject(false, zfield{"not", filter})
		anyOf := zObject(false, zfield{"anyOf", zArray(filter)})
		allOf := zObject(false, zfield{"allOf", zArray(filter)})
		return zUnion(zLit(zUnion(zLit(zUnion(zLit(keyed), zLit(not))), zLit(anyOf))), zLit(allOf))(c, v, path)
	}
	return filter
}

// maxZodErrorText bounds zodIssuesText. Nested unions make zod's JSON grow
// far faster than its input: one bad operator in a 60-byte query takes
// 45 KB, and a 16 KiB request line could ask for hundreds of megabytes.
const maxZodErrorText = 256 << 10

// zodIssuesText is String(zodError), the issues as JSON.stringify(issues,
// null, 2), as Backstage writes them into a malformed cursor's message.
// Past maxZodErrorText it is zod-validation-error's one-line form instead,
// cut at maxZodErrorText too (a union's line holds all its options' lines).
func zodIssuesText(issues []zissue) string {
	list := make([]any, len(issues))
	for i, is := range issues {
		list[i] = is.object()
	}
	if text, ok := zodErrorText(list, maxZodErrorText); ok {
		return text
	}
	text := formatZodIssues(issues)
	if len(text) > maxZodErrorText {
		cut := maxZodErrorText
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut] + "…"
	}
	return text
}

// object is the issue as zod serializes it, its keys in zod's order.
func (is zissue) object() *ojson.Object {
	path := is.path
	if path == nil {
		path = []any{}
	}
	strs := func(list []string) []any {
		out := make([]any, len(list))
		for i, s := range list {
			out[i] = s
		}
		return out
	}
	switch {
	case is.code == "invalid_string":
		return ojson.NewObject("validation", "regex", "code", is.code, "message", is.message, "path", path)
	case is.code == "invalid_enum_value":
		return ojson.NewObject("received", is.received, "code", is.code, "options", strs(is.options), "path", path, "message", is.message)
	case is.code == "unrecognized_keys":
		return ojson.NewObject("code", is.code, "keys", strs(is.keys), "path", path, "message", is.message)
	case is.code == "invalid_union":
		errs := make([]any, len(is.union))
		for i, list := range is.union {
			issues := make([]any, len(list))
			for j, sub := range list {
				issues[j] = sub.object()
			}
			errs[i] = ojson.NewObject("issues", issues, "name", "ZodError")
		}
		return ojson.NewObject("code", is.code, "unionErrors", errs, "path", path, "message", is.message)
	case is.enum:
		return ojson.NewObject("expected", is.expected, "received", is.received, "code", is.code, "path", path, "message", is.message)
	}
	return ojson.NewObject("code", is.code, "expected", is.expected, "received", is.received, "path", path, "message", is.message)
}

// zodErrorText is String(zodError): the issues as JSON.stringify(issues,
// null, 2). With limit > 0 it gives up (false) once the text passes limit
// bytes.
func zodErrorText(issues []any, limit int) (string, bool) {
	var b bytes.Buffer
	if !writeIndented(&b, issues, 0, limit) {
		return "", false
	}
	return b.String(), true
}

// writeIndented writes v at nesting depth as JSON.stringify(v, null, 2)
// does; false once b holds more than limit bytes (limit > 0).
func writeIndented(b *bytes.Buffer, v any, depth, limit int) bool {
	if limit > 0 && b.Len() > limit {
		return false
	}
	newline := func(depth int) {
		b.WriteByte('\n')
		for range depth {
			b.WriteString("  ")
		}
	}
	switch t := v.(type) {
	case *ojson.Object:
		if t.Len() == 0 {
			b.WriteString("{}")
			return true
		}
		b.WriteByte('{')
		for i, m := range t.Members {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			ojson.WriteString(b, m.Key)
			b.WriteString(": ")
			if !writeIndented(b, m.Value, depth+1, limit) {
				return false
			}
		}
		newline(depth)
		b.WriteByte('}')
	case []any:
		if len(t) == 0 {
			b.WriteString("[]")
			return true
		}
		b.WriteByte('[')
		for i, el := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			newline(depth + 1)
			if !writeIndented(b, el, depth+1, limit) {
				return false
			}
		}
		newline(depth)
		b.WriteByte(']')
	default:
		b.Write(ojson.MustMarshal(t))
	}
	return true
}
