package render

import (
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// method resolves the approved JavaScript (and, in cookiecutter mode, Jinja)
// methods of a receiver as a bound callable; nil when there is none.
func (in *interp) method(recv any, name string) *callable {
	bind := func(fn func(args []any) (any, error)) *callable {
		op := "Template intrinsic " + name
		return &callable{name: op, builtin: true, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
			lo, hi := intrinsicArity(recv, name, in.opts.CookiecutterCompat)
			if len(args) < lo || len(args) > hi {
				return nil, arityError(op, lo, hi)
			}
			for _, a := range args {
				if _, ok := a.(*callable); ok {
					return nil, errorf("Callable values cannot be coerced")
				}
			}
			return fn(args)
		}}
	}
	switch r := recv.(type) {
	case safeString:
		return in.method(string(r), name)
	case string:
		if !stringMethods[name] {
			return nil
		}
		return bind(func(args []any) (any, error) { return stringMethod(r, name, args) })
	case float64:
		if !numberMethods[name] {
			return nil
		}
		return bind(func(args []any) (any, error) { return numberMethod(r, name, args) })
	case *array:
		if !arrayMethods[name] && !(in.opts.CookiecutterCompat && jinjaArrayMethods[name]) {
			return nil
		}
		return bind(func(args []any) (any, error) { return in.arrayMethod(r, name, args) })
	case *ojson.Object:
		if !in.opts.CookiecutterCompat || !jinjaRecordMethods[name] {
			return nil
		}
		return bind(func(args []any) (any, error) { return recordMethod(r, name, args) })
	}
	return nil
}

// intrinsicArity is how many arguments a method takes, as nunjitsu checks.
func intrinsicArity(recv any, name string, cookie bool) (lo, hi int) {
	const many = math.MaxInt
	switch recv.(type) {
	case string, safeString:
		switch name {
		case "replace":
			return 2, 2
		case "split":
			return 0, 2
		case "includes", "startsWith", "endsWith", "indexOf", "lastIndexOf":
			return 1, 2
		case "slice", "substring":
			return 0, 2
		case "charAt", "charCodeAt":
			return 0, 1
		case "concat":
			return 0, many
		}
		return 0, 0
	case float64:
		return 0, 1
	case *array:
		switch name {
		case "at", "count", "index", "find", "remove", "append":
			return 1, 1
		case "insert":
			return 2, 2
		case "includes", "indexOf", "lastIndexOf":
			return 1, 2
		case "copyWithin", "fill":
			return 1, 3
		case "flat", "join":
			return 0, 1
		case "slice":
			return 0, 2
		case "pop":
			if cookie {
				return 0, 1
			}
			return 0, 0
		case "shift", "sort", "reverse":
			return 0, 0
		}
		return 0, many
	case *ojson.Object:
		switch name {
		case "get":
			return 1, 2
		case "has_key":
			return 1, 1
		}
		return 0, 0
	}
	return 1, 1
}

func arityError(op string, lo, hi int) error {
	switch {
	case lo == hi:
		return errorf("%s requires %d positional arguments", op, lo)
	case hi == math.MaxInt:
		return errorf("%s requires at least %d positional arguments", op, lo)
	}
	return errorf("%s requires %d to %d positional arguments", op, lo, hi)
}

var stringMethods = setOf("charAt", "charCodeAt", "concat", "endsWith", "includes", "indexOf", "lastIndexOf",
	"replace", "slice", "split", "startsWith", "substring", "toLowerCase", "toUpperCase", "trim", "trimEnd", "trimStart")
var numberMethods = setOf("toExponential", "toFixed", "toPrecision", "toString")
var arrayMethods = setOf("at", "concat", "copyWithin", "fill", "flat", "includes", "indexOf", "join", "lastIndexOf",
	"pop", "push", "reverse", "shift", "slice", "sort", "splice", "unshift")
var jinjaArrayMethods = setOf("append", "count", "find", "index", "insert", "remove")
var jinjaRecordMethods = setOf("get", "has_key", "items", "keys", "values")

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

func argAt(args []any, i int) any {
	if i < len(args) {
		return args[i]
	}
	return ojson.Undefined
}

// toInt is JavaScript ToIntegerOrInfinity clamped to int.
func toInt(v any) int {
	f := num(v)
	if math.IsNaN(f) {
		return 0
	}
	if f > 1<<40 {
		return 1 << 40
	}
	if f < -(1 << 40) {
		return -(1 << 40)
	}
	return int(f)
}

// relIndex resolves a relative start/end as String/Array.prototype.slice.
func relIndex(v any, n, def int) int {
	if isUndef(v) {
		return def
	}
	i := toInt(v)
	if i < 0 {
		i += n
		if i < 0 {
			i = 0
		}
	}
	if i > n {
		i = n
	}
	return i
}

func clampIndex(v any, n int) int {
	i := toInt(v)
	if i < 0 {
		return 0
	}
	if i > n {
		return n
	}
	return i
}

func indexOfUnits(h, n []uint16, from int) int {
	for i := max(from, 0); i+len(n) <= len(h); i++ {
		ok := true
		for j := range n {
			if h[i+j] != n[j] {
				ok = false
				break
			}
		}
		if ok {
			return i
		}
	}
	return -1
}

func stringMethod(s, name string, args []any) (any, error) {
	first, second := argAt(args, 0), argAt(args, 1)
	u := units(s)
	switch name {
	case "replace":
		repl, err := toStr(second)
		if err != nil {
			return nil, err
		}
		if re, ok := first.(*regex); ok {
			return regexReplace(s, re, repl)
		}
		pat, err := toStr(first)
		if err != nil {
			return nil, err
		}
		i := strings.Index(s, pat)
		if i < 0 {
			return s, nil
		}
		return s[:i] + jsReplaceTemplate(repl, s, []int{i, i + len(pat)}) + s[i+len(pat):], nil
	case "split":
		limit := -1
		if !isUndef(second) {
			limit = int(uint32(toInt(second)))
		}
		var parts []string
		if re, ok := first.(*regex); ok {
			var err error
			if parts, err = regexSplit(s, re); err != nil {
				return nil, err
			}
		} else if isUndef(first) {
			parts = []string{s}
		} else {
			sep, err := toStr(first)
			if err != nil {
				return nil, err
			}
			if sep == "" {
				for _, x := range u {
					parts = append(parts, fromUnits([]uint16{x}))
				}
			} else {
				parts = strings.Split(s, sep)
			}
		}
		if limit >= 0 && limit < len(parts) {
			parts = parts[:limit]
		}
		items := make([]any, len(parts))
		for i, p := range parts {
			items[i] = p
		}
		return &array{items: items}, nil
	case "includes", "startsWith", "endsWith", "indexOf":
		needle, err := toStr(first)
		if err != nil {
			return nil, err
		}
		nu := units(needle)
		switch name {
		case "includes":
			return indexOfUnits(u, nu, clampIndex(second, len(u))) >= 0, nil
		case "indexOf":
			return float64(indexOfUnits(u, nu, clampIndex(second, len(u)))), nil
		case "startsWith":
			p := clampIndex(second, len(u))
			return p+len(nu) <= len(u) && indexOfUnits(u[p:p+len(nu)], nu, 0) == 0, nil
		default:
			end := len(u)
			if !isUndef(second) {
				end = clampIndex(second, len(u))
			}
			st := end - len(nu)
			return st >= 0 && indexOfUnits(u[st:end], nu, 0) == 0, nil
		}
	case "lastIndexOf":
		needle, err := toStr(first)
		if err != nil {
			return nil, err
		}
		nu := units(needle)
		from := len(u)
		if !isUndef(second) && !math.IsNaN(num(second)) {
			from = clampIndex(second, len(u))
		}
		for i := min(from, len(u)-len(nu)); i >= 0; i-- {
			if indexOfUnits(u[i:i+len(nu)], nu, 0) == 0 {
				return float64(i), nil
			}
		}
		return float64(-1), nil
	case "slice":
		a, b := relIndex(first, len(u), 0), relIndex(second, len(u), len(u))
		if a >= b {
			return "", nil
		}
		return fromUnits(u[a:b]), nil
	case "substring":
		a := clampIndex(first, len(u))
		b := len(u)
		if !isUndef(second) {
			b = clampIndex(second, len(u))
		}
		if a > b {
			a, b = b, a
		}
		return fromUnits(u[a:b]), nil
	case "trim":
		return strings.TrimFunc(s, isJSSpace), nil
	case "trimStart":
		return strings.TrimLeftFunc(s, isJSSpace), nil
	case "trimEnd":
		return strings.TrimRightFunc(s, isJSSpace), nil
	case "toLowerCase":
		return strings.ToLower(s), nil
	case "toUpperCase":
		return jsUpper(s), nil
	case "charAt":
		i := toInt(first)
		if i < 0 || i >= len(u) {
			return "", nil
		}
		return fromUnits(u[i : i+1]), nil
	case "charCodeAt":
		i := toInt(first)
		if i < 0 || i >= len(u) {
			return math.NaN(), nil
		}
		return float64(u[i]), nil
	case "concat":
		var b strings.Builder
		b.WriteString(s)
		for _, a := range args {
			t, err := toStr(a)
			if err != nil {
				return nil, err
			}
			b.WriteString(t)
		}
		return b.String(), nil
	}
	return nil, errorf("Unsupported string intrinsic %s", name)
}

func jsUpper(s string) string {
	// JavaScript upper-cases ß to SS; Go keeps it.
	return strings.ReplaceAll(strings.ToUpper(s), "ß", "SS")
}

func isJSSpace(r rune) bool { return isTemplateSpace(r) }

func numberMethod(f float64, name string, args []any) (any, error) {
	first := argAt(args, 0)
	switch name {
	case "toFixed":
		d := 0
		if !isUndef(first) {
			d = toInt(first)
		}
		if d < 0 || d > 100 {
			return nil, errorf("toFixed() digits argument must be between 0 and 100")
		}
		if math.Abs(f) >= 1e21 || math.IsNaN(f) || math.IsInf(f, 0) {
			return numberString(f), nil
		}
		return strconv.FormatFloat(f, 'f', d, 64), nil
	case "toString":
		if isUndef(first) || toInt(first) == 10 {
			return numberString(f), nil
		}
		base := toInt(first)
		if base < 2 || base > 36 {
			return nil, errorf("toString() radix must be between 2 and 36")
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.FormatInt(int64(f), base), nil
		}
		return numberString(f), nil
	case "toPrecision":
		if isUndef(first) {
			return numberString(f), nil
		}
		p := toInt(first)
		if p < 1 || p > 100 {
			return nil, errorf("toPrecision() argument must be between 1 and 100")
		}
		e := int(math.Floor(math.Log10(math.Abs(f))))
		if f == 0 {
			e = 0
		}
		if e < -6 || e >= p {
			return jsExp(strconv.FormatFloat(f, 'e', p-1, 64)), nil
		}
		return strconv.FormatFloat(f, 'f', max(0, p-1-e), 64), nil
	case "toExponential":
		if isUndef(first) {
			return jsExp(strconv.FormatFloat(f, 'e', -1, 64)), nil
		}
		return jsExp(strconv.FormatFloat(f, 'e', toInt(first), 64)), nil
	}
	return nil, errorf("Unsupported number intrinsic %s", name)
}

// jsExp rewrites Go's 1e+06 exponent into JavaScript's 1e+6.
func jsExp(s string) string {
	i := strings.IndexByte(s, 'e')
	if i < 0 {
		return s
	}
	exp := s[i+2:]
	exp = strings.TrimLeft(exp, "0")
	if exp == "" {
		exp = "0"
	}
	return s[:i+2] + exp
}

func (in *interp) arrayMethod(a *array, name string, args []any) (any, error) {
	first, second := argAt(args, 0), argAt(args, 1)
	items := a.items
	n := len(items)
	switch name {
	case "at":
		i := toInt(first)
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return ojson.Undefined, nil
		}
		return items[i], nil
	case "concat":
		out := append([]any(nil), items...)
		for _, x := range args {
			if xa, ok := x.(*array); ok {
				out = append(out, xa.items...)
			} else {
				out = append(out, x)
			}
		}
		return &array{items: out}, nil
	case "flat":
		depth := 1
		if !isUndef(first) {
			depth = toInt(first)
		}
		return &array{items: flatten(items, depth)}, nil
	case "includes":
		for _, x := range items[clampIndex(relIndexOrZero(second, n), n):] {
			if strictEqual(x, first) || (isNaN(x) && isNaN(first)) || (isUndef(first) && isUndef(x)) {
				return true, nil
			}
		}
		return false, nil
	case "indexOf", "index", "find":
		start := 0
		if name == "indexOf" {
			start = clampIndex(relIndexOrZero(second, n), n)
		}
		for i := start; i < n; i++ {
			if strictEqual(items[i], first) {
				return float64(i), nil
			}
		}
		return float64(-1), nil
	case "lastIndexOf":
		from := n - 1
		if !isUndef(second) {
			from = toInt(second)
			if from < 0 {
				from += n
			}
		}
		for i := min(from, n-1); i >= 0; i-- {
			if strictEqual(items[i], first) {
				return float64(i), nil
			}
		}
		return float64(-1), nil
	case "join":
		sep := ","
		if !isUndef(first) {
			s, err := toStr(first)
			if err != nil {
				return nil, err
			}
			sep = s
		}
		parts := make([]string, n)
		for i, x := range items {
			if !isNullish(x) {
				s, err := toStr(x)
				if err != nil {
					return nil, err
				}
				parts[i] = s
			}
		}
		return strings.Join(parts, sep), nil
	case "slice":
		s, e := relIndex(first, n, 0), relIndex(second, n, n)
		if s >= e {
			return &array{}, nil
		}
		return &array{items: append([]any(nil), items[s:e]...)}, nil
	case "push", "append":
		if n+len(args) > in.lim.Steps {
			return nil, errorf("Array exceeds the size limit")
		}
		a.items = append(a.items, args...)
		return float64(len(a.items)), nil
	case "pop":
		if in.opts.CookiecutterCompat && !isUndef(first) {
			i := toInt(first)
			if i < 0 {
				i += n
			}
			if i < 0 || i >= n {
				return ojson.Undefined, nil
			}
			v := items[i]
			a.items = append(append([]any(nil), items[:i]...), items[i+1:]...)
			return v, nil
		}
		if n == 0 {
			return ojson.Undefined, nil
		}
		v := items[n-1]
		a.items = items[: n-1 : n-1]
		return v, nil
	case "shift":
		if n == 0 {
			return ojson.Undefined, nil
		}
		v := items[0]
		a.items = append([]any(nil), items[1:]...)
		return v, nil
	case "unshift":
		a.items = append(append([]any(nil), args...), items...)
		return float64(len(a.items)), nil
	case "splice":
		if isUndef(first) {
			return &array{}, nil
		}
		s := relIndex(first, n, 0)
		cnt := n - s
		if !isUndef(second) {
			cnt = min(max(0, toInt(second)), n-s)
		}
		removed := append([]any(nil), items[s:s+cnt]...)
		var ins []any
		if len(args) > 2 {
			ins = args[2:]
		}
		out := append(append(append([]any(nil), items[:s]...), ins...), items[s+cnt:]...)
		a.items = out
		return &array{items: removed}, nil
	case "sort":
		sorted := append([]any(nil), items...)
		sort.SliceStable(sorted, func(i, j int) bool {
			x, y := sorted[i], sorted[j]
			if isUndef(x) {
				return false
			}
			if isUndef(y) {
				return true
			}
			return jsLess(text2(x), text2(y))
		})
		a.items = sorted
		return a, nil
	case "reverse":
		rev := make([]any, n)
		for i, x := range items {
			rev[n-1-i] = x
		}
		a.items = rev
		return a, nil
	case "fill":
		s, e := relIndex(second, n, 0), relIndex(argAt(args, 2), n, n)
		out := append([]any(nil), items...)
		for i := s; i < e; i++ {
			out[i] = first
		}
		a.items = out
		return a, nil
	case "copyWithin":
		t, s, e := relIndex(first, n, 0), relIndex(second, n, 0), relIndex(argAt(args, 2), n, n)
		out := append([]any(nil), items...)
		for i := 0; s+i < e && t+i < n; i++ {
			out[t+i] = items[s+i]
		}
		a.items = out
		return a, nil
	case "insert":
		i := relIndex(first, n, 0)
		a.items = append(append(append([]any(nil), items[:i]...), second), items[i:]...)
		return &array{}, nil
	case "remove":
		for i, x := range items {
			if strictEqual(x, first) {
				a.items = append(append([]any(nil), items[:i]...), items[i+1:]...)
				return &array{items: []any{x}}, nil
			}
		}
		return &array{}, nil
	case "count":
		c := 0
		for _, x := range items {
			if strictEqual(x, first) {
				c++
			}
		}
		return float64(c), nil
	}
	return nil, errorf("Unsupported array intrinsic %s", name)
}

func relIndexOrZero(v any, n int) any {
	if isUndef(v) {
		return 0.0
	}
	i := toInt(v)
	if i < 0 {
		i += n
	}
	return float64(i)
}

func isNaN(v any) bool { f, ok := v.(float64); return ok && math.IsNaN(f) }

// text2 is String(x) for sort comparisons (null → "null").
func text2(v any) string { s, _ := toStr(v); return s }

func flatten(items []any, depth int) []any {
	var out []any
	for _, x := range items {
		if xa, ok := x.(*array); ok && depth > 0 {
			out = append(out, flatten(xa.items, depth-1)...)
		} else {
			out = append(out, x)
		}
	}
	return out
}

func recordMethod(o *ojson.Object, name string, args []any) (any, error) {
	switch name {
	case "get":
		k, err := toStr(argAt(args, 0))
		if err != nil {
			return nil, err
		}
		if v, ok := o.Get(k); ok {
			return v, nil
		}
		return argAt(args, 1), nil
	case "has_key":
		k, err := toStr(argAt(args, 0))
		if err != nil {
			return nil, err
		}
		return o.Has(k), nil
	case "keys", "values", "items":
		out := make([]any, 0, len(o.Members))
		for _, m := range o.Members {
			switch name {
			case "keys":
				out = append(out, m.Key)
			case "values":
				out = append(out, m.Value)
			default:
				out = append(out, &array{items: []any{m.Key, m.Value}})
			}
		}
		return &array{items: out}, nil
	}
	return nil, errorf("Unsupported record intrinsic %s", name)
}

// ---- built-in globals ----

func (in *interp) builtinGlobal(name string) any {
	switch name {
	case "range":
		return &callable{name: "Built-in global range", builtin: true, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
			if len(args) > 3 {
				return nil, errorf("Built-in global range accepts at most 3 positional arguments")
			}
			var start, stop, step float64 = 0, 0, 1
			switch len(args) {
			case 0:
				return &array{}, nil
			case 1:
				stop = num(args[0])
			default:
				start, stop = num(args[0]), num(args[1])
				if len(args) > 2 {
					step = num(args[2])
				}
			}
			if step == 0 || math.IsNaN(step) {
				return nil, errorf("range() step must not be zero")
			}
			var out []any
			for x := start; (step > 0 && x < stop) || (step < 0 && x > stop); x += step {
				if err := in.step(); err != nil {
					return nil, err
				}
				out = append(out, x)
			}
			return &array{items: out}, nil
		}}
	case "cycler":
		return &callable{name: "Built-in global cycler", builtin: true, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
			vals := append([]any(nil), args...)
			idx := -1
			o := &ojson.Object{}
			o.Set("next", &callable{name: "next", fn: func(in *interp, _ []any, _ *ojson.Object) (any, error) {
				if len(vals) == 0 {
					return ojson.Undefined, nil
				}
				idx = (idx + 1) % len(vals)
				o.Set("current", vals[idx])
				return vals[idx], nil
			}})
			o.Set("reset", &callable{name: "reset", fn: func(in *interp, _ []any, _ *ojson.Object) (any, error) {
				idx = -1
				o.Set("current", nil)
				return ojson.Undefined, nil
			}})
			o.Set("current", nil)
			return o, nil
		}}
	case "joiner":
		return &callable{name: "Built-in global joiner", builtin: true, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
			if len(args) > 1 {
				return nil, errorf("Built-in global joiner accepts at most 1 positional argument")
			}
			sep := ","
			if len(args) > 0 && !isUndef(args[0]) {
				sep = text(args[0])
			}
			used := false
			return &callable{name: "joiner", fn: func(in *interp, _ []any, _ *ojson.Object) (any, error) {
				if !used {
					used = true
					return "", nil
				}
				return sep, nil
			}}, nil
		}}
	}
	return nil
}
