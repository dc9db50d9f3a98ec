package render

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

var (
	htmlTagRe        = regexp.MustCompile(`(?i)</?([a-z][a-z0-9]*)\b[^>]*>|<!--[\s\S]*?-->`)
	lineEdgeSpacesRe = regexp.MustCompile(`(?m)^ +| +$`)
	repeatedSpacesRe = regexp.MustCompile(` +`)
	excessBlankRe    = regexp.MustCompile(`\n\n\n+`)
	wsRunRe          = regexp.MustCompile(`\s+`)
	wordRe           = regexp.MustCompile(`\w+`)
	urlizeSepRe      = regexp.MustCompile(`(\s+)`)
	urlizePunctRe    = regexp.MustCompile(`^(?:\(|<|&lt;)?([\s\S]*?)(?:\.|,|\)|\n|&gt;)?$`)
	emailRe          = regexp.MustCompile(`(?i)^[\w.!#$%&'*+\-/=?^` + "`" + `{|}~]+@[a-z\d-]+(?:\.[a-z\d-]+)+$`)
	commonDomainRe   = regexp.MustCompile(`\.(?:org|net|com)(?::|/|$)`)
	htmlEscaper      = strings.NewReplacer("&", "&amp;", `"`, "&quot;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `\`, "&#92;")
)

func copySafe(in any, out string) any {
	if _, ok := in.(safeString); ok {
		return safeString(out)
	}
	return out
}

// strictText is nunjitsu's runtimeText: only strings are accepted.
func strictText(v any) (string, error) {
	switch t := v.(type) {
	case string:
		return t, nil
	case safeString:
		return string(t), nil
	}
	return "", errorf("Filter input must be a string")
}

func normText(v any) any {
	if isNullish(v) || v == false {
		return ""
	}
	return v
}

func spaces(n float64) (string, error) {
	if math.IsNaN(n) || n <= 0 {
		return "", nil
	}
	if n > 16*1024*1024 {
		return "", errorf("Filter spacing exceeds the supported bound")
	}
	return strings.Repeat(" ", int(math.Ceil(n))), nil
}

func kwOr(kw *ojson.Object, name string, args []any, i int) any {
	if v, ok := kwGet(kw, name); ok {
		return v
	}
	return argAt(args, i)
}

func seqValues(v any) ([]any, bool) {
	switch t := v.(type) {
	case *array:
		return t.items, true
	case string, safeString:
		s := text(t)
		var out []any
		for _, u := range units(s) {
			out = append(out, fromUnits([]uint16{u}))
		}
		return out, true
	}
	return nil, false
}

// projectAttr reads one attribute of each element, as join and sum do
// with an attribute: array items, the characters of a string, or the
// indexed members of an array-like record.
func projectAttr(input any, key string) ([]any, error) {
	var elems []any
	switch t := input.(type) {
	case *array:
		elems = t.items
	case string:
		for _, u := range units(t) {
			elems = append(elems, fromUnits([]uint16{u}))
		}
	case *ojson.Object:
		l, _ := t.Get("length")
		n := num(l)
		for i := 0; float64(i) < n && i <= len(t.Members); i++ {
			elems = append(elems, orUndefined(t.Get(strconv.Itoa(i))))
		}
	case safeString:
		if t != "" {
			_, err := attr(ojson.Undefined, key)
			return nil, err
		}
	}
	out := make([]any, 0, len(elems))
	for _, e := range elems {
		v, err := attr(e, key)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func attr(v any, key string) (any, error) {
	if isNullish(v) {
		return nil, errorf("Cannot read a template attribute from a nullish value")
	}
	r, ok := member(v, key)
	if !ok {
		return ojson.Undefined, nil
	}
	return r, nil
}

func attrPath(v any, path []string) (any, error) {
	cur := v
	for _, seg := range path {
		if isNullish(cur) {
			return nil, errorf("Cannot read a template attribute from a nullish value")
		}
		r, ok := member(cur, seg)
		if !ok {
			return ojson.Undefined, nil
		}
		cur = r
	}
	return cur, nil
}

// builtinFilter applies a Nunjucks built-in filter; found is false for an
// unknown name.
func (in *interp) builtinFilter(name string, input any, args []any, kw *ojson.Object) (r any, found bool, err error) {
	if containsCallable(input) {
		return nil, true, errorf("Callable values cannot be coerced")
	}
	// Keyword arguments become a trailing object, as Nunjucks passes them,
	// except for int and sort whose keywords are matched by name.
	if kw != nil && name != "int" && name != "sort" && name != "default" && name != "d" {
		k := kw.Clone()
		k.Set("__keywords", true)
		args = append(append([]any(nil), args...), k)
	}
	first, second := argAt(args, 0), argAt(args, 1)
	found = true
	switch name {
	case "abs":
		n, err := toNumber(input)
		return math.Abs(n), found, err
	case "batch":
		if isNullish(input) {
			return nil, found, errorf("batch requires a sequence")
		}
		width := num(first)
		if math.IsNaN(width) || math.Trunc(width) <= 0 {
			return nil, found, errorf("Batch size must be a positive integer")
		}
		w := int(width)
		vals, _ := seqValues(input)
		var out []any
		var row []any
		for _, v := range vals {
			row = append(row, v)
			if len(row) == w {
				out = append(out, &array{items: row})
				row = nil
			}
		}
		if len(row) > 0 {
			if truthy(second) {
				for len(row) < w {
					row = append(row, second)
				}
			}
			out = append(out, &array{items: row})
		}
		return &array{items: out}, found, nil
	case "capitalize":
		s, err := strictText(normText(input))
		if err != nil {
			return nil, found, err
		}
		u := units(strings.ToLower(s))
		if len(u) == 0 {
			return copySafe(input, ""), found, nil
		}
		return copySafe(input, jsUpper(fromUnits(u[:1]))+fromUnits(u[1:])), found, nil
	case "center":
		nv := normText(input)
		width := first
		if !truthy(width) {
			width = 80.0
		}
		var length any
		switch t := nv.(type) {
		case string, safeString:
			length = float64(utf16Len(text(t)))
		case *array:
			length = float64(len(t.items))
		default:
			length = ojson.Undefined
		}
		if o, _ := order(length, width); o == 0 || o == 1 {
			return nv, found, nil
		}
		sp := num(width) - num(length)
		s, err := toStr(nv)
		if err != nil {
			return nil, found, err
		}
		l, err := spaces(sp/2 - math.Mod(sp, 2))
		if err != nil {
			return nil, found, err
		}
		rr, err := spaces(sp / 2)
		if err != nil {
			return nil, found, err
		}
		return copySafe(nv, l+s+rr), found, nil
	case "default", "d":
		boolean := kwOr(kw, "boolean", args, 1)
		if truthy(boolean) {
			if truthy(input) {
				return input, found, nil
			}
			return first, found, nil
		}
		if isUndef(input) {
			return first, found, nil
		}
		return input, found, nil
	case "dictsort":
		o, ok := input.(*ojson.Object)
		if !ok {
			return nil, found, errorf("dictsort requires a record")
		}
		cs := truthy(first)
		by := "key"
		if !isUndef(second) {
			s, ok := second.(string)
			if !ok || (s != "key" && s != "value") {
				return nil, found, errorf("dictsort can only sort by key or value")
			}
			by = s
		}
		ms := append([]ojson.Member(nil), o.Members...)
		norm := func(v any) any {
			if s, ok := v.(string); ok && !cs {
				return jsUpper(s)
			}
			return v
		}
		sort.SliceStable(ms, func(i, j int) bool {
			var a, b any = ms[i].Key, ms[j].Key
			if by == "value" {
				a, b = ms[i].Value, ms[j].Value
			}
			a, b = norm(a), norm(b)
			o, _ := order(a, b)
			return o != 1 && !strictEqual(a, b)
		})
		out := make([]any, len(ms))
		for i, m := range ms {
			out[i] = &array{items: []any{m.Key, m.Value}}
		}
		return &array{items: out}, found, nil
	case "dump":
		return dump(input, first)
	case "escape", "e":
		if _, ok := input.(safeString); ok {
			return input, found, nil
		}
		s, err := display(input)
		return safeString(htmlEscaper.Replace(s)), found, err
	case "forceescape":
		s, err := display(input)
		return safeString(htmlEscaper.Replace(s)), found, err
	case "safe":
		if _, ok := input.(safeString); ok {
			return input, found, nil
		}
		s, err := display(input)
		return safeString(s), found, err
	case "first", "last":
		if isNullish(input) {
			return nil, found, errorf("%s requires a sequence", name)
		}
		switch t := input.(type) {
		case *array:
			if len(t.items) == 0 {
				return ojson.Undefined, found, nil
			}
			if name == "last" {
				return t.items[len(t.items)-1], found, nil
			}
			return t.items[0], found, nil
		case string, safeString:
			u := units(text(t))
			if len(u) == 0 {
				return ojson.Undefined, found, nil
			}
			if name == "last" {
				return fromUnits(u[len(u)-1:]), found, nil
			}
			return fromUnits(u[:1]), found, nil
		}
		return ojson.Undefined, found, nil
	case "float":
		s, err := toStr(input)
		if err != nil {
			return nil, found, err
		}
		f := parseFloatPrefix(s)
		if math.IsNaN(f) {
			return first, found, nil
		}
		return f, found, nil
	case "int":
		fallback := kwOr(kw, "default", args, 0)
		baseV := kwOr(kw, "base", args, 1)
		base := 10
		if !isUndef(baseV) {
			base = toInt(baseV)
		}
		s, err := toStr(input)
		if err != nil {
			return nil, found, err
		}
		f := parseIntPrefix(s, base)
		if math.IsNaN(f) {
			return fallback, found, nil
		}
		return f, found, nil
	case "reverse":
		switch t := input.(type) {
		case string, safeString:
			u := units(text(t))
			for i, j := 0, len(u)-1; i < j; i, j = i+1, j-1 {
				u[i], u[j] = u[j], u[i]
			}
			return copySafe(t, fromUnits(u)), found, nil
		case *array:
			out := make([]any, len(t.items))
			for i, x := range t.items {
				out[len(out)-1-i] = x
			}
			return &array{items: out}, found, nil
		}
		return &array{}, found, nil
	case "groupby":
		return groupby(input, first)
	case "join":
		sep := ""
		if truthy(first) {
			if sep, err = toStr(first); err != nil {
				return nil, found, err
			}
		}
		var vals []any
		if truthy(second) {
			key, _ := toStr(second)
			if vals, err = projectAttr(input, key); err != nil {
				return nil, found, err
			}
		} else {
			a, ok := input.(*array)
			if !ok {
				return nil, found, errorf("join requires an array")
			}
			vals = a.items
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			if !isNullish(v) {
				if parts[i], err = toStr(v); err != nil {
					return nil, found, err
				}
			}
		}
		return strings.Join(parts, sep), found, nil
	case "sum":
		var vals []any
		if truthy(first) {
			key, _ := toStr(first)
			if vals, err = projectAttr(input, key); err != nil {
				return nil, found, err
			}
		} else {
			a, ok := input.(*array)
			if !ok {
				return nil, found, errorf("sum requires an array")
			}
			vals = a.items
		}
		var acc any = 0.0
		for _, v := range vals {
			if acc, err = add(acc, v); err != nil {
				return nil, found, err
			}
		}
		start := second
		if isUndef(start) {
			start = 0.0
		}
		r, err := add(start, acc)
		return r, found, err
	case "sort":
		vals, ok := seqValues(input)
		if !ok {
			return &array{}, found, nil
		}
		vals = append([]any(nil), vals...)
		reverse := truthy(kwOr(kw, "reverse", args, 0))
		cs := truthy(kwOr(kw, "case_sensitive", args, 1))
		attrV := kwOr(kw, "attribute", args, 2)
		var path []string
		if truthy(attrV) {
			if s, ok := attrV.(string); ok {
				path = strings.Split(s, ".")
			} else {
				path = []string{text(attrV)}
			}
		}
		var sortErr error
		sort.SliceStable(vals, func(i, j int) bool {
			a, e1 := attrPath(vals[i], path)
			b, e2 := attrPath(vals[j], path)
			if e1 != nil || e2 != nil {
				sortErr = errorf("Cannot read a template attribute from a nullish value")
				return false
			}
			if !cs {
				as, aok := a.(string)
				bs, bok := b.(string)
				if aok && bok {
					a, b = strings.ToLower(as), strings.ToLower(bs)
				}
			}
			o, _ := order(a, b)
			if reverse {
				return o == 1
			}
			return o == -1
		})
		if sortErr != nil {
			return nil, found, sortErr
		}
		return &array{items: vals}, found, nil
	case "selectattr", "rejectattr":
		a, ok := input.(*array)
		if !ok {
			return nil, found, errorf("%s requires an array", name)
		}
		key, _ := toStr(first)
		var out []any
		for _, x := range a.items {
			v, err := attr(x, key)
			if err != nil {
				return nil, found, err
			}
			if truthy(v) == (name == "selectattr") {
				out = append(out, x)
			}
		}
		return &array{items: out}, found, nil
	case "select", "reject":
		test := "truthy"
		if !isUndef(first) {
			test, _ = toStr(first)
		}
		if isNullish(input) {
			return nil, found, errorf("%s requires a sequence", name)
		}
		vals, _ := seqValues(input)
		targs := args[min(1, len(args)):]
		if want, ok := testArity[test]; !ok {
			return nil, found, errorf("Unknown template test %s", test)
		} else if len(targs) != want {
			return nil, found, errorf("Template test %s requires %d positional argument%s", test, want, plural(want))
		}
		var out []any
		for _, v := range vals {
			r, err := applyTest(test, v, targs)
			if err != nil {
				return nil, found, err
			}
			if r == (name == "select") {
				out = append(out, v)
			}
		}
		return &array{items: out}, found, nil
	case "indent":
		nv := normText(input)
		s, err := strictText(nv)
		if err != nil {
			return nil, found, err
		}
		if s == "" {
			return "", found, nil
		}
		width := first
		if !truthy(width) {
			width = 4.0
		}
		ind, err := spaces(num(width))
		if err != nil {
			return nil, found, err
		}
		lines := strings.Split(s, "\n")
		start := 1
		if truthy(second) {
			start = 0
		}
		for i := start; i < len(lines); i++ {
			lines[i] = ind + lines[i]
		}
		return copySafe(nv, strings.Join(lines, "\n")), found, nil
	case "length":
		switch t := input.(type) {
		case *array:
			return float64(len(t.items)), found, nil
		case *ojson.Object:
			return float64(len(t.Members)), found, nil
		case string, safeString:
			return float64(utf16Len(text(t))), found, nil
		case nil, ojson.UndefinedType:
			return 0.0, found, nil
		case bool:
			if !t {
				return 0.0, found, nil
			}
		}
		return ojson.Undefined, found, nil
	case "list":
		switch t := input.(type) {
		case *array:
			return t, found, nil
		case string, safeString:
			v, _ := seqValues(t)
			return &array{items: v}, found, nil
		case *ojson.Object:
			out := make([]any, len(t.Members))
			for i, m := range t.Members {
				out[i] = ojson.NewObject("key", m.Key, "value", m.Value)
			}
			return &array{items: out}, found, nil
		}
		return nil, found, errorf("list requires an iterable value")
	case "lower", "upper":
		s, err := strictText(normText(input))
		if err != nil {
			return nil, found, err
		}
		if name == "lower" {
			return strings.ToLower(s), found, nil
		}
		return jsUpper(s), found, nil
	case "nl2br":
		var s string
		if !isNullish(input) {
			if s, err = strictText(input); err != nil {
				return nil, found, err
			}
		}
		s = strings.ReplaceAll(s, "\r\n", "<br />\n")
		s = strings.NewReplacer("\n", "<br />\n").Replace(strings.ReplaceAll(s, "<br />\n", "\x00"))
		s = strings.ReplaceAll(s, "\x00", "<br />\n")
		return copySafe(input, s), found, nil
	case "random":
		if isNullish(input) {
			return nil, found, errorf("random requires a sequence")
		}
		vals, _ := seqValues(input)
		if len(vals) == 0 {
			return ojson.Undefined, found, nil
		}
		return vals[rand.IntN(len(vals))], found, nil
	case "replace":
		return replaceFilter(input, first, second, argAt(args, 2))
	case "round":
		prec := 0.0
		if truthy(first) {
			prec = num(first)
		}
		factor := math.Pow(10, prec)
		x := num(input) * factor
		switch second {
		case "ceil":
			x = math.Ceil(x)
		case "floor":
			x = math.Floor(x)
		default:
			x = jsRound(x)
		}
		return x / factor, found, nil
	case "slice":
		return sliceFilter(input, first, second)
	case "string":
		if isNullish(input) {
			return nil, found, errorf("string requires a value")
		}
		if _, ok := input.(safeString); ok {
			return input, found, nil
		}
		s, err := display(input)
		return s, found, err
	case "striptags":
		s, err := strictText(normText(input))
		if err != nil {
			return nil, found, err
		}
		for i := 0; i < 8; i++ {
			n := htmlTagRe.ReplaceAllString(s, "")
			if n == s {
				break
			}
			s = n
		}
		s = strings.TrimFunc(s, isJSSpace)
		if truthy(first) {
			s = lineEdgeSpacesRe.ReplaceAllString(s, "")
			s = repeatedSpacesRe.ReplaceAllString(s, " ")
			s = strings.ReplaceAll(s, "\r\n", "\n")
			s = excessBlankRe.ReplaceAllString(s, "\n\n")
		} else {
			s = wsRunRe.ReplaceAllString(s, " ")
		}
		return copySafe(input, s), found, nil
	case "title":
		s, err := strictText(normText(input))
		if err != nil {
			return nil, found, err
		}
		words := strings.Split(s, " ")
		for i, w := range words {
			u := units(strings.ToLower(w))
			if len(u) > 0 {
				words[i] = jsUpper(fromUnits(u[:1])) + fromUnits(u[1:])
			}
		}
		return copySafe(input, strings.Join(words, " ")), found, nil
	case "trim":
		s, err := strictText(input)
		if err != nil {
			return nil, found, err
		}
		return copySafe(input, strings.TrimFunc(s, isJSSpace)), found, nil
	case "truncate":
		return truncateFilter(input, first, second, argAt(args, 2))
	case "urlencode":
		return urlencode(input)
	case "urlize":
		return urlize(input, first, second)
	case "wordcount":
		nv := normText(input)
		if !truthy(nv) {
			return nil, found, nil
		}
		s, err := strictText(nv)
		if err != nil {
			return nil, found, err
		}
		n := len(wordRe.FindAllStringIndex(s, -1))
		if n == 0 {
			return nil, found, nil
		}
		return float64(n), found, nil
	}
	return nil, false, nil
}

func jsRound(x float64) float64 { return math.Floor(x + 0.5) }

var floatPrefixRe = regexp.MustCompile(`^[+-]?(?:Infinity|\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)`)

// parseFloatPrefix is JavaScript parseFloat.
func parseFloatPrefix(s string) float64 {
	s = strings.TrimLeftFunc(s, isJSSpace)
	m := floatPrefixRe.FindString(s)
	if m == "" {
		return math.NaN()
	}
	return strToNumber(m)
}

// parseIntPrefix is JavaScript parseInt.
func parseIntPrefix(s string, base int) float64 {
	s = strings.TrimLeftFunc(s, isJSSpace)
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if base == 0 {
		base = 10
		if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
			base, s = 16, s[2:]
		}
	} else if base == 16 && (strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X")) {
		s = s[2:]
	}
	if base < 2 || base > 36 {
		return math.NaN()
	}
	var n float64
	digits := 0
	for _, r := range strings.ToLower(s) {
		var d int
		switch {
		case r >= '0' && r <= '9':
			d = int(r - '0')
		case r >= 'a' && r <= 'z':
			d = int(r-'a') + 10
		default:
			d = 99
		}
		if d >= base {
			break
		}
		n = n*float64(base) + float64(d)
		digits++
	}
	if digits == 0 {
		return math.NaN()
	}
	if neg {
		n = -n
	}
	return n
}

func dump(input, indent any) (any, bool, error) {
	j, err := toJSON(input)
	if err != nil {
		return nil, true, errorf("Callable values cannot be serialized")
	}
	if isUndef(j) {
		return ojson.Undefined, true, nil
	}
	b, err := ojson.Marshal(j)
	if err != nil {
		return nil, true, err
	}
	ind := ""
	switch t := indent.(type) {
	case string:
		ind = string(fromUnits(units(t)[:min(10, len(units(t)))]))
	case float64:
		if t > 0 {
			ind = strings.Repeat(" ", min(10, int(t)))
		}
	}
	if ind == "" {
		return string(b), true, nil
	}
	return jsIndent(b, ind), true, nil
}

// jsIndent re-indents compact JSON the way JSON.stringify(v, null, ind) does
// (empty containers stay [] and {}).
func jsIndent(b []byte, ind string) string {
	var out strings.Builder
	depth := 0
	inStr := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inStr {
			out.WriteByte(c)
			if c == '\\' {
				i++
				out.WriteByte(b[i])
			} else if c == '"' {
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
			out.WriteByte(c)
		case '{', '[':
			if i+1 < len(b) && (b[i+1] == '}' || b[i+1] == ']') {
				out.WriteByte(c)
				out.WriteByte(b[i+1])
				i++
				continue
			}
			depth++
			out.WriteByte(c)
			out.WriteByte('\n')
			out.WriteString(strings.Repeat(ind, depth))
		case '}', ']':
			depth--
			out.WriteByte('\n')
			out.WriteString(strings.Repeat(ind, depth))
			out.WriteByte(c)
		case ',':
			out.WriteString(",\n")
			out.WriteString(strings.Repeat(ind, depth))
		case ':':
			out.WriteString(": ")
		default:
			out.WriteByte(c)
		}
	}
	return out.String()
}

func groupby(input, attribute any) (any, bool, error) {
	if isNullish(input) {
		return nil, true, errorf("groupby requires a sequence")
	}
	vals, ok := seqValues(input)
	out := &ojson.Object{}
	if !ok {
		return out, true, nil
	}
	var path []string
	if truthy(attribute) {
		if s, ok := attribute.(string); ok {
			path = strings.Split(s, ".")
		} else {
			path = []string{text(attribute)}
		}
	}
	for _, v := range vals {
		k, err := attrPath(v, path)
		if err != nil {
			return nil, true, err
		}
		ks, err := toStr(k)
		if err != nil {
			return nil, true, err
		}
		cur, _ := out.Get(ks)
		a, _ := cur.(*array)
		if a == nil {
			a = &array{}
			out.Set(ks, a)
		}
		a.items = append(a.items, v)
	}
	return out, true, nil
}

func replaceFilter(input, search, repl, maxV any) (any, bool, error) {
	if re, ok := search.(*regex); ok {
		s, err := strictText(input)
		if err != nil {
			return nil, true, errorf("Regular-expression replacement requires a string")
		}
		r, err := toStr(repl)
		if err != nil {
			return nil, true, err
		}
		out, err := regexReplace(s, re, r)
		return out, true, err
	}
	switch search.(type) {
	case string, float64:
	default:
		return input, true, nil
	}
	in := input
	if f, ok := in.(float64); ok {
		in = numberString(f)
	}
	s, err := strictText(in)
	if err != nil {
		return in, true, nil
	}
	needle, _ := toStr(search)
	rs, err := toStr(repl)
	if err != nil {
		return nil, true, err
	}
	if needle == "" {
		sep := rs
		if isUndef(repl) {
			sep = ","
		}
		var parts []string
		for _, u := range units(s) {
			parts = append(parts, fromUnits([]uint16{u}))
		}
		return copySafe(in, rs+strings.Join(parts, sep)+rs), true, nil
	}
	if isUndef(maxV) {
		maxV = -1.0
	}
	if maxV == 0.0 || !strings.Contains(s, needle) {
		return in, true, nil
	}
	if maxV == -1.0 {
		return copySafe(input, strings.ReplaceAll(s, needle, rs)), true, nil
	}
	return copySafe(input, strings.Replace(s, needle, rs, int(num(maxV)))), true, nil
}

func sliceFilter(input, countV, fill any) (any, bool, error) {
	vals, ok := seqValues(input)
	if !ok {
		return nil, true, errorf("slice requires a sequence")
	}
	c := num(countV)
	if math.IsNaN(c) || math.Trunc(c) <= 0 {
		return nil, true, errorf("Slice count must be a positive integer")
	}
	count := int(c)
	base, extra := len(vals)/count, len(vals)%count
	_, isText := input.(*array)
	isText = !isText
	var out []any
	off := 0
	for i := 0; i < count; i++ {
		l := base
		if i < extra {
			l++
		}
		part := append([]any(nil), vals[off:off+l]...)
		off += l
		if isText {
			if truthy(fill) && i >= extra {
				return nil, true, errorf("slice cannot append a fill value to a string")
			}
			var b strings.Builder
			for _, p := range part {
				b.WriteString(p.(string))
			}
			out = append(out, b.String())
			continue
		}
		if truthy(fill) && i >= extra {
			part = append(part, fill)
		}
		out = append(out, &array{items: part})
	}
	return &array{items: out}, true, nil
}

func truncateFilter(input, lengthV, killwords, end any) (any, bool, error) {
	nv := normText(input)
	if !truthy(lengthV) {
		lengthV = 255.0
	}
	var l any = ojson.Undefined
	switch t := nv.(type) {
	case string, safeString:
		l = float64(utf16Len(text(t)))
	case *array:
		l = float64(len(t.items))
	}
	if o, _ := order(l, lengthV); o == -1 || o == 0 {
		return nv, true, nil
	}
	s, err := strictText(nv)
	if err != nil {
		return nil, true, err
	}
	u := units(s)
	n := clampIndex(lengthV, len(u))
	var cut string
	if truthy(killwords) {
		cut = fromUnits(u[:n])
	} else {
		idx := -1
		for i := min(n, len(u)-1); i >= 0; i-- {
			if u[i] == ' ' {
				idx = i
				break
			}
		}
		if idx < 0 {
			idx = n
		}
		cut = fromUnits(u[:idx])
	}
	e := "..."
	if !isNullish(end) {
		if e, err = toStr(end); err != nil {
			return nil, true, err
		}
	}
	return copySafe(input, cut+e), true, nil
}

// encodeURIComponent escapes like JavaScript's function of that name.
func encodeURIComponent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.!~*'()", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func urlencode(input any) (any, bool, error) {
	switch t := input.(type) {
	case string, safeString:
		return encodeURIComponent(text(t)), true, nil
	case *ojson.Object:
		var parts []string
		for _, m := range t.Members {
			v, err := toStr(m.Value)
			if err != nil {
				return nil, true, err
			}
			parts = append(parts, encodeURIComponent(m.Key)+"="+encodeURIComponent(v))
		}
		return strings.Join(parts, "&"), true, nil
	case *array:
		var parts []string
		for _, it := range t.items {
			if isNullish(it) {
				return nil, true, errorf("urlencode sequence entries cannot be nullish")
			}
			var k, v any = ojson.Undefined, ojson.Undefined
			switch e := it.(type) {
			case *array:
				k, v = argAt(e.items, 0), argAt(e.items, 1)
			case *ojson.Object:
				k, v = orUndefined(e.Get("0")), orUndefined(e.Get("1"))
			case string, safeString:
				u := units(text(e))
				if len(u) > 0 {
					k = fromUnits(u[:1])
				}
				if len(u) > 1 {
					v = fromUnits(u[1:2])
				}
			}
			ks, err := toStr(k)
			if err != nil {
				return nil, true, err
			}
			vs, err := toStr(v)
			if err != nil {
				return nil, true, err
			}
			parts = append(parts, encodeURIComponent(ks)+"="+encodeURIComponent(vs))
		}
		return strings.Join(parts, "&"), true, nil
	}
	return "", true, nil
}

func urlize(input, lengthV, nofollowV any) (any, bool, error) {
	s, err := strictText(input)
	if err != nil {
		return nil, true, err
	}
	length := math.Inf(1)
	if !isUndef(lengthV) && !isNaN(lengthV) {
		n := num(lengthV)
		if math.IsNaN(n) || n <= 0 {
			length = 0
		} else {
			length = math.Trunc(n)
		}
	}
	nofollow := ""
	if nofollowV == true {
		nofollow = ` rel="nofollow"`
	}
	var out strings.Builder
	words := splitKeep(s, urlizeSepRe)
	for _, w := range words {
		if w == "" {
			continue
		}
		possible := w
		if m := urlizePunctRe.FindStringSubmatch(w); m != nil {
			possible = m[1]
		}
		u := units(possible)
		short := possible
		if float64(len(u)) > length {
			short = fromUnits(u[:int(length)])
		}
		switch {
		case strings.HasPrefix(possible, "http://") || strings.HasPrefix(possible, "https://"):
			fmt.Fprintf(&out, `<a href="%s"%s>%s</a>`, possible, nofollow, short)
		case strings.HasPrefix(possible, "www."):
			fmt.Fprintf(&out, `<a href="http://%s"%s>%s</a>`, possible, nofollow, short)
		case emailRe.MatchString(possible):
			fmt.Fprintf(&out, `<a href="mailto:%s">%s</a>`, possible, possible)
		case commonDomainRe.MatchString(possible):
			fmt.Fprintf(&out, `<a href="http://%s"%s>%s</a>`, possible, nofollow, short)
		default:
			out.WriteString(w)
		}
	}
	return out.String(), true, nil
}

// splitKeep splits like JavaScript's split with a capturing regex.
func splitKeep(s string, re *regexp.Regexp) []string {
	var out []string
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		out = append(out, s[last:m[0]], s[m[0]:m[1]])
		last = m[1]
	}
	return append(out, s[last:])
}

// ---- Backstage's own filters ----

// IntegrationType maps a host to its SCM integration type ("github",
// "gitlab", "bitbucketCloud", ...); "" when no integration is configured.
type IntegrationType func(host string) string

// DefaultIntegrations knows the public hosts Backstage configures by default.
func DefaultIntegrations(host string) string {
	switch host {
	case "github.com":
		return "github"
	case "gitlab.com":
		return "gitlab"
	case "bitbucket.org":
		return "bitbucketCloud"
	case "dev.azure.com":
		return "azure"
	}
	return ""
}

// BackstageFilters returns parseRepoUrl, parseEntityRef, pick and
// projectSlug, the filters the scaffolder adds to every template.
func BackstageFilters(integrations IntegrationType) map[string]Filter {
	if integrations == nil {
		integrations = DefaultIntegrations
	}
	return map[string]Filter{
		"parseRepoUrl": func(input any, args ...any) (any, error) {
			s, err := jsTemplateString(input)
			if err != nil {
				return nil, err
			}
			return ParseRepoURL(s, integrations)
		},
		"projectSlug": func(input any, args ...any) (any, error) {
			s, err := jsTemplateString(input)
			if err != nil {
				return nil, err
			}
			o, err := ParseRepoURL(s, integrations)
			if err != nil {
				return nil, err
			}
			owner, _ := jsTemplateString(orUndefined(o.Get("owner")))
			repo, _ := jsTemplateString(orUndefined(o.Get("repo")))
			return owner + "/" + repo, nil
		},
		"parseEntityRef": parseEntityRefFilter,
		"pick": func(input any, args ...any) (any, error) {
			if len(args) == 0 {
				return ojson.Undefined, nil
			}
			return pick(input, args[0]), nil
		},
	}
}

func orUndefined(v any, ok bool) any {
	if !ok {
		return ojson.Undefined
	}
	return v
}

// jsTemplateString is `${v}` in JavaScript for a value handed to a
// Backstage filter: records arrive without a prototype, so they (and arrays
// holding them) cannot be converted.
func jsTemplateString(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "null", nil
	case ojson.UndefinedType:
		return "undefined", nil
	case *ojson.Object, map[string]any:
		return "", errors.New("Cannot convert object to primitive value")
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			if x == nil || isUndef(x) {
				continue
			}
			p, err := jsTemplateString(x)
			if err != nil {
				return "", err
			}
			parts[i] = p
		}
		return strings.Join(parts, ","), nil
	}
	return text(fromJSON(v)), nil
}

// ParseRepoURL parses a RepoUrlPicker value (host?owner=o&repo=r...).
func ParseRepoURL(repoURL string, integrations IntegrationType) (*ojson.Object, error) {
	// JavaScript's URL drops tabs and newlines anywhere and trims
	// surrounding controls and spaces.
	cleaned := strings.TrimRightFunc(strings.NewReplacer("\t", "", "\n", "", "\r", "").Replace("https://"+repoURL), func(r rune) bool { return r <= ' ' })
	u, err := url.Parse(cleaned)
	if err == nil && !strings.HasPrefix(u.Host, "[") && strings.ContainsAny(u.Host, " <>[\\]^|\x00\x7f") {
		err = errors.New("forbidden host code point")
	}
	host := ""
	if err == nil {
		host, err = whatwgHost(u.Host)
	}
	if err != nil || host == "" {
		return nil, fmt.Errorf("Invalid repo URL passed to publisher, got %s, TypeError: Invalid URL", repoURL)
	}
	typ := integrations(host)
	if typ == "" {
		return nil, fmt.Errorf("No matching integration configuration for host %s, please check your integrations config", host)
	}
	q := u.Query()
	get := func(k string) any {
		if !q.Has(k) {
			return ojson.Undefined
		}
		return strings.Trim(q.Get(k), "/")
	}
	check := func(ps ...string) error {
		for _, p := range ps {
			if q.Get(p) == "" {
				return fmt.Errorf("Invalid repo URL passed to publisher: %s, missing %s", u.String(), p)
			}
		}
		return nil
	}
	switch typ {
	case "bitbucketCloud":
		err = check("workspace", "project", "repo")
	case "bitbucketServer", "azure":
		err = check("project", "repo")
	case "gitlab":
		if !truthy(get("project")) {
			err = check("owner", "repo")
		}
	case "gitea", "gerrit":
		err = check("repo")
	default:
		err = check("repo", "owner")
	}
	if err != nil {
		return nil, err
	}
	o := &ojson.Object{}
	for _, k := range []string{"host", "owner", "repo", "organization", "workspace", "project"} {
		var v any = host
		if k != "host" {
			v = get(k)
		}
		if !isUndef(v) {
			o.Set(k, v)
		}
	}
	return o, nil
}

// whatwgHost normalises a URL host as JavaScript's URL does: ASCII
// lower case, and a host ending in a number read as an IPv4 address
// (github.com stays, "3" becomes 0.0.0.3).
func whatwgHost(hostport string) (string, error) {
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") {
		host, port = hostport[:i], hostport[i:]
	}
	host = strings.ToLower(host)
	labels := strings.Split(host, ".")
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels = labels[:len(labels)-1]
	}
	last := labels[len(labels)-1]
	if _, ok := ipv4Number(last); !ok && strings.Trim(last, "0123456789") != "" {
		return host + port, nil
	}
	if len(labels) > 4 {
		return "", fmt.Errorf("invalid IPv4 host")
	}
	var addr uint64
	for i, l := range labels {
		n, ok := ipv4Number(l)
		if !ok {
			return "", fmt.Errorf("invalid IPv4 host")
		}
		if i < len(labels)-1 {
			if n > 255 {
				return "", fmt.Errorf("invalid IPv4 host")
			}
			addr |= n << (8 * uint(3-i))
			continue
		}
		if n >= 1<<(8*uint(5-len(labels))) {
			return "", fmt.Errorf("invalid IPv4 host")
		}
		addr += n
	}
	return fmt.Sprintf("%d.%d.%d.%d", addr>>24, addr>>16&255, addr>>8&255, addr&255) + port, nil
}

func ipv4Number(s string) (uint64, bool) {
	base := 10
	switch {
	case s == "":
		return 0, false
	case len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X"):
		s, base = s[2:], 16
		if s == "" {
			return 0, true
		}
	case len(s) >= 2 && s[0] == '0':
		s, base = s[1:], 8
	}
	n, err := strconv.ParseUint(s, base, 64)
	if err != nil || n > 1<<32 {
		return 0, false
	}
	return n, true
}

func parseEntityRefFilter(input any, args ...any) (any, error) {
	var ctx *ojson.Object
	if len(args) > 0 {
		ctx, _ = args[0].(*ojson.Object)
	}
	str := func(o *ojson.Object, k string) string {
		if o == nil {
			return ""
		}
		s, _ := o.Get(k)
		r, _ := s.(string)
		return r
	}
	if !truthy(fromJSON(input)) {
		return nil, fmt.Errorf("Entity reference must not be empty")
	}
	defKind := str(ctx, "defaultKind")
	defNS := str(ctx, "defaultNamespace")
	if defNS == "" {
		defNS = "default"
	}
	var kind, ns, name string
	switch t := input.(type) {
	case string:
		rest := t
		k, n := "", ""
		hasK, hasN := false, false
		if i := strings.IndexByte(rest, ':'); i >= 0 {
			k, rest, hasK = rest[:i], rest[i+1:], true
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			n, rest, hasN = rest[:i], rest[i+1:], true
		}
		kind, ns, name = defKind, defNS, rest
		if hasK {
			kind = k
		}
		if hasN {
			ns = n
		}
	case *ojson.Object:
		kind, ns, name = str(t, "kind"), str(t, "namespace"), str(t, "name")
		if !t.Has("kind") {
			kind = defKind
		}
		if !t.Has("namespace") {
			ns = defNS
		}
	}
	textual, _ := ojson.Marshal(input)
	switch {
	case kind == "":
		return nil, fmt.Errorf("Entity reference %s had missing or empty kind (e.g. did not start with \"component:\" or similar)", textual)
	case ns == "":
		return nil, fmt.Errorf("Entity reference %s had missing or empty namespace", textual)
	case name == "":
		return nil, fmt.Errorf("Entity reference %s had missing or empty name", textual)
	}
	return ojson.NewObject("kind", kind, "namespace", ns, "name", name), nil
}

// pick is lodash.get(obj, path) with dotted and bracketed paths.
func pick(obj any, path any) any {
	var segs []string
	switch p := path.(type) {
	case string:
		for _, part := range strings.Split(strings.NewReplacer("[", ".", "]", "").Replace(p), ".") {
			if part != "" {
				segs = append(segs, strings.Trim(part, `"'`))
			}
		}
	case []any:
		for _, x := range p {
			segs = append(segs, text(fromJSON(x)))
		}
	default:
		segs = []string{text(fromJSON(path))}
	}
	cur := obj
	for _, s := range segs {
		switch t := cur.(type) {
		case *ojson.Object:
			v, ok := t.Get(s)
			if !ok {
				return ojson.Undefined
			}
			cur = v
		case []any:
			i, ok := arrayIndex(s, len(t))
			if !ok {
				return ojson.Undefined
			}
			cur = t[i]
		default:
			return ojson.Undefined
		}
	}
	return cur
}
