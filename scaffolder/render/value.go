package render

import (
	"github.com/dlclark/regexp2"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/understage/understage/plugins/backend/ojson"
)

// Runtime values. The interpreter works on a closed set of JavaScript-like
// values so that every operator can follow JavaScript semantics exactly:
//
//	ojson.UndefinedType  JavaScript undefined (ojson.Undefined)
//	nil         null
//	bool, float64, string
//	safeString  output of escape/safe (never escaped again)
//	*array      arrays (a pointer: push/pop mutate in place, as in JavaScript)
//	*ojson.Object records whose member values are runtime values
//	*regex      r/.../flags literals
//	callable    macros, globals, bound methods, cycler/joiner

type safeString string

type array struct{ items []any }

type regex struct {
	source, flags string
	re            *regexp2.Regexp
	// deadline is the render's regex time budget (see interp.regexDeadline).
	deadline *time.Time
}

type callable struct {
	name string
	// macro marks macros and callers, the only targets of {% call %}.
	macro bool
	// builtin marks the interpreter's own callables (range, methods,
	// cycler, joiner), which take no keyword arguments.
	builtin bool
	fn      func(in *interp, args []any, kw *ojson.Object) (any, error)
}

func isUndef(v any) bool { _, ok := v.(ojson.UndefinedType); return ok }

func isNullish(v any) bool { return v == nil || isUndef(v) }

// fromJSON converts a decoded JSON/ojson value into runtime values.
func fromJSON(v any) any {
	switch t := v.(type) {
	case nil, bool, string, float64:
		return t
	case ojson.UndefinedType:
		return t
	case ojson.Number:
		return t.Float()
	case int:
		return float64(t)
	case int64:
		return float64(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = fromJSON(e)
		}
		return &array{items: out}
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return &array{items: out}
	case *ojson.Object:
		if t == nil {
			return nil
		}
		o := &ojson.Object{Members: make([]ojson.Member, 0, len(t.Members))}
		for _, m := range t.Members {
			o.Members = append(o.Members, ojson.Member{Key: m.Key, Value: fromJSON(m.Value)})
		}
		jsKeyOrder(o.Members)
		return o
	case map[string]any:
		return fromJSON(ojson.FromGo(t))
	default:
		if n, ok := ojson.FromGo(v).(ojson.Number); ok {
			return n.Float()
		}
		return ojson.Undefined
	}
}

// toJSON converts a runtime value into an ojson value (numbers as
// ojson.Number, objects as *ojson.Object). ojson.Undefined members of records are
// dropped and undefined array items become null, as JSON.stringify does.
func toJSON(v any) (any, error) {
	switch t := v.(type) {
	case nil, bool, string:
		return t, nil
	case ojson.UndefinedType:
		return ojson.Undefined, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			return nil, nil
		}
		if t == 0 {
			t = 0 // JSON has no -0
		}
		return ojson.NumberFromFloat(t), nil
	case safeString:
		return string(t), nil
	case *array:
		out := make([]any, len(t.items))
		for i, e := range t.items {
			j, err := toJSON(e)
			if err != nil {
				return nil, err
			}
			if isUndef(j) {
				j = nil
			}
			out[i] = j
		}
		return out, nil
	case *ojson.Object:
		o := &ojson.Object{}
		for _, m := range t.Members {
			j, err := toJSON(m.Value)
			if err != nil {
				return nil, err
			}
			if isUndef(j) {
				continue
			}
			o.Members = append(o.Members, ojson.Member{Key: m.Key, Value: j})
		}
		jsKeyOrder(o.Members)
		return o, nil
	case *regex:
		// nunjitsu hands regexes out as their /source/flags text.
		return "/" + t.source + "/" + t.flags, nil
	case *callable:
		return nil, errorf("Callable values cannot be coerced")
	}
	return nil, nil
}

// jsKeyOrder orders members as JavaScript enumerates an object's own
// properties: array-index keys first in ascending numeric order, then the
// other keys in insertion order.
func jsKeyOrder(ms []ojson.Member) {
	idx := func(k string) (uint64, bool) {
		if k == "" || len(k) > 10 || (k[0] == '0' && len(k) > 1) {
			return 0, false
		}
		n, err := strconv.ParseUint(k, 10, 64)
		return n, err == nil && n < 1<<32-1
	}
	any := false
	for _, m := range ms {
		if _, ok := idx(m.Key); ok {
			any = true
			break
		}
	}
	if !any {
		return
	}
	sort.SliceStable(ms, func(i, j int) bool {
		a, aok := idx(ms[i].Key)
		b, bok := idx(ms[j].Key)
		if aok && bok {
			return a < b
		}
		return aok && !bok
	})
}

func truthy(v any) bool {
	switch t := v.(type) {
	case nil, ojson.UndefinedType:
		return false
	case bool:
		return t
	case float64:
		return t != 0 && !math.IsNaN(t)
	case string:
		return t != ""
	}
	return true
}

// numberString formats a number as JavaScript's String(n) does.
func numberString(f float64) string { return string(ojson.NumberFromFloat(f)) }

// toPrimitive mirrors JavaScript ToPrimitive for the closed value set.
func toPrimitive(v any) (any, error) {
	switch t := v.(type) {
	case nil, ojson.UndefinedType, bool, float64, string:
		return t, nil
	case safeString:
		return string(t), nil
	case *array:
		parts := make([]string, len(t.items))
		for i, e := range t.items {
			if isNullish(e) {
				continue
			}
			s, err := toStr(e)
			if err != nil {
				return nil, err
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case *ojson.Object:
		return "[object Object]", nil
	case *regex:
		return "/" + t.source + "/" + t.flags, nil
	case *callable:
		return nil, errorf("Callable values cannot be coerced")
	}
	return nil, nil
}

func primString(p any) string {
	switch t := p.(type) {
	case ojson.UndefinedType:
		return "undefined"
	case nil:
		return "null"
	case bool:
		if t {
			return "true"
		}
		return "false"
	case float64:
		return numberString(t)
	case string:
		return t
	}
	return ""
}

// toStr is JavaScript String(v).
func toStr(v any) (string, error) {
	p, err := toPrimitive(v)
	if err != nil {
		return "", err
	}
	return primString(p), nil
}

// display renders a value into template output (null/undefined → "").
func display(v any) (string, error) {
	if isNullish(v) {
		return "", nil
	}
	if _, ok := v.(*callable); ok {
		return "", errorf("Callable values cannot be coerced")
	}
	return toStr(v)
}

// text is the string form filters work on (nullish → "").
func text(v any) string {
	s, err := display(v)
	if err != nil {
		return ""
	}
	return s
}

func strToNumber(s string) float64 {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0
	}
	switch s {
	case "Infinity", "+Infinity":
		return math.Inf(1)
	case "-Infinity":
		return math.Inf(-1)
	}
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X' || s[1] == 'o' || s[1] == 'O' || s[1] == 'b' || s[1] == 'B') {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]
		n, err := strconv.ParseUint(s[2:], base, 64)
		if err != nil {
			return math.NaN()
		}
		return float64(n)
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '.' || r == 'e' || r == 'E' || r == '+' || r == '-') {
			return math.NaN()
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return f
		}
		return math.NaN()
	}
	return f
}

func toNumber(v any) (float64, error) {
	p, err := toPrimitive(v)
	if err != nil {
		return 0, err
	}
	switch t := p.(type) {
	case ojson.UndefinedType:
		return math.NaN(), nil
	case nil:
		return 0, nil
	case bool:
		if t {
			return 1, nil
		}
		return 0, nil
	case float64:
		return t, nil
	case string:
		return strToNumber(t), nil
	}
	return math.NaN(), nil
}

func num(v any) float64 { f, _ := toNumber(v); return f }

func isPrimitive(v any) bool {
	switch v.(type) {
	case nil, ojson.UndefinedType, bool, float64, string:
		return true
	}
	return false
}

func strictEqual(a, b any) bool {
	switch x := a.(type) {
	case *array, *ojson.Object, *regex, *callable:
		return a == b
	case safeString:
		// SafeString instances are objects in JavaScript; identity only.
		return false
	case float64:
		y, ok := b.(float64)
		return ok && x == y
	}
	if !isPrimitive(b) {
		return false
	}
	return a == b
}

func looseEqual(a, b any) bool {
	if strictEqual(a, b) {
		return true
	}
	ap, bp := isPrimitive(a), isPrimitive(b)
	if !ap && !bp {
		return false
	}
	if !ap {
		a, _ = toPrimitive(a)
	}
	if !bp {
		b, _ = toPrimitive(b)
	}
	return primLooseEqual(a, b)
}

func primLooseEqual(a, b any) bool {
	if strictEqual(a, b) {
		return true
	}
	if isNullish(a) || isNullish(b) {
		return isNullish(a) && isNullish(b)
	}
	if ab, ok := a.(bool); ok {
		return primLooseEqual(boolNum(ab), b)
	}
	if bb, ok := b.(bool); ok {
		return primLooseEqual(a, boolNum(bb))
	}
	switch x := a.(type) {
	case float64:
		if s, ok := b.(string); ok {
			return x == strToNumber(s)
		}
	case string:
		if y, ok := b.(float64); ok {
			return strToNumber(x) == y
		}
	}
	return false
}

func boolNum(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// jsLess compares strings by UTF-16 code units, as JavaScript does.
func jsLess(a, b string) bool {
	if isASCII(a) && isASCII(b) {
		return a < b
	}
	x, y := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	for i := 0; i < len(x) && i < len(y); i++ {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return len(x) < len(y)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// order returns -1/0/1, or 2 when unordered (NaN).
func order(a, b any) (int, error) {
	ap, err := toPrimitive(a)
	if err != nil {
		return 0, err
	}
	bp, err := toPrimitive(b)
	if err != nil {
		return 0, err
	}
	as, aok := ap.(string)
	bs, bok := bp.(string)
	if aok && bok {
		switch {
		case jsLess(as, bs):
			return -1, nil
		case as == bs:
			return 0, nil
		}
		return 1, nil
	}
	x, _ := toNumber(ap)
	y, _ := toNumber(bp)
	switch {
	case x < y:
		return -1, nil
	case x > y:
		return 1, nil
	case x == y:
		return 0, nil
	}
	return 2, nil
}

func add(a, b any) (any, error) {
	ap, err := toPrimitive(a)
	if err != nil {
		return nil, err
	}
	bp, err := toPrimitive(b)
	if err != nil {
		return nil, err
	}
	_, as := ap.(string)
	_, bs := bp.(string)
	if as || bs {
		return primString(ap) + primString(bp), nil
	}
	x, _ := toNumber(ap)
	y, _ := toNumber(bp)
	return x + y, nil
}

// utf16Len is JavaScript's string length.
func utf16Len(s string) int {
	if isASCII(s) {
		return len(s)
	}
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func units(s string) []uint16 { return utf16.Encode([]rune(s)) }

func fromUnits(u []uint16) string { return string(utf16.Decode(u)) }
