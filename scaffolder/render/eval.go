package render

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// eval evaluates e; a failure takes the position of the innermost node
// it passes through, as in nunjitsu.
func (in *interp) eval(e expr, f *frame) (any, error) {
	v, err := in.evalUnchecked(e, f)
	if err != nil {
		return nil, locate(err, exprPos(e))
	}
	return v, nil
}

func (in *interp) evalUnchecked(e expr, f *frame) (any, error) {
	if err := in.step(); err != nil {
		return nil, err
	}
	switch t := e.(type) {
	case *litExpr:
		return t.v, nil
	case *nameExpr:
		return in.lookupName(t.name, f), nil
	case *regexExpr:
		return in.compileRegex(t.source, t.flags)
	case *arrayExpr:
		items := make([]any, len(t.items))
		for i, it := range t.items {
			v, err := in.eval(it, f)
			if err != nil {
				return nil, err
			}
			items[i] = v
		}
		return &array{items: items}, nil
	case *dictExpr:
		o := &ojson.Object{}
		for i := range t.keys {
			k, err := in.eval(t.keys[i], f)
			if err != nil {
				return nil, err
			}
			v, err := in.eval(t.vals[i], f)
			if err != nil {
				return nil, err
			}
			ks, err := toStr(k)
			if err != nil {
				return nil, err
			}
			o.Set(ks, v)
		}
		return o, nil
	case *memberExpr:
		obj, err := in.eval(t.obj, f)
		if err != nil {
			return nil, err
		}
		key, err := in.eval(t.key, f)
		if err != nil {
			return nil, err
		}
		ks, err := toStr(key)
		if err != nil {
			return nil, err
		}
		v, ok := member(obj, ks)
		if ok {
			return v, nil
		}
		if m := in.method(obj, ks); m != nil {
			return m, nil
		}
		return ojson.Undefined, nil
	case *sliceExpr:
		return in.evalSlice(t, f)
	case *callExpr:
		return in.checkSize(in.evalCall(t, f))
	case *filterExpr:
		return in.checkSize(in.evalFilter(t, f))
	case *condExpr:
		c, err := in.eval(t.cond, f)
		if err != nil {
			return nil, err
		}
		if truthy(c) {
			return in.eval(t.then, f)
		}
		if t.els == nil {
			return "", nil
		}
		return in.eval(t.els, f)
	case *unaryExpr:
		x, err := in.eval(t.x, f)
		if err != nil {
			return nil, err
		}
		switch t.op {
		case "not":
			return !truthy(x), nil
		case "-":
			n, err := toNumber(x)
			return -n, err
		case "floor":
			n, err := toNumber(x)
			return math.Floor(n), err
		default:
			return toNumber(x)
		}
	case *groupExpr:
		var v any
		for i, it := range t.items {
			x, err := in.eval(it, f)
			if err != nil {
				return nil, err
			}
			if _, ok := x.(*callable); ok && i < len(t.items)-1 {
				return nil, errorf("Callable values cannot be coerced")
			}
			v = x
		}
		return v, nil
	case *compareExpr:
		left, err := in.eval(t.first, f)
		if err != nil {
			return nil, err
		}
		var result any = false
		for i, op := range t.ops {
			right, err := in.eval(t.rights[i], f)
			if err != nil {
				return nil, err
			}
			if result, err = in.compare(left, op, right); err != nil {
				return nil, err
			}
			left = result
		}
		return result, nil
	case *isExpr:
		return in.evalIs(t, f)
	case *binExpr:
		return in.evalBin(t, f)
	}
	return ojson.Undefined, nil
}

// sizeError reports an intermediate string larger than the output limit.
func (in *interp) sizeError(n int) error {
	return &TemplateLimitError{Limit: "output code unit", Phase: "evaluate", Configured: in.lim.Output, Observed: n}
}

// checkSize stops strings and arrays built by filters and methods (replace,
// concat, join, batch...) from outgrowing the output limit.
func (in *interp) checkSize(v any, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case string:
		if len(t) > in.lim.Output {
			return nil, in.sizeError(len(t))
		}
	case safeString:
		if len(t) > in.lim.Output {
			return nil, in.sizeError(len(t))
		}
	case *array:
		if len(t.items) > in.lim.Steps {
			return nil, &TemplateLimitError{Limit: "work unit", Phase: "evaluate", Configured: in.lim.Steps, Observed: len(t.items)}
		}
	}
	return v, nil
}

// member reads an own property: record keys, array/string indexes, length.
func member(obj any, key string) (any, bool) {
	switch o := obj.(type) {
	case *ojson.Object:
		return o.Get(key)
	case *array:
		if key == "length" {
			return float64(len(o.items)), true
		}
		if i, ok := arrayIndex(key, len(o.items)); ok {
			return o.items[i], true
		}
	case string:
		if key == "length" {
			return float64(utf16Len(o)), true
		}
		u := units(o)
		if i, ok := arrayIndex(key, len(u)); ok {
			return fromUnits(u[i : i+1]), true
		}
	case safeString:
		if key == "val" {
			return string(o), true
		}
		return member(string(o), key)
	}
	return nil, false
}

func arrayIndex(key string, n int) (int, bool) {
	i, err := strconv.Atoi(key)
	if err != nil || i < 0 || i >= n || strconv.Itoa(i) != key {
		return 0, false
	}
	return i, true
}

func (in *interp) evalSlice(t *sliceExpr, f *frame) (any, error) {
	obj, err := in.eval(t.obj, f)
	if err != nil {
		return nil, err
	}
	var parts [3]any
	for i, e := range []expr{t.start, t.stop, t.step} {
		parts[i] = ojson.Undefined
		if e != nil {
			if parts[i], err = in.eval(e, f); err != nil {
				return nil, err
			}
		}
	}
	if _, ok := obj.(*callable); ok {
		return nil, errorf("Callable values cannot be sliced")
	}
	if sn, err := toNumber(parts[2]); err != nil || math.IsNaN(sn) || math.IsInf(sn, 0) || sn == 0 {
		return nil, errorf("Slice step must have finite non-zero numeric coercion")
	}
	var items []any
	switch o := obj.(type) {
	case *array:
		items = o.items
	case string:
		// nunjitsu slices a string into an array of characters.
		for _, u := range units(o) {
			items = append(items, fromUnits([]uint16{u}))
		}
	default:
		return &array{}, nil
	}
	n := len(items)
	step := 1
	if !isNullish(parts[2]) {
		step = int(num(parts[2]))
		if step == 0 {
			step = 1
		}
	}
	norm := func(v any, def int) int {
		if isNullish(v) {
			return def
		}
		i := int(num(v))
		if i < 0 {
			i += n
		}
		return i
	}
	var out []any
	if step > 0 {
		s, e := max(0, norm(parts[0], 0)), min(n, norm(parts[1], n))
		for i := s; i < e; i += step {
			out = append(out, items[i])
		}
	} else {
		s, e := min(n-1, norm(parts[0], n-1)), norm(parts[1], -1)
		for i := s; i > e && i >= 0; i += step {
			out = append(out, items[i])
		}
	}
	return &array{items: out}, nil
}

func (in *interp) evalArgs(args []expr, kws []kwArg, f *frame) ([]any, *ojson.Object, error) {
	vals := make([]any, len(args))
	for i, a := range args {
		v, err := in.eval(a, f)
		if err != nil {
			return nil, nil, err
		}
		vals[i] = v
	}
	var kw *ojson.Object
	if len(kws) > 0 {
		kw = &ojson.Object{}
		for _, k := range kws {
			v, err := in.eval(k.v, f)
			if err != nil {
				return nil, nil, err
			}
			kw.Set(k.name, v)
		}
	}
	return vals, kw, nil
}

// callablePath names a call target for messages: values.x.replaceAll.
func callablePath(e expr) (string, bool) {
	switch t := e.(type) {
	case *nameExpr:
		return t.name, true
	case *memberExpr:
		parent, ok := callablePath(t.obj)
		l, lok := t.key.(*litExpr)
		if !ok || !lok {
			return "", false
		}
		s, ok := l.v.(string)
		if !ok {
			return "", false
		}
		return parent + "." + s, true
	}
	return "", false
}

// valueKind names a value's kind in messages, as nunjitsu does.
func valueKind(v any) string {
	switch v.(type) {
	case ojson.UndefinedType:
		return "undefined"
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case *array:
		return "array"
	case *ojson.Object:
		return "record"
	case safeString:
		return "safe string"
	case *regex:
		return "regular expression"
	case *callable:
		return "callable"
	}
	return "unknown value"
}

func (in *interp) evalCall(t *callExpr, f *frame) (any, error) {
	fn, err := in.eval(t.fn, f)
	if err != nil {
		return nil, err
	}
	c, ok := fn.(*callable)
	if !ok {
		if name, ok := callablePath(t.fn); ok {
			return nil, errorf("Template value %s resolved to %s and cannot be called", quoteDiagnostic(name), valueKind(fn))
		}
		return nil, errorf("Template expression resolved to %s and cannot be called", valueKind(fn))
	}
	if c.builtin && len(t.kw) > 0 {
		return nil, errorf("%s does not accept keyword arguments", c.name)
	}
	args, kw, err := in.evalArgs(t.args, t.kw, f)
	if err != nil {
		return nil, err
	}
	return c.fn(in, args, kw)
}

// filterNames are the filter names nunjitsu suggests from.
func (in *interp) filterNames() []string {
	names := append([]string(nil), builtinFilterNames...)
	if in.opts.CookiecutterCompat {
		names = append(names, "jsonify")
	}
	for _, n := range []string{"parseRepoUrl", "parseEntityRef", "pick", "projectSlug"} {
		if _, ok := in.opts.Filters[n]; !ok {
			names = append(names, n)
		}
	}
	for n := range in.opts.Filters {
		names = append(names, n)
	}
	return names
}

var builtinFilterNames = []string{"abs", "batch", "capitalize", "center", "d", "default", "dictsort", "dump", "e", "escape",
	"first", "float", "forceescape", "groupby", "indent", "int", "join", "last", "length", "list", "lower", "nl2br", "random",
	"reject", "rejectattr", "replace", "reverse", "round", "safe", "select", "selectattr", "slice", "sort", "string",
	"striptags", "sum", "title", "trim", "truncate", "upper", "urlencode", "urlize", "wordcount"}

func (in *interp) evalFilter(t *filterExpr, f *frame) (any, error) {
	host, isHost := in.opts.Filters[t.name]
	if !isHost {
		host, isHost = in.backstage[t.name]
	}
	name := t.name
	if in.opts.CookiecutterCompat && name == "jsonify" {
		name = "dump"
	}
	if !isHost && !slicesContains(builtinFilterNames, name) {
		return nil, errorf("%s", unknownNameMessage("template filter", t.name, in.filterNames()))
	}
	if isHost && len(t.kw) > 0 {
		return nil, errorf("Registered filter %s does not accept keyword arguments", t.name)
	}
	target, err := in.eval(t.target, f)
	if err != nil {
		return nil, err
	}
	args, kw, err := in.evalArgs(t.args, t.kw, f)
	if err != nil {
		return nil, err
	}
	if isHost {
		return in.callFilter(t, host, target, args)
	}
	for _, a := range args {
		if containsCallable(a) {
			return nil, errorf("Callable values cannot be coerced")
		}
	}
	if kw != nil {
		for _, m := range kw.Members {
			if containsCallable(m.Value) {
				return nil, errorf("Callable values cannot be coerced")
			}
		}
	}
	r, _, err := in.builtinFilter(name, target, args, kw)
	if err != nil {
		var le *TemplateLimitError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, &runtimeError{msg: fmt.Sprintf("Filter %s failed for %s input: %s", quoteDiagnostic(name), valueKind(target), err.Error()), at: t.pos, located: true}
	}
	return r, nil
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (in *interp) callFilter(t *filterExpr, fn Filter, target any, args []any) (any, error) {
	for _, a := range append([]any{target}, args...) {
		if containsCallable(a) {
			return nil, errorf("Callable values cannot be coerced")
		}
	}
	jt, err := toJSON(target)
	if err != nil {
		return nil, err
	}
	jargs, err := jsonArgs(args, nil)
	if err != nil {
		return nil, err
	}
	r, err := fn(jt, jargs...)
	if err != nil {
		return nil, errorf("Template filter %s failed: %s", quoteDiagnostic(t.name), neutralize(err.Error()))
	}
	return fromJSON(r), nil
}

func containsCallable(v any) bool {
	switch t := v.(type) {
	case *callable:
		return true
	case *array:
		for _, x := range t.items {
			if containsCallable(x) {
				return true
			}
		}
	case *ojson.Object:
		for _, m := range t.Members {
			if containsCallable(m.Value) {
				return true
			}
		}
	}
	return false
}

// compare applies one comparison operator.
func (in *interp) compare(l any, op string, r any) (any, error) {
	switch op {
	case "==":
		return looseEqual(l, r), nil
	case "!=":
		return !looseEqual(l, r), nil
	case "===":
		return strictEqual(l, r), nil
	case "!==":
		return !strictEqual(l, r), nil
	}
	o, err := order(l, r)
	if err != nil {
		return nil, err
	}
	if o == 2 {
		return false, nil
	}
	switch op {
	case "<":
		return o < 0, nil
	case ">":
		return o > 0, nil
	case "<=":
		return o <= 0, nil
	}
	return o >= 0, nil
}

func (in *interp) evalBin(t *binExpr, f *frame) (any, error) {
	l, err := in.eval(t.l, f)
	if err != nil {
		return nil, err
	}
	switch t.op {
	case "and":
		if !truthy(l) {
			return l, nil
		}
		return in.eval(t.r, f)
	case "or":
		if truthy(l) {
			return l, nil
		}
		return in.eval(t.r, f)
	}
	r, err := in.eval(t.r, f)
	if err != nil {
		return nil, err
	}
	switch t.op {
	case "==":
		return looseEqual(l, r), nil
	case "!=":
		return !looseEqual(l, r), nil
	case "===":
		return strictEqual(l, r), nil
	case "!==":
		return !strictEqual(l, r), nil
	case "<", ">", "<=", ">=":
		o, err := order(l, r)
		if err != nil {
			return nil, err
		}
		if o == 2 {
			return false, nil
		}
		switch t.op {
		case "<":
			return o < 0, nil
		case ">":
			return o > 0, nil
		case "<=":
			return o <= 0, nil
		}
		return o >= 0, nil
	case "~":
		a, err := toStr(l)
		if err != nil {
			return nil, err
		}
		b, err := toStr(r)
		if err != nil {
			return nil, err
		}
		if len(a)+len(b) > in.lim.Output {
			return nil, in.sizeError(len(a) + len(b))
		}
		return a + b, nil
	case "+":
		v, err := add(l, r)
		if s, ok := v.(string); ok && len(s) > in.lim.Output {
			return nil, in.sizeError(len(s))
		}
		return v, err
	case "in":
		return in.contains(r, l)
	}
	a, err := toNumber(l)
	if err != nil {
		return nil, err
	}
	b, err := toNumber(r)
	if err != nil {
		return nil, err
	}
	switch t.op {
	case "-":
		return a - b, nil
	case "*":
		return a * b, nil
	case "/":
		return a / b, nil
	case "%":
		return math.Mod(a, b), nil
	case "**":
		return math.Pow(a, b), nil
	}
	return ojson.Undefined, nil
}

func (in *interp) contains(container, needle any) (any, error) {
	switch c := container.(type) {
	case *array:
		for _, it := range c.items {
			if strictEqual(it, needle) {
				return true, nil
			}
		}
		return false, nil
	case string:
		s, err := toStr(needle)
		if err != nil {
			return nil, err
		}
		return strings.Contains(c, s), nil
	case safeString:
		// nunjitsu looks up own properties of its safe-string wrapper.
		k, err := toStr(needle)
		if err != nil {
			return nil, err
		}
		return k == "length" || k == "val", nil
	case *ojson.Object:
		s, err := toStr(needle)
		if err != nil {
			return nil, err
		}
		return c.Has(s), nil
	}
	return nil, errorf("Membership requires an array, record, or string")
}

var testArity = map[string]int{"callable": 0, "defined": 0, "divisibleby": 1, "escaped": 0, "eq": 1, "equalto": 1,
	"even": 0, "falsy": 0, "ge": 1, "greaterthan": 1, "gt": 1, "iterable": 0, "le": 1, "lessthan": 1, "lower": 0,
	"lt": 1, "mapping": 0, "ne": 1, "null": 0, "number": 0, "odd": 0, "sameas": 1, "string": 0, "truthy": 0,
	"undefined": 0, "upper": 0}

var testNames = []string{"callable", "defined", "divisibleby", "escaped", "eq", "equalto", "even", "falsy", "ge",
	"greaterthan", "gt", "iterable", "le", "lessthan", "lower", "lt", "mapping", "ne", "null", "number", "odd",
	"sameas", "string", "truthy", "undefined", "upper"}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func (in *interp) evalIs(t *isExpr, f *frame) (any, error) {
	if isReservedName(t.test) {
		return nil, errorf("Template test %s is reserved", t.test)
	}
	arity, ok := testArity[t.test]
	if !ok {
		return nil, errorf("%s", unknownNameMessage("template test", t.test, testNames))
	}
	if t.hasArgs {
		if t.kwCount > 0 {
			return nil, errorf("Template test %s does not accept keyword arguments", t.test)
		}
		if len(t.args) != arity {
			return nil, errorf("Template test %s requires %d positional argument%s", t.test, arity, plural(arity))
		}
	} else if arity != 0 {
		return nil, errorf("Template test %s requires %d positional argument", t.test, arity)
	}
	x, err := in.eval(t.x, f)
	if err != nil {
		return nil, err
	}
	args, _, err := in.evalArgs(t.args, nil, f)
	if err != nil {
		return nil, err
	}
	r, err := applyTest(t.test, x, args)
	if err != nil {
		var le *TemplateLimitError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, &runtimeError{msg: fmt.Sprintf("Test %s failed for %s input: %s", quoteDiagnostic(t.test), valueKind(x), err.Error()), at: t.pos, located: true}
	}
	return r, nil
}

// applyTest is a built-in test, with nunjitsu's semantics.
func applyTest(name string, x any, args []any) (bool, error) {
	switch name {
	case "callable", "eq", "equalto", "sameas", "ne":
	default:
		for _, v := range append([]any{x}, args...) {
			if containsCallable(v) {
				return false, errorf("Callable values cannot be coerced")
			}
		}
	}
	arg := func() any {
		if len(args) > 0 {
			return args[0]
		}
		return ojson.Undefined
	}
	caseTest := func(conv func(string) string) (bool, error) {
		if _, ok := x.(safeString); ok {
			return false, nil
		}
		s, ok := x.(string)
		if !ok {
			return false, errorf("Filter input must be a string")
		}
		return conv(s) == s, nil
	}
	switch name {
	case "callable":
		_, ok := x.(*callable)
		return ok, nil
	case "defined":
		return !isUndef(x), nil
	case "undefined":
		return isUndef(x), nil
	case "null":
		return x == nil, nil
	case "divisibleby":
		return math.Mod(num(x), num(arg())) == 0, nil
	case "escaped":
		_, ok := x.(safeString)
		return ok, nil
	case "eq", "equalto", "sameas":
		return strictEqual(x, arg()), nil
	case "ne":
		return !strictEqual(x, arg()), nil
	case "even":
		return math.Mod(num(x), 2) == 0, nil
	case "odd":
		return math.Mod(num(x), 2) == 1, nil
	case "falsy":
		return !truthy(x), nil
	case "truthy":
		return truthy(x), nil
	case "ge", "gt", "greaterthan", "le", "lt", "lessthan":
		o, err := order(x, arg())
		if err != nil {
			return false, err
		}
		switch name {
		case "ge":
			return o == 0 || o == 1, nil
		case "gt", "greaterthan":
			return o == 1, nil
		case "le":
			return o == 0 || o == -1, nil
		}
		return o == -1, nil
	case "iterable":
		switch x.(type) {
		case ojson.UndefinedType, nil:
			return false, errorf("iterable test requires a value")
		case *array, string, safeString:
			return true, nil
		}
		return false, nil
	case "mapping":
		switch x.(type) {
		case *ojson.Object, safeString, *regex:
			return true, nil
		}
		return false, nil
	case "number":
		_, ok := x.(float64)
		return ok, nil
	case "string":
		_, ok := x.(string)
		return ok, nil
	case "lower":
		return caseTest(strings.ToLower)
	case "upper":
		return caseTest(jsUpper)
	}
	return false, errorf("Unknown template test %s", name)
}

// jsReplaceTemplate expands $&, $1.. and $$ in a JavaScript replacement.
func jsReplaceTemplate(repl string, src string, m []int) string {
	if !strings.Contains(repl, "$") {
		return repl
	}
	var b strings.Builder
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '$' || i+1 >= len(repl) {
			b.WriteByte(c)
			continue
		}
		n := repl[i+1]
		switch {
		case n == '$':
			b.WriteByte('$')
			i++
		case n == '&':
			b.WriteString(src[m[0]:m[1]])
			i++
		case n == '`':
			b.WriteString(src[:m[0]])
			i++
		case n == '\'':
			b.WriteString(src[m[1]:])
			i++
		case n >= '0' && n <= '9':
			idx := int(n - '0')
			adv := 1
			if i+2 < len(repl) && repl[i+2] >= '0' && repl[i+2] <= '9' {
				two := idx*10 + int(repl[i+2]-'0')
				if two > 0 && two < len(m)/2 {
					idx, adv = two, 2
				}
			}
			if idx == 0 || idx >= len(m)/2 {
				b.WriteByte(c)
				continue
			}
			if m[2*idx] >= 0 {
				b.WriteString(src[m[2*idx]:m[2*idx+1]])
			}
			i += adv
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
