package httpapi

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// This file validates filter predicates the way Backstage does (a zod v3
// union schema rendered by zod-validation-error), because clients see those
// messages verbatim. The emulation follows zod's parse statuses: a union
// returns the first valid option, else the first "dirty" one (a failed
// refinement such as a key regex), else an invalid_union of every option's
// issues.

type zstatus int

const (
	zValid zstatus = iota
	zDirty
	zAborted
)

// zissue is one zod issue with the fields of zod's own JSON of it, which a
// malformed cursor's message shows whole (see zissue.object).
type zissue struct {
	code     string // invalid_type, invalid_string, invalid_enum_value, unrecognized_keys, invalid_union or too_small (zInt; only ever shown in the one-line form, object does not render it)
	path     []any  // string or int elements
	message  string
	expected string     // invalid_type: a type, or an enum's options
	received string     // invalid_type: a type; invalid_enum_value: the value
	enum     bool       // an enum's invalid_type, whose keys zod orders otherwise
	keys     []string   // unrecognized_keys
	options  []string   // invalid_enum_value
	union    [][]zissue // invalid_union: each failed option's issues
}

// zctx collects issues. A quiet one only counts them and builds no paths:
// whether a value is valid, and its output, do not depend on the issues'
// text, which is wanted only for a value that turns out invalid.
type zctx struct {
	issues []zissue
	quiet  bool
	n      int // issues counted while quiet
}

func (c *zctx) add(is zissue) {
	if c.quiet {
		c.n++
		return
	}
	is.path = append([]any(nil), is.path...)
	c.issues = append(c.issues, is)
}

// withPath is path extended by el (nothing, for a quiet c).
func (c *zctx) withPath(path []any, el any) []any {
	if c.quiet {
		return nil
	}
	p := make([]any, len(path), len(path)+1)
	copy(p, path)
	return append(p, el)
}

// jsType is zod's getParsedType name of a decoded ojson value.
func jsType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case ojson.Number:
		return "number"
	case []any:
		return "array"
	case *ojson.Object:
		return "object"
	case ojson.UndefinedType:
		return "undefined"
	}
	return "unknown"
}

func invalidType(c *zctx, path []any, expected string, v any) zstatus {
	if c.quiet {
		c.n++
		return zAborted
	}
	c.add(zissue{code: "invalid_type", path: path, expected: expected, received: jsType(v), message: zodTypeMessage(expected, v)})
	return zAborted
}

func zodTypeMessage(expected string, v any) string {
	if ojson.IsUndefined(v) {
		return "Required"
	}
	return "Expected " + expected + ", received " + jsType(v)
}

// zschema is one node of the emulated schema: it appends issues to c and
// returns a status and the parsed output (unknown keys stripped).
type zschema func(c *zctx, v any, path []any) (zstatus, any)

func zString(regex *regexp.Regexp) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		s, ok := v.(string)
		if !ok {
			return invalidType(c, path, "string", v), nil
		}
		if regex != nil && !regex.MatchString(s) {
			c.add(zissue{code: "invalid_string", path: path, message: "Invalid"})
			return zDirty, s
		}
		return zValid, s
	}
}

func zNumber(c *zctx, v any, path []any) (zstatus, any) {
	if _, ok := v.(ojson.Number); !ok {
		return invalidType(c, path, "number", v), nil
	}
	return zValid, v
}

// zInt is z.number().int().min(minimum). zod runs every check of a
// number, so 0.5 against a minimum of 1 fails both.
func zInt(minimum float64) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		n, ok := v.(ojson.Number)
		if !ok {
			return invalidType(c, path, "number", v), nil
		}
		st, f := zValid, n.Float()
		if !n.Finite() || f != math.Trunc(f) {
			c.add(zissue{code: "invalid_type", path: path, expected: "integer", received: "float", message: "Expected integer, received float"})
			st = zDirty
		}
		if f < minimum {
			c.add(zissue{code: "too_small", path: path, message: "Number must be greater than or equal to " + string(ojson.NumberFromFloat(minimum))})
			st = zDirty
		}
		return st, v
	}
}

func zBoolean(c *zctx, v any, path []any) (zstatus, any) {
	if _, ok := v.(bool); !ok {
		return invalidType(c, path, "boolean", v), nil
	}
	return zValid, v
}

func zNever(c *zctx, v any, path []any) (zstatus, any) {
	return invalidType(c, path, "never", v), nil
}

func zNull(c *zctx, v any, path []any) (zstatus, any) {
	if v != nil {
		return invalidType(c, path, "null", v), nil
	}
	return zValid, v
}

// zOptional is schema.optional(): an absent value is valid.
func zOptional(schema zschema) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		if ojson.IsUndefined(v) {
			return zValid, v
		}
		return schema(c, v, path)
	}
}

// zEnum is z.enum(options).
func zEnum(options ...string) zschema {
	quoted := make([]string, len(options))
	for i, o := range options {
		quoted[i] = "'" + o + "'"
	}
	expected := strings.Join(quoted, " | ")
	return func(c *zctx, v any, path []any) (zstatus, any) {
		s, ok := v.(string)
		switch {
		case !ok:
			c.add(zissue{code: "invalid_type", enum: true, path: path, expected: expected, received: jsType(v), message: zodTypeMessage(expected, v)})
		case !slices.Contains(options, s):
			c.add(zissue{code: "invalid_enum_value", path: path, received: s, options: options,
				message: "Invalid enum value. Expected " + expected + ", received '" + s + "'"})
		default:
			return zValid, s
		}
		return zAborted, nil
	}
}

func zArray(item zschema) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		arr, ok := v.([]any)
		if !ok {
			return invalidType(c, path, "array", v), nil
		}
		st := zValid
		out := make([]any, len(arr))
		for i, el := range arr {
			s, o := item(c, el, c.withPath(path, i))
			out[i] = o
			st = max(st, s)
		}
		return st, out
	}
}

type zfield struct {
	key    string
	schema zschema
}

// zObject is z.object(shape), optionally .strict(); unknown keys are
// stripped from the output otherwise.
func zObject(strict bool, shape ...zfield) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		o, ok := v.(*ojson.Object)
		if !ok {
			return invalidType(c, path, "object", v), nil
		}
		st := zValid
		out := &ojson.Object{}
		for _, f := range shape {
			fv, present := o.Get(f.key)
			if !present {
				fv = ojson.Undefined
			}
			s, fo := f.schema(c, fv, c.withPath(path, f.key))
			st = max(st, s)
			if present {
				out.Set(f.key, fo)
			}
		}
		if strict {
			var extra, quoted []string
			for _, k := range jsKeys(o) {
				if !hasField(shape, k) {
					extra, quoted = append(extra, k), append(quoted, "'"+k+"'")
				}
			}
			if len(extra) > 0 {
				c.add(zissue{code: "unrecognized_keys", path: path, keys: extra,
					message: "Unrecognized key(s) in object: " + strings.Join(quoted, ", ")})
				st = max(st, zDirty)
			}
		}
		return st, out
	}
}

func hasField(shape []zfield, k string) bool {
	for _, f := range shape {
		if f.key == k {
			return true
		}
	}
	return false
}

func zRecord(key, value zschema) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		o, ok := v.(*ojson.Object)
		if !ok {
			return invalidType(c, path, "object", v), nil
		}
		st := zValid
		out := &ojson.Object{}
		for _, k := range jsKeys(o) {
			val, _ := o.Get(k)
			ks, _ := key(c, k, c.withPath(path, k))
			vs, vo := value(c, val, c.withPath(path, k))
			st = max(st, ks, vs)
			out.Set(k, vo)
		}
		return st, out
	}
}

// zLit is an option of zUnion that is built already.
func zLit(s zschema) func() zschema { return func() zschema { return s } }

func zUnion(options ...func() zschema) zschema {
	return func(c *zctx, v any, path []any) (zstatus, any) {
		var all [][]zissue
		var dirty *zctx
		var dirtyOut any
		for _, opt := range options {
			child := &zctx{quiet: c.quiet}
			s, o := opt()(child, v, path)
			if s == zValid {
				return zValid, o
			}
			if s == zDirty && dirty == nil {
				dirty, dirtyOut = child, o
			}
			if len(child.issues) > 0 {
				all = append(all, child.issues)
			}
		}
		if dirty != nil {
			c.issues = append(c.issues, dirty.issues...)
			c.n += dirty.n
			return zDirty, dirtyOut
		}
		if c.quiet {
			c.n++
		} else {
			c.issues = append(c.issues, zissue{code: "invalid_union", path: path, union: all, message: "Invalid input"})
		}
		return zAborted, nil
	}
}

// predicateSchemas builds Backstage's filter predicate schema (1.55).
type predicateSchemas struct {
	primitive, expression, predicate, value zschema
}

// Record keys of field expressions must not start with "$" (nor a line
// break); a JavaScript "." never matches line terminators.
var (
	fieldKeyRE    = regexp.MustCompile(`^(?:[^$\n\r][^\n\r\x{2028}\x{2029}]*)?$`)
	operatorKeyRE = regexp.MustCompile(`^\$`)
)

func newPredicateSchemas() *predicateSchemas {
	p := &predicateSchemas{}
	lazy := func(get func() zschema) func() zschema { return get }
	p.primitive = zUnion(zLit(zString(nil)), zLit(zNumber), zLit(zBoolean))
	p.expression = zUnion(
		lazy(func() zschema { return zRecord(zString(fieldKeyRE), p.value) }),
		zLit(zRecord(zString(operatorKeyRE), zNever)),
	)
	p.predicate = func(c *zctx, v any, path []any) (zstatus, any) {
		return zUnion(
			lazy(func() zschema { return p.expression }),
			lazy(func() zschema { return p.primitive }),
			lazy(func() zschema { return zObject(true, zfield{"$all", zArray(p.predicate)}) }),
			lazy(func() zschema { return zObject(true, zfield{"$any", zArray(p.predicate)}) }),
			lazy(func() zschema { return zObject(true, zfield{"$not", p.predicate}) }),
		)(c, v, path)
	}
	p.value = func(c *zctx, v any, path []any) (zstatus, any) {
		return zUnion(
			zLit(p.primitive),
			zLit(zObject(false, zfield{"$exists", zBoolean})),
			zLit(zObject(false, zfield{"$in", zArray(p.primitive)})),
			lazy(func() zschema { return zObject(false, zfield{"$contains", p.predicate}) }),
			zLit(zObject(false, zfield{"$hasPrefix", zString(nil)})),
		)(c, v, path)
	}
	return p
}

// validatePredicate runs the schema. A predicate nested too deeply is
// refused first with err (see maxPredicateDepth); on a validation failure
// msg is the zod-validation-error message ("Validation error: ...").
func validatePredicate(v any, path []any) (out any, msg string, err error) {
	if err := predicateDepthError(v); err != nil {
		return nil, "", err
	}
	out, issues := zValidate(newPredicateSchemas().predicate, v, path)
	if issues != nil {
		return nil, formatZodIssues(issues), nil
	}
	return out, "", nil
}

// zValidate runs schema on v quietly, and again for its issues only when v
// fails: nearly every value checked is valid (a cursor is decoded on every
// next page), and issue text is wanted only for one that is not. issues is
// nil when v is valid.
func zValidate(schema zschema, v any, path []any) (out any, issues []zissue) {
	quiet := &zctx{quiet: true}
	if st, out := schema(quiet, v, path); st == zValid && quiet.n == 0 {
		return out, nil
	}
	c := &zctx{}
	if st, out := schema(c, v, path); st == zValid && len(c.issues) == 0 {
		return out, nil
	}
	return nil, c.issues
}

// membersDepthError is predicateDepthError for the named members of v (when
// v is an object and has them): the recursive parts of a cursor are held
// to that depth before the schema's recursion runs.
func membersDepthError(v any, keys ...string) error {
	o, ok := v.(*ojson.Object)
	if !ok {
		return nil
	}
	for _, k := range keys {
		if p, present := o.Get(k); present {
			if err := predicateDepthError(p); err != nil {
				return err
			}
		}
	}
	return nil
}

func formatZodIssues(issues []zissue) string {
	if len(issues) > 99 {
		issues = issues[:99]
	}
	parts := make([]string, len(issues))
	for i, is := range issues {
		parts[i] = issueMessage(is)
	}
	msg := strings.Join(parts, "; ")
	if msg == "" {
		return "Validation error"
	}
	return "Validation error: " + msg
}

func issueMessage(is zissue) string {
	if is.union != nil {
		var acc []string
		for _, issues := range is.union {
			parts := make([]string, len(issues))
			for i, sub := range issues {
				parts[i] = issueMessage(sub)
			}
			s := strings.Join(parts, "; ")
			if !containsString(acc, s) {
				acc = append(acc, s)
			}
		}
		return strings.Join(acc, ", or ")
	}
	if len(is.path) == 0 {
		return is.message
	}
	if len(is.path) == 1 {
		if n, ok := is.path[0].(int); ok {
			return fmt.Sprintf("%s at index %d", is.message, n)
		}
	}
	return fmt.Sprintf("%s at \"%s\"", is.message, joinZodPath(is.path))
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// identifierRE is zod-validation-error's (unanchored) identifier test.
var identifierRE = regexp.MustCompile(`[$_\p{L}\p{Nl}]`)

func joinZodPath(path []any) string {
	if len(path) == 1 {
		s := fmt.Sprint(path[0])
		if s == "" {
			return `""`
		}
		return s
	}
	var b strings.Builder
	for _, el := range path {
		switch t := el.(type) {
		case int:
			b.WriteString("[" + strconv.Itoa(t) + "]")
		case string:
			switch {
			case strings.Contains(t, `"`):
				b.WriteString(`["` + strings.ReplaceAll(t, `"`, `\"`) + `"]`)
			case !identifierRE.MatchString(t):
				b.WriteString(`["` + t + `"]`)
			default:
				if b.Len() > 0 {
					b.WriteByte('.')
				}
				b.WriteString(t)
			}
		}
	}
	return b.String()
}

// jsKeys lists object keys in JavaScript property order: array-index-like
// keys first in numeric order, then the others in insertion order.
func jsKeys(o *ojson.Object) []string {
	var idx []string
	var rest []string
	for _, m := range o.Members {
		if isArrayIndex(m.Key) {
			idx = append(idx, m.Key)
		} else {
			rest = append(rest, m.Key)
		}
	}
	sort.SliceStable(idx, func(i, j int) bool {
		a, _ := strconv.ParseUint(idx[i], 10, 64)
		b, _ := strconv.ParseUint(idx[j], 10, 64)
		return a < b
	})
	return append(idx, rest...)
}

func isArrayIndex(k string) bool {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n < 4294967295
}

// ParsePredicate validates a predicate `query` body and compiles it to a
// catalog.Filter. Errors are backend.ErrInput with Backstage's messages.
func ParsePredicate(raw json.RawMessage) (catalog.Filter, error) {
	v, err := ojson.Decode(raw)
	if err != nil {
		return nil, backend.Input("Invalid query: %v", err)
	}
	out, msg, err := validatePredicate(v, nil)
	if err != nil {
		return nil, err
	}
	if msg != "" {
		return nil, backend.Input("Invalid query: %s", msg)
	}
	if _, isObj := out.(*ojson.Object); !isObj {
		return nil, backend.Input("Query must be an object")
	}
	return CompilePredicate(out)
}

// CompilePredicate turns a validated predicate (ojson value) into a
// catalog.Filter, rejecting the forms the catalog cannot query and filters
// over the size limits (maxPredicateNodes, maxPredicateValues).
func CompilePredicate(p any) (catalog.Filter, error) {
	f, err := compilePredicate(p)
	if err != nil {
		return nil, err
	}
	if err := filterSizeError(f); err != nil {
		return nil, err
	}
	return f, nil
}

func compilePredicate(p any) (catalog.Filter, error) {
	o, ok := p.(*ojson.Object)
	if !ok {
		return nil, backend.Input("Invalid filter predicate: top-level primitive values are not supported. Wrap the value in a field expression, e.g. { \"kind\": %s }", jsonString(p))
	}
	if v, ok := o.Get("$not"); ok {
		inner, err := compilePredicate(v)
		if err != nil {
			return nil, err
		}
		return catalog.Not{Filter: inner}, nil
	}
	for _, op := range []string{"$all", "$any"} {
		v, ok := o.Get(op)
		if !ok {
			continue
		}
		arr, _ := v.([]any)
		subs := make([]catalog.Filter, 0, len(arr))
		for _, el := range arr {
			f, err := compilePredicate(el)
			if err != nil {
				return nil, err
			}
			subs = append(subs, f)
		}
		if op == "$all" {
			return catalog.AllOf{Filters: subs}, nil
		}
		return catalog.AnyOf{Filters: mergeAlternatives(subs)}, nil
	}
	var conds []catalog.Filter
	for _, k := range jsKeys(o) {
		v, _ := o.Get(k)
		f, err := compileField(strings.ToLower(k), v)
		if err != nil {
			return nil, err
		}
		conds = append(conds, f)
	}
	if len(conds) == 1 {
		return conds[0], nil
	}
	return catalog.AllOf{Filters: conds}, nil
}

// mergeAlternatives folds OR'ed equality conditions on one key into one
// condition with all their values (k=a OR k=b is k IN (a, b)), so that the
// common "filter=kind=a&filter=kind=b" costs one index probe, not one each.
func mergeAlternatives(subs []catalog.Filter) []catalog.Filter {
	out := make([]catalog.Filter, 0, len(subs))
	at := map[string]int{} // key → index in out of its merged condition
	for _, f := range subs {
		fl, ok := f.(catalog.Field)
		if !ok || fl.Op != catalog.OpIn {
			out = append(out, f)
			continue
		}
		if i, seen := at[fl.Key]; seen {
			merged := out[i].(catalog.Field)
			merged.Values = append(merged.Values, fl.Values...)
			out[i] = merged
			continue
		}
		at[fl.Key] = len(out)
		fl.Values = slices.Clone(fl.Values)
		out = append(out, fl)
	}
	return out
}

func compileField(key string, v any) (catalog.Filter, error) {
	if s, ok := primitiveString(v); ok {
		return catalog.Field{Key: key, Op: catalog.OpIn, Values: []string{strings.ToLower(s)}}, nil
	}
	if o, ok := v.(*ojson.Object); ok {
		if e, ok := o.Get("$exists"); ok {
			f := catalog.Field{Key: key, Op: catalog.OpExists}
			if b, _ := e.(bool); b {
				return f, nil
			}
			return catalog.Not{Filter: f}, nil
		}
		if in, ok := o.Get("$in"); ok {
			arr, _ := in.([]any)
			if len(arr) == 0 {
				return catalog.AnyOf{}, nil // IN () matches nothing
			}
			vals := make([]string, 0, len(arr))
			for _, el := range arr {
				s, _ := primitiveString(el)
				vals = append(vals, strings.ToLower(s))
			}
			return catalog.Field{Key: key, Op: catalog.OpIn, Values: vals}, nil
		}
		if hp, ok := o.Get("$hasPrefix"); ok {
			s, _ := hp.(string)
			return catalog.Field{Key: key, Op: catalog.OpHasPrefix, Values: []string{strings.ToLower(s)}}, nil
		}
		if target, ok := o.Get("$contains"); ok {
			if s, ok := primitiveString(target); ok {
				return catalog.Field{Key: key, Op: catalog.OpIn, Values: []string{strings.ToLower(s)}}, nil
			}
			if t, ok := target.(*ojson.Object); ok {
				if key == "relations" {
					return compileContainsRelation(t)
				}
				return nil, backend.Input("Object form of $contains is not supported for field %q", key)
			}
			return nil, backend.Input("Unsupported $contains target for field \"%s\": %s", key, jsonString(target))
		}
	}
	return nil, backend.Input("Invalid filter predicate value for field \"%s\": expected a primitive value, $exists, $in, $hasPrefix, or $contains operator, but got %s", key, jsonString(v))
}

func compileContainsRelation(t *ojson.Object) (catalog.Filter, error) {
	var typ *string
	var refs []string
	for _, rawKey := range jsKeys(t) {
		v, _ := t.Get(rawKey)
		switch strings.ToLower(rawKey) {
		case "type":
			if typ != nil {
				return nil, backend.Input("Duplicate key \"%s\" in $contains for \"relations\"", rawKey)
			}
			s, ok := v.(string)
			if !ok {
				return nil, backend.Input(`The $contains operator for "relations" requires a "type" string property`)
			}
			typ = &s
		case "targetref":
			if refs != nil {
				return nil, backend.Input("Duplicate key \"%s\" in $contains for \"relations\"", rawKey)
			}
			r, err := relationTargets(v)
			if err != nil {
				return nil, err
			}
			refs = r
		default:
			return nil, backend.Input("Unsupported key \"%s\" in $contains for \"relations\". Only \"type\" and \"targetRef\" are supported", rawKey)
		}
	}
	if typ == nil || *typ == "" {
		return nil, backend.Input(`The $contains operator for "relations" requires a "type" string property`)
	}
	key := "relations." + strings.ToLower(*typ)
	if refs == nil {
		return catalog.Field{Key: key, Op: catalog.OpExists}, nil
	}
	return catalog.Field{Key: key, Op: catalog.OpIn, Values: refs}, nil
}

func relationTargets(v any) ([]string, error) {
	if s, ok := v.(string); ok {
		return []string{strings.ToLower(s)}, nil
	}
	if o, ok := v.(*ojson.Object); ok && o.Len() == 1 {
		if in, ok := o.Get("$in"); ok {
			if arr, ok := in.([]any); ok {
				out := make([]string, 0, len(arr))
				allStrings := true
				for _, el := range arr {
					s, ok := el.(string)
					if !ok {
						allStrings = false
						break
					}
					out = append(out, strings.ToLower(s))
				}
				if allStrings {
					if len(out) == 0 {
						return nil, backend.Input(`Empty "$in" array for $contains on "relations" is not allowed`)
					}
					return out, nil
				}
			}
		}
	}
	return nil, backend.Input("Unsupported value in $contains for \"relations\": expected a string or { \"$in\": [strings] }, but got %s", jsonString(v))
}

// primitiveString is JavaScript's String(v) for string, number and boolean.
func primitiveString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case ojson.Number:
		return string(t), true
	case bool:
		return strconv.FormatBool(t), true
	}
	return "", false
}

func jsonString(v any) string {
	if _, ok := v.(ojson.UndefinedType); ok {
		return "undefined"
	}
	b, err := ojson.Marshal(v)
	if err != nil {
		return "null"
	}
	return string(b)
}
