package render

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/understage/understage/catalog/ojson"
)

func (in *interp) eval(e expr, f *frame) (any, error) {
	if err := in.step(); err != nil {
		return nil, err
	}
	switch t := e.(type) {
	case *litExpr:
		return t.v, nil
	case *nameExpr:
		return in.lookupName(t.name, f), nil
	case *regexExpr:
		return compileRegex(t.source, t.flags)
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
		return Undefined, nil
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
		default:
			return toNumber(x)
		}
	case *isExpr:
		return in.evalIs(t, f)
	case *binExpr:
		return in.evalBin(t, f)
	}
	return Undefined, nil
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
			return nil, errorf("Template output exceeded the size limit")
		}
	case safeString:
		if len(t) > in.lim.Output {
			return nil, errorf("Template output exceeded the size limit")
		}
	case *array:
		if len(t.items) > in.lim.Steps {
			return nil, errorf("Array exceeds the size limit")
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
		parts[i] = Undefined
		if e != nil {
			if parts[i], err = in.eval(e, f); err != nil {
				return nil, err
			}
		}
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

func calleeName(e expr) string {
	switch t := e.(type) {
	case *nameExpr:
		return t.name
	case *memberExpr:
		if l, ok := t.key.(*litExpr); ok {
			if s, ok := l.v.(string); ok {
				return calleeName(t.obj) + "." + s
			}
		}
		return calleeName(t.obj) + "[...]"
	}
	return "expression"
}

func (in *interp) evalCall(t *callExpr, f *frame) (any, error) {
	fn, err := in.eval(t.fn, f)
	if err != nil {
		return nil, err
	}
	c, ok := fn.(*callable)
	if !ok {
		in.lastPos = t.pos
		return nil, errorf("Unable to call `%s`, which is %s", calleeName(t.fn), typeName(fn))
	}
	args, kw, err := in.evalArgs(t.args, t.kw, f)
	if err != nil {
		return nil, err
	}
	r, err := c.fn(in, args, kw)
	if err != nil {
		if in.lastPos.line == 0 {
			in.lastPos = t.pos
		}
		return nil, err
	}
	return r, nil
}

func (in *interp) evalFilter(t *filterExpr, f *frame) (any, error) {
	target, err := in.eval(t.target, f)
	if err != nil {
		return nil, err
	}
	args, kw, err := in.evalArgs(t.args, t.kw, f)
	if err != nil {
		return nil, err
	}
	if custom, ok := in.opts.Filters[t.name]; ok {
		return in.callFilter(t, custom, target, args, kw)
	}
	if custom, ok := in.backstage[t.name]; ok {
		return in.callFilter(t, custom, target, args, kw)
	}
	r, found, err := in.builtinFilter(t.name, target, args, kw)
	if !found {
		in.lastPos = t.pos
		return nil, errorf("Unknown template filter %q", t.name)
	}
	if err != nil {
		if in.lastPos.line == 0 {
			in.lastPos = t.pos
		}
		return nil, err
	}
	return r, nil
}

func (in *interp) callFilter(t *filterExpr, fn Filter, target any, args []any, kw *ojson.Object) (any, error) {
	jt, err := toJSON(target)
	if err != nil {
		return nil, err
	}
	jargs, err := jsonArgs(args, kw)
	if err != nil {
		return nil, err
	}
	r, err := fn(jt, jargs...)
	if err != nil {
		if in.lastPos.line == 0 {
			in.lastPos = t.pos
		}
		return nil, &runtimeError{msg: err.Error()}
	}
	return fromJSON(r), nil
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
			return nil, errorf("Template output exceeded the size limit")
		}
		return a + b, nil
	case "+":
		v, err := add(l, r)
		if s, ok := v.(string); ok && len(s) > in.lim.Output {
			return nil, errorf("Template output exceeded the size limit")
		}
		return v, err
	case "in":
		return in.contains(r, l, t.pos)
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
	case "//":
		return math.Floor(a / b), nil
	case "%":
		return math.Mod(a, b), nil
	case "**":
		return math.Pow(a, b), nil
	}
	return Undefined, nil
}

func (in *interp) contains(container, needle any, p pos) (any, error) {
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
		return in.contains(string(c), needle, p)
	case *ojson.Object:
		s, err := toStr(needle)
		if err != nil {
			return nil, err
		}
		return c.Has(s), nil
	}
	in.lastPos = p
	return nil, errorf("Cannot use \"in\" operator to search for \"%s\" in unexpected types.", text(needle))
}

func (in *interp) evalIs(t *isExpr, f *frame) (any, error) {
	x, err := in.eval(t.x, f)
	if err != nil {
		return nil, err
	}
	args, _, err := in.evalArgs(t.args, nil, f)
	if err != nil {
		return nil, err
	}
	arg := func() any {
		if len(args) > 0 {
			return args[0]
		}
		return Undefined
	}
	var r bool
	switch t.test {
	case "callable":
		_, r = x.(*callable)
	case "defined":
		r = !isUndef(x)
	case "undefined":
		r = isUndef(x)
	case "null", "none":
		r = x == nil
	case "divisibleby":
		r = math.Mod(num(x), num(arg())) == 0
	case "escaped":
		_, r = x.(safeString)
	case "eq", "equalto", "sameas":
		r = strictEqual(x, arg())
	case "ne":
		r = !strictEqual(x, arg())
	case "even":
		r = math.Mod(num(x), 2) == 0
	case "odd":
		r = math.Mod(num(x), 2) == 1
	case "falsy":
		r = !truthy(x)
	case "truthy":
		r = truthy(x)
	case "ge", "gt", "greaterthan", "le", "lt", "lessthan":
		o, err := order(x, arg())
		if err != nil {
			return nil, err
		}
		switch t.test {
		case "ge":
			r = o == 0 || o == 1
		case "gt", "greaterthan":
			r = o == 1
		case "le":
			r = o == 0 || o == -1
		default:
			r = o == -1
		}
	case "iterable":
		switch x.(type) {
		case *array, string, safeString:
			r = true
		}
	case "mapping":
		_, r = x.(*ojson.Object)
	case "number":
		_, r = x.(float64)
	case "string":
		switch x.(type) {
		case string, safeString:
			r = true
		}
	case "lower":
		s, ok := x.(string)
		r = ok && strings.ToLower(s) == s
	case "upper":
		s, ok := x.(string)
		r = ok && strings.ToUpper(s) == s
	default:
		in.lastPos = t.pos
		return nil, errorf("Unknown test %q", t.test)
	}
	if t.negate {
		r = !r
	}
	return r, nil
}

// ---- regular expressions ----

// compileRegex translates a JavaScript regex literal into RE2. Features RE2
// lacks (lookaround, backreferences) fail to compile and the render fails.
func compileRegex(source, flags string) (*regex, error) {
	prefix := ""
	for _, fl := range flags {
		switch fl {
		case 'i':
			prefix += "i"
		case 'm':
			prefix += "m"
		}
	}
	pat := source
	if prefix != "" {
		pat = "(?" + prefix + ")" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, errorf("Invalid regular expression: /%s/%s", source, flags)
	}
	return &regex{source: source, flags: flags, re: re}, nil
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

func regexReplace(s string, r *regex, repl string) string {
	global := strings.Contains(r.flags, "g")
	var b strings.Builder
	last := 0
	matches := r.re.FindAllStringSubmatchIndex(s, -1)
	for i, m := range matches {
		if !global && i > 0 {
			break
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(jsReplaceTemplate(repl, s, m))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
