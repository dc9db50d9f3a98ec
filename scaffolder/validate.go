package scaffolder

import (
	"encoding/json"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/understage/understage/catalog/ojson"
)

// ValidateParameters validates values against each parameter page in turn,
// as Backstage's router does (every page, whatever its `when`), and returns
// the errors of the first failing page in the shape of the `jsonschema` npm
// package's ValidationError (path, property, message, schema, instance,
// name, argument, stack), or nil when every page accepts the values.
func ValidateParameters(pages []*ojson.Object, values any) []*ojson.Object {
	for _, page := range pages {
		if errs := ValidateJSON(values, page); len(errs) > 0 {
			return errs
		}
	}
	return nil
}

// ValidateSecrets validates a task's secrets against spec.secrets.schema and
// words the errors as Backstage's router does (property prefix "secrets",
// "secrets.<name> is required"); nil when the template declares no schema or
// the secrets are valid.
func ValidateSecrets(t *Template, secrets map[string]string) []*ojson.Object {
	sec := t.Spec.Object("secrets")
	if sec == nil {
		return nil
	}
	schema := sec.Object("schema")
	if schema == nil {
		return nil
	}
	inst := ojson.NewObject()
	for k, v := range secrets {
		inst.Set(k, v)
	}
	errs := ValidateJSON(inst, schema)
	for _, e := range errs {
		prop := "secrets" + strings.TrimPrefix(e.String("property"), "instance")
		e.Set("property", prop)
		if e.String("name") == "required" {
			e.Set("message", "secrets."+e.String("argument")+" is required")
		} else {
			e.Set("message", prop+" "+e.String("message"))
		}
		e.Set("instance", ojson.NewObject())
	}
	return errs
}

// ValidateJSON validates an instance (an ojson value; nil is null, and
// render.Undefined or ojson.Undefined is undefined) against a JSON Schema
// with the keyword semantics and messages of the `jsonschema` npm package.
// Errors come in schema keyword order, as that package reports them.
func ValidateJSON(instance any, schema *ojson.Object) []*ojson.Object {
	v := &validator{}
	v.validate(instance, schema, nil)
	return v.errs
}

type validator struct{ errs []*ojson.Object }

type undefinedT struct{}

var undef any = undefinedT{}

func isUndef(v any) bool {
	if v == nil {
		return false
	}
	if _, ok := v.(undefinedT); ok {
		return true
	}
	return v == ojson.Undefined
}

func (v *validator) add(path []any, schema *ojson.Object, instance any, name, message string, argument any) {
	prop := "instance"
	for _, p := range path {
		prop += makeSuffix(p)
	}
	p := make([]any, len(path))
	copy(p, path)
	e := ojson.NewObject("path", p, "property", prop, "message", message)
	if id := schema.String("$id"); id != "" {
		e.Set("schema", id)
	} else if id := schema.String("id"); id != "" {
		e.Set("schema", id)
	} else {
		e.Set("schema", schema)
	}
	if !isUndef(instance) {
		e.Set("instance", instance)
	}
	e.Set("name", name)
	if argument != nil {
		e.Set("argument", argument)
	}
	e.Set("stack", prop+" "+message)
	v.errs = append(v.errs, e)
}

var identRe = regexp.MustCompile(`[.\s\[\]]`)

func makeSuffix(p any) string {
	switch k := p.(type) {
	case int:
		return "[" + strconv.Itoa(k) + "]"
	case string:
		if !identRe.MatchString(k) && (k == "" || k[0] < '0' || k[0] > '9') {
			return "." + k
		}
		if _, err := strconv.ParseUint(k, 10, 64); err == nil {
			return "[" + k + "]"
		}
		b, _ := json.Marshal(k)
		return "[" + string(b) + "]"
	}
	return ""
}

func with(path []any, p any) []any {
	out := make([]any, len(path), len(path)+1)
	copy(out, path)
	return append(out, p)
}

func num(v any) (float64, bool) {
	n, ok := v.(ojson.Number)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	return f, err == nil
}

func fmtNum(v any) string {
	if n, ok := v.(ojson.Number); ok {
		f, err := strconv.ParseFloat(string(n), 64)
		if err == nil {
			return strconv.FormatFloat(f, 'f', -1, 64)
		}
	}
	return jsString(v)
}

func testType(instance any, typ string) bool {
	switch typ {
	case "string":
		_, ok := instance.(string)
		return ok
	case "number":
		f, ok := num(instance)
		return ok && !math.IsInf(f, 0) && !math.IsNaN(f)
	case "integer":
		f, ok := num(instance)
		return ok && f == math.Trunc(f)
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
	case "any":
		return true
	}
	return true
}

// validSub reports whether instance validates against a sub-schema.
func validSub(instance any, s any) bool {
	switch x := s.(type) {
	case bool:
		return x
	case *ojson.Object:
		return len(ValidateJSON(instance, x)) == 0
	}
	return true
}

func (v *validator) validate(instance any, schema *ojson.Object, path []any) {
	if schema == nil {
		return
	}
	for _, m := range schema.Members {
		switch m.Key {
		case "type":
			if isUndef(instance) {
				continue
			}
			var types []any
			if arr, ok := m.Value.([]any); ok {
				types = arr
			} else {
				types = []any{m.Value}
			}
			ok := false
			list := make([]any, len(types))
			for i, t := range types {
				list[i] = jsString(t)
				if s, isStr := t.(string); isStr && testType(instance, s) {
					ok = true
				} else if o, isObj := t.(*ojson.Object); isObj && validSub(instance, o) {
					ok = true
				}
			}
			if !ok {
				strs := make([]string, len(list))
				for i, l := range list {
					strs[i] = l.(string)
				}
				v.add(path, schema, instance, "type", "is not of a type(s) "+strings.Join(strs, ","), list)
			}
		case "required":
			if b, ok := m.Value.(bool); ok && b && isUndef(instance) {
				v.add(path, schema, instance, "required", "is required", nil)
			} else if obj, ok := instance.(*ojson.Object); ok {
				if arr, ok := m.Value.([]any); ok {
					for _, n := range arr {
						name, _ := n.(string)
						if val, has := obj.Get(name); !has || isUndef(val) {
							b, _ := json.Marshal(name)
							v.add(path, schema, instance, "required", "requires property "+string(b), name)
						}
					}
				}
			}
		case "properties":
			props, ok := m.Value.(*ojson.Object)
			obj, isObj := instance.(*ojson.Object)
			if !ok || !isObj {
				continue
			}
			for _, p := range props.Members {
				val, has := obj.Get(p.Key)
				if !has {
					val = undef
				}
				if ps, ok := p.Value.(*ojson.Object); ok {
					v.validate(val, ps, with(path, p.Key))
				}
			}
		case "additionalProperties":
			obj, isObj := instance.(*ojson.Object)
			if !isObj {
				continue
			}
			props := schema.Object("properties")
			pp := schema.Object("patternProperties")
			for _, im := range obj.Members {
				if props != nil && props.Has(im.Key) {
					continue
				}
				matched := false
				if pp != nil {
					for _, p := range pp.Members {
						if re, err := regexp.Compile(p.Key); err == nil && re.MatchString(im.Key) {
							matched = true
						}
					}
				}
				if matched {
					continue
				}
				switch ap := m.Value.(type) {
				case bool:
					if !ap {
						b, _ := json.Marshal(im.Key)
						v.add(path, schema, instance, "additionalProperties", "is not allowed to have the additional property "+string(b), im.Key)
					}
				case *ojson.Object:
					v.validate(im.Value, ap, with(path, im.Key))
				}
			}
		case "items":
			arr, ok := instance.([]any)
			if !ok {
				continue
			}
			switch it := m.Value.(type) {
			case *ojson.Object:
				for i, e := range arr {
					v.validate(e, it, with(path, i))
				}
			case []any:
				for i, e := range arr {
					if i < len(it) {
						if s, ok := it[i].(*ojson.Object); ok {
							v.validate(e, s, with(path, i))
						}
					}
				}
			}
		case "enum":
			if isUndef(instance) {
				continue
			}
			arr, _ := m.Value.([]any)
			found := false
			for _, e := range arr {
				if deepEqual(e, instance) {
					found = true
					break
				}
			}
			if !found {
				strs := make([]string, len(arr))
				for i, e := range arr {
					if e == nil {
						strs[i] = "null" // String(null)
					} else {
						strs[i] = jsString(e)
					}
				}
				v.add(path, schema, instance, "enum", "is not one of enum values: "+strings.Join(strs, ","), arr)
			}
		case "const":
			if !isUndef(instance) && !deepEqual(m.Value, instance) {
				v.add(path, schema, instance, "const", "does not exactly match expected constant: "+jsString(m.Value), m.Value)
			}
		case "pattern":
			s, ok := instance.(string)
			pat, _ := m.Value.(string)
			if !ok {
				continue
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				continue // a JavaScript-only construct; RE2 cannot judge it
			}
			if !re.MatchString(s) {
				b, _ := json.Marshal(pat)
				v.add(path, schema, instance, "pattern", "does not match pattern "+string(b), pat)
			}
		case "minLength", "maxLength":
			s, ok := instance.(string)
			lim, okN := num(m.Value)
			if !ok || !okN {
				continue
			}
			// jsonschema counts code points (surrogate pairs once), as Go counts runes.
			n := float64(utf8.RuneCountInString(s))
			if m.Key == "minLength" && n < lim {
				v.add(path, schema, instance, "minLength", "does not meet minimum length of "+fmtNum(m.Value), m.Value)
			}
			if m.Key == "maxLength" && n > lim {
				v.add(path, schema, instance, "maxLength", "does not meet maximum length of "+fmtNum(m.Value), m.Value)
			}
		case "minItems", "maxItems":
			arr, ok := instance.([]any)
			lim, okN := num(m.Value)
			if !ok || !okN {
				continue
			}
			if m.Key == "minItems" && float64(len(arr)) < lim {
				v.add(path, schema, instance, "minItems", "does not meet minimum length of "+fmtNum(m.Value), m.Value)
			}
			if m.Key == "maxItems" && float64(len(arr)) > lim {
				v.add(path, schema, instance, "maxItems", "does not meet maximum length of "+fmtNum(m.Value), m.Value)
			}
		case "uniqueItems":
			arr, ok := instance.([]any)
			if b, _ := m.Value.(bool); !ok || !b {
				continue
			}
			dup := false
			for i := range arr {
				for j := i + 1; j < len(arr); j++ {
					if deepEqual(arr[i], arr[j]) {
						dup = true
					}
				}
			}
			if dup {
				v.add(path, schema, instance, "uniqueItems", "contains duplicate item", nil)
			}
		case "minimum", "maximum":
			f, ok := num(instance)
			lim, okN := num(m.Value)
			if !ok || !okN {
				continue
			}
			excl := false
			if b, ok := schema.Get("exclusive" + strings.ToUpper(m.Key[:1]) + m.Key[1:]); ok {
				excl, _ = b.(bool)
			}
			if m.Key == "minimum" {
				if excl && !(f > lim) {
					v.add(path, schema, instance, "minimum", "must be greater than "+fmtNum(m.Value), m.Value)
				} else if !excl && !(f >= lim) {
					v.add(path, schema, instance, "minimum", "must be greater than or equal to "+fmtNum(m.Value), m.Value)
				}
			} else {
				if excl && !(f < lim) {
					v.add(path, schema, instance, "maximum", "must be less than "+fmtNum(m.Value), m.Value)
				} else if !excl && !(f <= lim) {
					v.add(path, schema, instance, "maximum", "must be less than or equal to "+fmtNum(m.Value), m.Value)
				}
			}
		case "exclusiveMinimum", "exclusiveMaximum":
			f, ok := num(instance)
			lim, okN := num(m.Value) // the draft-06 numeric form; the boolean form is handled with minimum/maximum
			if !ok || !okN {
				continue
			}
			if m.Key == "exclusiveMinimum" && !(f > lim) {
				v.add(path, schema, instance, "exclusiveMinimum", "must be strictly greater than "+fmtNum(m.Value), m.Value)
			}
			if m.Key == "exclusiveMaximum" && !(f < lim) {
				v.add(path, schema, instance, "exclusiveMaximum", "must be strictly less than "+fmtNum(m.Value), m.Value)
			}
		case "multipleOf":
			f, ok := num(instance)
			d, okN := num(m.Value)
			if !ok || !okN || d == 0 {
				continue
			}
			if q := f / d; q != math.Trunc(q) {
				v.add(path, schema, instance, "multipleOf", "is not a multiple of (divisible by) "+fmtNum(m.Value), m.Value)
			}
		case "minProperties", "maxProperties":
			obj, ok := instance.(*ojson.Object)
			lim, okN := num(m.Value)
			if !ok || !okN {
				continue
			}
			if m.Key == "minProperties" && float64(obj.Len()) < lim {
				v.add(path, schema, instance, "minProperties", "does not meet minimum property length of "+fmtNum(m.Value), m.Value)
			}
			if m.Key == "maxProperties" && float64(obj.Len()) > lim {
				v.add(path, schema, instance, "maxProperties", "does not meet maximum property length of "+fmtNum(m.Value), m.Value)
			}
		case "anyOf", "oneOf":
			if isUndef(instance) {
				continue
			}
			arr, _ := m.Value.([]any)
			n := 0
			list := make([]any, len(arr))
			for i, s := range arr {
				if validSub(instance, s) {
					n++
				}
				list[i] = subschemaLabel(s, i)
			}
			strs := make([]string, len(list))
			for i, l := range list {
				strs[i] = l.(string)
			}
			if m.Key == "anyOf" && n == 0 {
				v.add(path, schema, instance, "anyOf", "is not any of "+strings.Join(strs, ","), list)
			}
			if m.Key == "oneOf" && n != 1 {
				v.add(path, schema, instance, "oneOf", "is not exactly one from "+strings.Join(strs, ","), list)
			}
		case "allOf":
			if isUndef(instance) {
				continue
			}
			arr, _ := m.Value.([]any)
			for _, s := range arr {
				if o, ok := s.(*ojson.Object); ok {
					v.validate(instance, o, path)
				}
			}
		case "not":
			if isUndef(instance) {
				continue
			}
			if validSub(instance, m.Value) {
				label := jsString(m.Value) // the schema itself, stringified: "[object Object]"
				if o, ok := m.Value.(*ojson.Object); ok {
					if id := o.String("$id"); id != "" {
						label = id
					}
				}
				v.add(path, schema, instance, "not", "is of prohibited type "+label, m.Value)
			}
		case "dependencies":
			obj, ok := instance.(*ojson.Object)
			deps, okD := m.Value.(*ojson.Object)
			if !ok || !okD {
				continue
			}
			for _, d := range deps.Members {
				if !obj.Has(d.Key) {
					continue
				}
				switch dv := d.Value.(type) {
				case []any:
					for _, r := range dv {
						name, _ := r.(string)
						if !obj.Has(name) {
							v.add(path, schema, instance, "dependencies", "property "+name+" not found, required by "+propertyPath(with(path, d.Key)), d.Key)
						}
					}
				case *ojson.Object:
					if !validSub(instance, dv) {
						v.add(path, schema, instance, "dependencies", "does not meet dependency required by "+propertyPath(with(path, d.Key)), d.Key)
					}
				}
			}
		case "if":
			if isUndef(instance) {
				continue
			}
			branch := "else"
			if validSub(instance, m.Value) {
				branch = "then"
			}
			if o := schema.Object(branch); o != nil {
				v.validate(instance, o, path)
			}
		}
	}
}

func propertyPath(path []any) string {
	s := "instance"
	for _, p := range path {
		s += makeSuffix(p)
	}
	return s
}

func subschemaLabel(s any, i int) string {
	if o, ok := s.(*ojson.Object); ok {
		if id := o.String("$id"); id != "" {
			return "<" + id + ">"
		}
		if t, ok := o.Get("title"); ok && t != nil {
			b, _ := json.Marshal(jsString(t))
			return string(b)
		}
		if r := o.String("$ref"); r != "" {
			return "<" + r + ">"
		}
	}
	return "[subschema " + strconv.Itoa(i) + "]"
}

func deepEqual(a, b any) bool {
	ab, err1 := ojson.MarshalSorted(normNum(a))
	bb, err2 := ojson.MarshalSorted(normNum(b))
	return err1 == nil && err2 == nil && string(ab) == string(bb)
}

// normNum makes 1 and 1.0 compare equal, as JavaScript numbers do.
func normNum(v any) any {
	switch x := v.(type) {
	case ojson.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil {
			return ojson.NumberFromFloat(f)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normNum(e)
		}
		return out
	case *ojson.Object:
		o := ojson.NewObject()
		for _, m := range x.Members {
			o.Set(m.Key, normNum(m.Value))
		}
		return o
	}
	return v
}
