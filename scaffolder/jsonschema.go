package scaffolder

import (
	"encoding/json"
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2"

	"github.com/understage/understage/plugins/backend/ojson"
)

// This file is a port of the `jsonschema` npm package (1.5), which
// Backstage's scaffolder validates parameters and action inputs with: the
// same keywords in the same order, the same error objects (path,
// property, message, schema, instance, name, argument, stack) and the
// same JavaScript quirks (object keys that look like array indexes come
// first, numbers printed as JavaScript prints them, patterns and formats
// matched as JavaScript regular expressions).

// ValidateJSON validates an instance (an ojson value; nil is null, and
// ojson.Undefined is undefined) against a JSON Schema
// and returns the errors in the order the jsonschema package reports them.
func ValidateJSON(instance any, schema *ojson.Object) []*ojson.Object {
	root := jsOrder(schema).(*ojson.Object)
	v := &validator{root: root, budget: maxValidationSteps, regexps: map[string]*regexp2.Regexp{}}
	return v.validate(jsOrder(instance), root, nil, 0).errs
}

// Work bounds: schemas and values come from requests, and oneOf/anyOf
// nest; past these the remaining sub-schemas are treated as satisfied.
const (
	maxValidationSteps = 200000
	maxValidationDepth = 200
	// regexpBudget bounds the time all pattern and format matches of one
	// validation may take (the expressions backtrack, as JavaScript's do);
	// past it, patterns no longer match.
	regexpBudget = 250 * time.Millisecond
)

func isUndef(v any) bool { return ojson.IsUndefined(v) }

type validator struct {
	root       *ojson.Object
	budget     int
	regexps    map[string]*regexp2.Regexp
	regexpTime time.Duration
}

// result is the package's ValidatorResult: errors found for one instance
// against one schema at one path.
type result struct {
	instance any
	schema   any
	path     []any
	errs     []*ojson.Object
}

func (r *result) valid() bool { return len(r.errs) == 0 }

// add is ValidatorResult.addError.
func (r *result) add(name, message string, argument any) {
	prop := propertyPath(r.path)
	p := make([]any, len(r.path))
	copy(p, r.path)
	e := ojson.NewObject("path", p, "property", prop, "message", message)
	if r.schema != nil {
		if id := schemaID(r.schema); id != "" {
			e.Set("schema", id)
		} else {
			e.Set("schema", r.schema)
		}
	}
	if !isUndef(r.instance) {
		e.Set("instance", r.instance)
	}
	e.Set("name", name)
	if !isUndef(argument) { // undefined is left out, null is kept
		e.Set("argument", argument)
	}
	e.Set("stack", prop+" "+message)
	r.errs = append(r.errs, e)
}

func (r *result) merge(o *result) {
	if o != nil {
		r.errs = append(r.errs, o.errs...)
	}
}

// json is ValidatorResult as JSON.stringify shows it (allOf's argument).
func (r *result) json() *ojson.Object {
	o := ojson.NewObject()
	if !isUndef(r.instance) {
		o.Set("instance", r.instance)
	}
	o.Set("schema", r.schema)
	o.Set("options", ojson.NewObject())
	o.Set("path", append([]any{}, r.path...))
	o.Set("propertyPath", propertyPath(r.path))
	errs := make([]any, len(r.errs))
	for i, e := range r.errs {
		errs[i] = e
	}
	o.Set("errors", errs)
	o.Set("disableFormat", false)
	return o
}

func schemaID(s any) string {
	o, ok := s.(*ojson.Object)
	if !ok {
		return ""
	}
	if id, ok := o.Get("$id"); ok && truthyJS(id) {
		return jsString(id)
	}
	if id, ok := o.Get("id"); ok && truthyJS(id) {
		return jsString(id)
	}
	return ""
}

func truthyJS(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case string:
		return x != ""
	case ojson.Number:
		f, _ := num(x)
		return f != 0 && !math.IsNaN(f)
	}
	return !isUndef(v)
}

func propertyPath(path []any) string {
	s := "instance"
	for _, p := range path {
		s += makeSuffix(p)
	}
	return s
}

// makeSuffix is the package's makeSuffix: .name, [0] or ["odd key"].
func makeSuffix(p any) string {
	var k string
	switch x := p.(type) {
	case int:
		return "[" + strconv.Itoa(x) + "]"
	case string:
		k = x
	default:
		k = jsString(p)
	}
	if !strings.ContainsAny(k, ".[]") && !containsSpace(k) && (k == "" || k[0] < '0' || k[0] > '9') {
		return "." + k
	}
	if k != "" && strings.Trim(k, "0123456789") == "" {
		return "[" + k + "]"
	}
	b, _ := json.Marshal(k)
	return "[" + string(b) + "]"
}

// containsSpace is JavaScript's \s.
func containsSpace(s string) bool {
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\v', '\f', '\r', 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000, 0xfeff:
			return true
		}
		if r >= 0x2000 && r <= 0x200a {
			return true
		}
	}
	return false
}

func with(path []any, p any) []any {
	out := make([]any, len(path), len(path)+1)
	copy(out, path)
	return append(out, p)
}

// sget is o[key], undefined when absent.
func sget(o *ojson.Object, key string) any {
	if o == nil {
		return nil
	}
	v, ok := o.Get(key)
	if !ok {
		return ojson.Undefined
	}
	return v
}

// validate is Validator.validateSchema.
func (v *validator) validate(instance, schema any, path []any, depth int) *result {
	r := &result{instance: instance, schema: schema, path: path}
	v.budget--
	if v.budget < 0 || depth > maxValidationDepth {
		return r
	}
	var s *ojson.Object
	switch x := schema.(type) {
	case bool:
		if x {
			s = ojson.NewObject()
		} else {
			s = ojson.NewObject("type", []any{})
		}
	case *ojson.Object:
		s = x
	default:
		return r
	}
	if ref, ok := sget(s, "$ref").(string); ok {
		if target := v.resolve(ref); target != nil {
			return v.validate(instance, target, path, depth+1)
		}
		return r
	}
	for _, m := range s.Members {
		if res := v.keyword(m.Key, instance, s, path, depth); res != nil {
			r.merge(res)
		}
	}
	return r
}

// resolve finds a $ref target: a JSON pointer into the page ("#/a/b"),
// the page itself ("#"), or a sub-schema with that $id. Others resolve to
// nothing (the package would fail with a SchemaError).
func (v *validator) resolve(ref string) any {
	if ref == "#" {
		return v.root
	}
	if strings.HasPrefix(ref, "#/") {
		var cur any = v.root
		for _, part := range strings.Split(ref[2:], "/") {
			part = strings.ReplaceAll(strings.Replace(part, "~0", "~", 1), "~1", "/")
			if u, err := url.PathUnescape(part); err == nil {
				part = u
			}
			switch c := cur.(type) {
			case *ojson.Object:
				next, ok := c.Get(part)
				if !ok {
					return nil
				}
				cur = next
			case []any:
				i, err := strconv.Atoi(part)
				if err != nil || i < 0 || i >= len(c) {
					return nil
				}
				cur = c[i]
			default:
				return nil
			}
		}
		return cur
	}
	var found any
	var walk func(any, int)
	walk = func(n any, d int) {
		if found != nil || d > maxValidationDepth {
			return
		}
		switch x := n.(type) {
		case *ojson.Object:
			if id := schemaID(x); id == ref || "#"+strings.TrimPrefix(id, "#") == ref && strings.HasPrefix(id, "#") {
				found = x
				return
			}
			for _, m := range x.Members {
				walk(m.Value, d+1)
			}
		case []any:
			for _, e := range x {
				walk(e, d+1)
			}
		}
	}
	walk(v.root, 0)
	return found
}

func (v *validator) keyword(key string, instance any, s *ojson.Object, path []any, depth int) *result {
	r := &result{instance: instance, schema: s, path: path}
	val, _ := s.Get(key)
	switch key {
	case "type":
		if isUndef(instance) {
			return nil
		}
		types, ok := val.([]any)
		if !ok {
			types = []any{val}
		}
		for _, t := range types {
			if v.testType(instance, t, path, depth) {
				return r
			}
		}
		list := make([]any, len(types))
		strs := make([]string, len(types))
		for i, t := range types {
			if !truthyJS(t) {
				list[i] = nil
				continue
			}
			if id := schemaID(t); id != "" {
				list[i] = "<" + id + ">"
			} else {
				list[i] = jsString(t)
			}
			strs[i] = list[i].(string)
		}
		r.add("type", "is not of a type(s) "+strings.Join(strs, ","), list)
	case "anyOf", "oneOf":
		if isUndef(instance) {
			return nil
		}
		arr, _ := val.([]any)
		n := 0
		for _, sub := range arr {
			if v.validate(instance, sub, path, depth+1).valid() {
				n++
				if key == "anyOf" {
					break
				}
			}
		}
		list := make([]any, len(arr))
		strs := make([]string, len(arr))
		for i, sub := range arr {
			strs[i] = subschemaLabel(sub, i, key == "anyOf")
			list[i] = strs[i]
		}
		if key == "anyOf" && n == 0 {
			r.add("anyOf", "is not any of "+strings.Join(strs, ","), list)
		}
		if key == "oneOf" && n != 1 {
			r.add("oneOf", "is not exactly one from "+strings.Join(strs, ","), list)
		}
	case "allOf":
		if isUndef(instance) {
			return nil
		}
		arr, _ := val.([]any)
		for i, sub := range arr {
			res := v.validate(instance, sub, path, depth+1)
			if res.valid() {
				continue
			}
			label := subschemaLabel(sub, i, false)
			n := strconv.Itoa(len(res.errs))
			r.add("allOf", "does not match allOf schema "+label+" with "+n+" error[s]:",
				ojson.NewObject("id", label, "length", ojson.Number(n), "valid", res.json()))
			r.merge(res)
		}
	case "if":
		if isUndef(instance) {
			return nil
		}
		branch := "else"
		if v.validate(instance, val, path, depth+1).valid() {
			branch = "then"
		}
		sub := sget(s, branch)
		if isUndef(sub) {
			return nil
		}
		r.merge(v.validate(instance, sub, path, depth+1))
	case "propertyNames":
		obj, ok := instance.(*ojson.Object)
		if !ok {
			return nil
		}
		for _, m := range obj.Members {
			r.merge(v.validate(m.Key, val, path, depth+1))
		}
	case "properties":
		obj, ok := instance.(*ojson.Object)
		props, okP := val.(*ojson.Object)
		if !ok || !okP {
			return nil
		}
		for _, p := range props.Members {
			if p.Value == nil {
				continue
			}
			r.merge(v.validate(sget(obj, p.Key), p.Value, with(path, p.Key), depth+1))
		}
	case "patternProperties":
		obj, ok := instance.(*ojson.Object)
		if !ok {
			return nil
		}
		pats, _ := val.(*ojson.Object)
		for _, m := range obj.Members {
			test := true
			if pats != nil {
				for _, p := range pats.Members {
					if p.Value == nil || !v.match(p.Key, m.Key) {
						continue
					}
					test = false
					r.merge(v.validate(m.Value, p.Value, with(path, m.Key), depth+1))
				}
			}
			if test {
				v.additionalProperty(r, obj, s, m, path, depth)
			}
		}
	case "additionalProperties":
		obj, ok := instance.(*ojson.Object)
		if !ok || !isUndef(sget(s, "patternProperties")) {
			return nil
		}
		for _, m := range obj.Members {
			v.additionalProperty(r, obj, s, m, path, depth)
		}
	case "minProperties", "maxProperties":
		obj, ok := instance.(*ojson.Object)
		if !ok {
			return nil
		}
		n := float64(obj.Len())
		lim, isNum := num(val)
		if key == "minProperties" && !(isNum && n >= lim) {
			r.add(key, "does not meet minimum property length of "+jsString(val), val)
		}
		if key == "maxProperties" && !(isNum && n <= lim) {
			r.add(key, "does not meet maximum property length of "+jsString(val), val)
		}
	case "items":
		arr, ok := instance.([]any)
		if !ok {
			return nil
		}
		tuple, isTuple := val.([]any)
		for i, e := range arr {
			var items any = val
			if isTuple {
				if i < len(tuple) {
					items = tuple[i]
				} else {
					items = sget(s, "additionalItems")
				}
			}
			if isUndef(items) {
				continue
			}
			if items == false {
				r.add("items", "additionalItems not permitted", ojson.Undefined)
				break
			}
			r.merge(v.validate(e, items, with(path, i), depth+1))
		}
	case "contains":
		arr, ok := instance.([]any)
		if !ok {
			return nil
		}
		for i, e := range arr {
			if v.validate(e, val, with(path, i), depth+1).valid() {
				return r
			}
		}
		r.add("contains", "must contain an item matching given schema", val)
	case "minimum", "maximum":
		f, ok := finite(instance)
		if !ok {
			return nil
		}
		lim, _ := num(val)
		exclKey := "exclusiveMinimum"
		if key == "maximum" {
			exclKey = "exclusiveMaximum"
		}
		excl := sget(s, exclKey) == true
		switch {
		case key == "minimum" && excl && !(f > lim):
			r.add(key, "must be greater than "+jsString(val), val)
		case key == "minimum" && !excl && !(f >= lim):
			r.add(key, "must be greater than or equal to "+jsString(val), val)
		case key == "maximum" && excl && !(f < lim):
			r.add(key, "must be less than "+jsString(val), val)
		case key == "maximum" && !excl && !(f <= lim):
			r.add(key, "must be less than or equal to "+jsString(val), val)
		}
	case "exclusiveMinimum", "exclusiveMaximum":
		if _, isBool := val.(bool); isBool {
			return nil
		}
		f, ok := finite(instance)
		if !ok {
			return nil
		}
		lim, _ := num(val)
		if key == "exclusiveMinimum" && !(f > lim) {
			r.add(key, "must be strictly greater than "+jsString(val), val)
		}
		if key == "exclusiveMaximum" && !(f < lim) {
			r.add(key, "must be strictly less than "+jsString(val), val)
		}
	case "multipleOf", "divisibleBy":
		f, ok := finite(instance)
		if !ok {
			return nil
		}
		d, _ := num(val)
		if d == 0 {
			return nil // a SchemaError in the package
		}
		mult := math.Pow(10, float64(max(decimalPlaces(f), decimalPlaces(d))))
		if math.Mod(jsRound(f*mult), jsRound(d*mult)) != 0 {
			b := ojson.MustMarshal(val)
			if key == "multipleOf" {
				r.add(key, "is not a multiple of (divisible by) "+string(b), val)
			} else {
				r.add(key, "is not divisible by (multiple of) "+string(b), val)
			}
		}
	case "required":
		if b, ok := val.(bool); ok && b && isUndef(instance) {
			r.add("required", "is required", ojson.Undefined)
		} else if obj, ok := instance.(*ojson.Object); ok {
			if arr, ok := val.([]any); ok {
				for _, n := range arr {
					name := jsString(n)
					if isUndef(sget(obj, name)) {
						b, _ := json.Marshal(n)
						r.add("required", "requires property "+string(b), n)
					}
				}
			}
		}
	case "pattern":
		str, ok := instance.(string)
		if !ok {
			return nil
		}
		pat := jsString(val)
		if !v.match(pat, str) {
			b, _ := json.Marshal(pat)
			r.add("pattern", "does not match pattern "+string(b), val)
		}
	case "format":
		if isUndef(instance) {
			return nil
		}
		str, ok := instance.(string)
		if !ok {
			return nil
		}
		name, _ := val.(string)
		if !v.isFormat(str, name) {
			b, _ := json.Marshal(val)
			r.add("format", "does not conform to the "+string(b)+" format", val)
		}
	case "minLength", "maxLength":
		str, ok := instance.(string)
		if !ok {
			return nil
		}
		n := float64(utf8.RuneCountInString(str))
		lim, isNum := num(val)
		if key == "minLength" && !(isNum && n >= lim) {
			r.add(key, "does not meet minimum length of "+jsString(val), val)
		}
		if key == "maxLength" && !(isNum && n <= lim) {
			r.add(key, "does not meet maximum length of "+jsString(val), val)
		}
	case "minItems", "maxItems":
		arr, ok := instance.([]any)
		if !ok {
			return nil
		}
		n := float64(len(arr))
		lim, isNum := num(val)
		if key == "minItems" && !(isNum && n >= lim) {
			r.add(key, "does not meet minimum length of "+jsString(val), val)
		}
		if key == "maxItems" && !(isNum && n <= lim) {
			r.add(key, "does not meet maximum length of "+jsString(val), val)
		}
	case "uniqueItems":
		arr, ok := instance.([]any)
		if val != true || !ok {
			return nil
		}
		for i := range arr {
			for j := i + 1; j < len(arr); j++ {
				if deepEqual(arr[i], arr[j]) {
					r.add("uniqueItems", "contains duplicate item", ojson.Undefined)
					return r
				}
			}
		}
	case "dependencies":
		obj, ok := instance.(*ojson.Object)
		deps, okD := val.(*ojson.Object)
		if !ok || !okD {
			return nil
		}
		for _, d := range deps.Members {
			if isUndef(sget(obj, d.Key)) {
				continue
			}
			childPath := with(path, d.Key)
			pp := propertyPath(childPath)
			dep := d.Value
			if str, isStr := dep.(string); isStr {
				dep = []any{str}
			}
			if list, isList := dep.([]any); isList {
				for _, p := range list {
					if isUndef(sget(obj, jsString(p))) {
						r.add("dependencies", "property "+jsString(p)+" not found, required by "+pp, pp)
					}
				}
				continue
			}
			res := v.validate(instance, dep, childPath, depth+1)
			if !res.valid() {
				r.add("dependencies", "does not meet dependency required by "+pp, pp)
				r.merge(res)
			}
		}
	case "enum":
		if isUndef(instance) {
			return nil
		}
		arr, _ := val.([]any)
		for _, e := range arr {
			if deepEqual(e, instance) {
				return r
			}
		}
		strs := make([]string, len(arr))
		for i, e := range arr {
			strs[i] = jsStringOf(e)
		}
		r.add("enum", "is not one of enum values: "+strings.Join(strs, ","), val)
	case "const":
		if isUndef(instance) {
			return nil
		}
		if !deepEqual(val, instance) {
			r.add("const", "does not exactly match expected constant: "+jsStringOf(val), val)
		}
	case "not", "disallow":
		if isUndef(instance) || !truthyJS(val) {
			return nil
		}
		list, ok := val.([]any)
		if !ok {
			list = []any{val}
		}
		for _, t := range list {
			if !v.testType(instance, t, path, depth) {
				continue
			}
			var arg any = t
			label := jsStringOf(t)
			if id := schemaID(t); id != "" {
				arg, label = id, id
			}
			r.add("not", "is of prohibited type "+label, arg)
		}
	default:
		return nil
	}
	return r
}

// additionalProperty is the package's testAdditionalProperty.
func (v *validator) additionalProperty(r *result, obj, s *ojson.Object, m ojson.Member, path []any, depth int) {
	if props, ok := sget(s, "properties").(*ojson.Object); ok {
		if p, has := props.Get(m.Key); has && p != nil {
			return
		}
	}
	ap := sget(s, "additionalProperties")
	if ap == false {
		b, _ := json.Marshal(m.Key)
		r.add("additionalProperties", "is not allowed to have the additional property "+string(b), m.Key)
		return
	}
	if !truthyJS(ap) {
		ap = ojson.NewObject()
	}
	r.merge(v.validate(m.Value, ap, with(path, m.Key), depth+1))
}

// testType is Validator.testType for one entry of a type list.
func (v *validator) testType(instance, t any, path []any, depth int) bool {
	switch x := t.(type) {
	case string:
		switch x {
		case "string":
			_, ok := instance.(string)
			return ok
		case "number":
			_, ok := finite(instance)
			return ok
		case "integer":
			f, ok := num(instance)
			return ok && !math.IsInf(f, 0) && f == math.Trunc(f)
		case "boolean":
			_, ok := instance.(bool)
			return ok
		case "array":
			_, ok := instance.([]any)
			return ok
		case "null":
			return instance == nil
		case "object":
			_, ok := instance.(*ojson.Object)
			return ok
		case "date":
			return false
		}
		return true // unknown type names are acceptable
	case *ojson.Object:
		return v.validate(instance, x, path, depth+1).valid()
	case nil:
		return false // a SchemaError in the package
	}
	// Any other value (true, false, a number) is an unknown type name,
	// which the package accepts.
	return !isUndef(t)
}

func subschemaLabel(s any, i int, wrapID bool) string {
	if id := schemaID(s); id != "" {
		if wrapID {
			return "<" + id + ">"
		}
		return id
	}
	if o, ok := s.(*ojson.Object); ok {
		if t, ok := o.Get("title"); ok && truthyJS(t) {
			b, _ := json.Marshal(t)
			return string(b)
		}
		if r, ok := o.Get("$ref"); ok && truthyJS(r) {
			return "<" + jsString(r) + ">"
		}
	}
	return "[subschema " + strconv.Itoa(i) + "]"
}

// jsStringOf is JavaScript's String(v) (null included).
func jsStringOf(v any) string {
	if v == nil {
		return "null"
	}
	return jsString(v)
}

func num(v any) (float64, bool) {
	n, ok := v.(ojson.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

func finite(v any) (float64, bool) {
	f, ok := num(v)
	return f, ok && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// decimalPlaces is the package's getDecimalPlaces (on JavaScript's
// printing of the number).
func decimalPlaces(f float64) int {
	s := string(ojson.NumberFromFloat(f))
	places := 0
	if mant, exp, ok := strings.Cut(s, "e"); ok {
		if !strings.HasPrefix(exp, "-") {
			return 0
		}
		places, _ = strconv.Atoi(exp[1:])
		s = mant
	}
	if _, frac, ok := strings.Cut(s, "."); ok {
		places += len(frac)
	}
	return places
}

// jsRound is Math.round: halves go up.
func jsRound(f float64) float64 { return math.Floor(f + 0.5) }

// match tests s against a pattern as `new RegExp(pattern, 'u')` (or
// without the u flag when that fails to compile) would; a pattern that
// does not compile, or runs out of time, does not match.
func (v *validator) match(pattern, s string) bool {
	re, ok := v.regexps[pattern]
	if !ok {
		var err error
		re, err = regexp2.Compile(pattern, regexp2.ECMAScript|regexp2.Unicode)
		if err != nil {
			re, err = regexp2.Compile(pattern, regexp2.ECMAScript)
		}
		if err != nil {
			re = nil
		}
		v.regexps[pattern] = re
	}
	left := regexpBudget - v.regexpTime
	if re == nil || left <= 0 {
		return false
	}
	re.MatchTimeout = left
	start := time.Now()
	m, err := re.MatchString(s)
	v.regexpTime += time.Since(start)
	return err == nil && m
}

// formats are the package's FORMAT_REGEXPS (JavaScript regular
// expressions, i for case-insensitive ones).
var formats = map[string]string{
	"date-time":             `^\d{4}-(?:0[0-9]{1}|1[0-2]{1})-(3[01]|0[1-9]|[12][0-9])[tT ](2[0-4]|[01][0-9]):([0-5][0-9]):(60|[0-5][0-9])(\.\d+)?([zZ]|[+-]([0-5][0-9]):(60|[0-5][0-9]))$`,
	"date":                  `^\d{4}-(?:0[0-9]{1}|1[0-2]{1})-(3[01]|0[1-9]|[12][0-9])$`,
	"time":                  `^(2[0-4]|[01][0-9]):([0-5][0-9]):(60|[0-5][0-9])$`,
	"duration":              `(?i)P(T\d+(H(\d+M(\d+S)?)?|M(\d+S)?|S)|\d+(D|M(\d+D)?|Y(\d+M(\d+D)?)?)(T\d+(H(\d+M(\d+S)?)?|M(\d+S)?|S))?|\d+W)`,
	"email":                 `^(?:[\w\!\#\$\%\&\'\*\+\-\/\=\?\^\` + "`" + `\{\|\}\~]+\.)*[\w\!\#\$\%\&\'\*\+\-\/\=\?\^\` + "`" + `\{\|\}\~]+@(?:(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9\-](?!\.)){0,61}[a-zA-Z0-9]?\.)+[a-zA-Z0-9](?:[a-zA-Z0-9\-](?!$)){0,61}[a-zA-Z0-9]?)|(?:\[(?:(?:[01]?\d{1,2}|2[0-4]\d|25[0-5])\.){3}(?:[01]?\d{1,2}|2[0-4]\d|25[0-5])\]))$`,
	"ip-address":            `^(?:(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)\.){3}(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)$`,
	"ipv6":                  `^\s*((([0-9A-Fa-f]{1,4}:){7}([0-9A-Fa-f]{1,4}|:))|(([0-9A-Fa-f]{1,4}:){6}(:[0-9A-Fa-f]{1,4}|((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})|:))|(([0-9A-Fa-f]{1,4}:){5}(((:[0-9A-Fa-f]{1,4}){1,2})|:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})|:))|(([0-9A-Fa-f]{1,4}:){4}(((:[0-9A-Fa-f]{1,4}){1,3})|((:[0-9A-Fa-f]{1,4})?:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){3}(((:[0-9A-Fa-f]{1,4}){1,4})|((:[0-9A-Fa-f]{1,4}){0,2}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){2}(((:[0-9A-Fa-f]{1,4}){1,5})|((:[0-9A-Fa-f]{1,4}){0,3}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(([0-9A-Fa-f]{1,4}:){1}(((:[0-9A-Fa-f]{1,4}){1,6})|((:[0-9A-Fa-f]{1,4}){0,4}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:))|(:(((:[0-9A-Fa-f]{1,4}){1,7})|((:[0-9A-Fa-f]{1,4}){0,5}:((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}))|:)))(%.+)?\s*$`,
	"uri":                   `^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$`,
	"iri":                   `^[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]*$`,
	"uuid":                  `(?i)^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$`,
	"json-pointer":          `(?i)^(\/([\x00-\x2e0-@\[-}\x7f]|~[01])*)*$`,
	"relative-json-pointer": `(?i)^\d+(#|(\/([\x00-\x2e0-@\[-}\x7f]|~[01])*)*)$`,
	"hostname":              `^(?=.{1,255}$)[0-9A-Za-z](?:(?:[0-9A-Za-z]|-){0,61}[0-9A-Za-z])?(?:\.[0-9A-Za-z](?:(?:[0-9A-Za-z]|-){0,61}[0-9A-Za-z])?)*\.?$`,
	"style":                 `[\r\n\t ]*[^\r\n\t ][^:]*:[\r\n\t ]*[^\r\n\t ;]*[\r\n\t ]*;?`,
	"color":                 `^(#?([0-9A-Fa-f]{3}){1,2}\b|aqua|black|blue|fuchsia|gray|green|lime|maroon|navy|olive|orange|purple|red|silver|teal|white|yellow|(rgb\(\s*\b([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])\b\s*,\s*\b([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])\b\s*,\s*\b([0-9]|[1-9][0-9]|1[0-9][0-9]|2[0-4][0-9]|25[0-5])\b\s*\))|(rgb\(\s*(\d?\d%|100%)+\s*,\s*(\d?\d%|100%)+\s*,\s*(\d?\d%|100%)+\s*\)))$`,
	"phone":                 `^\+(?:[0-9] ?){6,14}[0-9]$`,
	"alpha":                 `^[a-zA-Z]+$`,
	"alphanumeric":          `^[a-zA-Z0-9]+$`,
	"uri-reference":         `^(((([A-Za-z][+\-.0-9A-Za-z]*(:%[0-9A-Fa-f]{2}|:[!$&-.0-;=?-Z_a-z~]|[/?])|\?)(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*|([A-Za-z][+\-.0-9A-Za-z]*:?)?)|([A-Za-z][+\-.0-9A-Za-z]*:)?\/((%[0-9A-Fa-f]{2}|\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~])+|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~]+)?|[.0-:A-Fa-f]+)\])?)(:\d*)?[/?]|[!$&-.0-;=?-Z_a-z~])(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*|(\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~])+|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~]+)?|[.0-:A-Fa-f]+)\])?)(:\d*)?)?))#(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*|(([A-Za-z][+\-.0-9A-Za-z]*)?%[0-9A-Fa-f]{2}|[!$&-.0-9;=@_~]|[A-Za-z][+\-.0-9A-Za-z]*[!$&-*,;=@_~])(%[0-9A-Fa-f]{2}|[!$&-.0-9;=@-Z_a-z~])*((([/?](%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*)?#|[/?])(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*)?|([A-Za-z][+\-.0-9A-Za-z]*(:%[0-9A-Fa-f]{2}|:[!$&-.0-;=?-Z_a-z~]|[/?])|\?)(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*|([A-Za-z][+\-.0-9A-Za-z]*:)?\/((%[0-9A-Fa-f]{2}|\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~])+|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~]+)?|[.0-:A-Fa-f]+)\])?)(:\d*)?[/?]|[!$&-.0-;=?-Z_a-z~])(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~])*|\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~])+(:\d*)?|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~]+)?|[.0-:A-Fa-f]+)\])?:\d*|\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~]+)?|[.0-:A-Fa-f]+)\])?)?|[A-Za-z][+\-.0-9A-Za-z]*:?)?$`,
	"iri-reference":         `^(((([A-Za-z][+\-.0-9A-Za-z]*(:%[0-9A-Fa-f]{2}|:[!$&-.0-;=?-Z_a-z~-\u{10FFFF}]|[/?])|\?)(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*|([A-Za-z][+\-.0-9A-Za-z]*:?)?)|([A-Za-z][+\-.0-9A-Za-z]*:)?\/((%[0-9A-Fa-f]{2}|\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~-\u{10FFFF}])+|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~-\u{10FFFF}]+)?|[.0-:A-Fa-f]+)\])?)(:\d*)?[/?]|[!$&-.0-;=?-Z_a-z~-\u{10FFFF}])(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*|(\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~-\u{10FFFF}])+|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~-\u{10FFFF}]+)?|[.0-:A-Fa-f]+)\])?)(:\d*)?)?))#(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*|(([A-Za-z][+\-.0-9A-Za-z]*)?%[0-9A-Fa-f]{2}|[!$&-.0-9;=@_~-\u{10FFFF}]|[A-Za-z][+\-.0-9A-Za-z]*[!$&-*,;=@_~-\u{10FFFF}])(%[0-9A-Fa-f]{2}|[!$&-.0-9;=@-Z_a-z~-\u{10FFFF}])*((([/?](%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*)?#|[/?])(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*)?|([A-Za-z][+\-.0-9A-Za-z]*(:%[0-9A-Fa-f]{2}|:[!$&-.0-;=?-Z_a-z~-\u{10FFFF}]|[/?])|\?)(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*|([A-Za-z][+\-.0-9A-Za-z]*:)?\/((%[0-9A-Fa-f]{2}|\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~-\u{10FFFF}])+|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~-\u{10FFFF}]+)?|[.0-:A-Fa-f]+)\])?)(:\d*)?[/?]|[!$&-.0-;=?-Z_a-z~-\u{10FFFF}])(%[0-9A-Fa-f]{2}|[!$&-;=?-Z_a-z~-\u{10FFFF}])*|\/((%[0-9A-Fa-f]{2}|[!$&-.0-9;=A-Z_a-z~-\u{10FFFF}])+(:\d*)?|(\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~-\u{10FFFF}]+)?|[.0-:A-Fa-f]+)\])?:\d*|\[(([Vv][0-9A-Fa-f]+\.[!$&-.0-;=A-Z_a-z~-\u{10FFFF}]+)?|[.0-:A-Fa-f]+)\])?)?|[A-Za-z][+\-.0-9A-Za-z]*:?)?$`,
	"idn-email":             `^("(?:[!#-\[\]-\u{10FFFF}]|\\[\t -\u{10FFFF}])*"|[!#-'*+\-/-9=?A-Z\^-\u{10FFFF}](?:\.?[!#-'*+\-/-9=?A-Z\^-\u{10FFFF}])*)@([!#-'*+\-/-9=?A-Z\^-\u{10FFFF}](?:\.?[!#-'*+\-/-9=?A-Z\^-\u{10FFFF}])*|\[[!-Z\^-\u{10FFFF}]*\])$`,
	"uri-template":          `(?i)(%[0-9a-f]{2}|[!#$&(-;=?@\[\]_a-z~]|\{[!#&+,./;=?@|]?(%[0-9a-f]{2}|[0-9_a-z])(\.?(%[0-9a-f]{2}|[0-9_a-z]))*(:[1-9]\d{0,3}|\*)?(,(%[0-9a-f]{2}|[0-9_a-z])(\.?(%[0-9a-f]{2}|[0-9_a-z]))*(:[1-9]\d{0,3}|\*)?)*\})*`,
}

// formatAliases name the same checks twice, as the package does.
var formatAliases = map[string]string{"ipv4": "ip-address", "host-name": "hostname", "regexp": "regex", "pattern": "regex"}

// isFormat is the package's isFormat: strings in a known format are
// checked, everything else conforms.
func (v *validator) isFormat(s, name string) bool {
	if a, ok := formatAliases[name]; ok {
		name = a
	}
	switch name {
	case "regex":
		_, err := regexp2.Compile(s, regexp2.ECMAScript)
		return err == nil
	case "utc-millisec":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		i, errI := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return err == nil && errI == nil && f == float64(i)
	}
	pat, ok := formats[name]
	if !ok {
		return true
	}
	return v.match(pat, s)
}

// deepEqual is the package's deepCompareStrict: key order does not matter,
// 1 and 1.0 are the same number.
func deepEqual(a, b any) bool {
	switch x := a.(type) {
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	case *ojson.Object:
		y, ok := b.(*ojson.Object)
		if !ok || x.Len() != y.Len() {
			return false
		}
		for _, m := range x.Members {
			w, has := y.Get(m.Key)
			if !has || !deepEqual(m.Value, w) {
				return false
			}
		}
		return true
	case ojson.Number:
		fa, okA := num(x)
		fb, okB := num(b)
		return okA && okB && fa == fb
	case nil:
		return b == nil
	}
	if _, isObj := b.(*ojson.Object); isObj {
		return false
	}
	if _, isArr := b.([]any); isArr {
		return false
	}
	return a == b
}

// jsOrder copies a value with every object's keys in JavaScript's
// enumeration order: keys that are array indexes first, ascending, then
// the others as written.
func jsOrder(v any) any {
	switch x := v.(type) {
	case *ojson.Object:
		o := ojson.NewObject()
		var idx, rest []ojson.Member
		for _, m := range x.Members {
			if isArrayIndex(m.Key) {
				idx = append(idx, m)
			} else {
				rest = append(rest, m)
			}
		}
		sort.SliceStable(idx, func(i, j int) bool {
			a, _ := strconv.ParseUint(idx[i].Key, 10, 64)
			b, _ := strconv.ParseUint(idx[j].Key, 10, 64)
			return a < b
		})
		for _, m := range append(idx, rest...) {
			o.Set(m.Key, jsOrder(m.Value))
		}
		return o
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsOrder(e)
		}
		return out
	}
	return v
}

func isArrayIndex(k string) bool {
	if k == "" || (len(k) > 1 && k[0] == '0') {
		return false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	return err == nil && n < 1<<32-1
}
