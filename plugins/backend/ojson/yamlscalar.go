package ojson

import (
	"encoding/base64"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The YAML 1.2 core schema as eemeli/yaml (Backstage's parser) implements
// it, with the "known tags" it also resolves when a node names them
// explicitly. Values come back as JavaScript would hold them; jsNumber
// keeps a number as a float64 until it is known whether it becomes a value
// (where NaN and infinities serialise as null) or a key.
type jsNumber float64

// The tests of the core schema's tags, in eemeli/yaml's order, written
// out by hand (plain scalars are most of a catalog file): null
// ^(?:~|[Nn]ull|NULL)?$, bool ^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$, int
// ^0o[0-7]+$, ^[-+]?[0-9]+$ and ^0x[0-9a-fA-F]+$, float
// ^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$,
// ^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$ and
// ^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$.
var timestampRe = regexp.MustCompile(`^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:(?:t|T|[ \t]+)([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2}(\.[0-9]+)?)(?:[ \t]*(Z|[-+][012]?[0-9](?::[0-9]{2})?))?)?$`)

func isCoreNull(s string) bool {
	switch s {
	case "", "~", "null", "Null", "NULL":
		return true
	}
	return false
}

func isCoreBool(s string) bool {
	switch s {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return true
	}
	return false
}

// digits counts the characters of s from i on that ok accepts.
func digits(s string, i int, ok func(byte) bool) int {
	n := 0
	for i+n < len(s) && ok(s[i+n]) {
		n++
	}
	return n
}

func isDec(c byte) bool { return c >= '0' && c <= '9' }
func isOct(c byte) bool { return c >= '0' && c <= '7' }
func isHex(c byte) bool { return isDec(c) || (c|0x20) >= 'a' && (c|0x20) <= 'f' }

func sign(s string) int {
	if len(s) > 0 && (s[0] == '-' || s[0] == '+') {
		return 1
	}
	return 0
}

// isCoreFloat matches the exponent and the decimal float tests.
func isCoreFloat(s string) bool {
	i := sign(s)
	intDigits := digits(s, i, isDec)
	i += intDigits
	frac := -1 // no point
	if i < len(s) && s[i] == '.' {
		frac = digits(s, i+1, isDec)
		i += 1 + frac
	}
	if intDigits == 0 && frac <= 0 {
		return false
	}
	if i == len(s) {
		return frac >= 0
	}
	if s[i] != 'e' && s[i] != 'E' {
		return false
	}
	i++
	i += sign(s[i:])
	exp := digits(s, i, isDec)
	return exp > 0 && i+exp == len(s)
}

// resolvePlain resolves an untagged plain scalar.
func resolvePlain(s string) any {
	if s == "" {
		return nil
	}
	// Only these can start a null, a boolean or a number.
	switch c := s[0]; {
	case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == '~', c == 'n', c == 'N', c == 't', c == 'T', c == 'f', c == 'F':
	default:
		return s
	}
	if v, ok := resolveNull(s); ok {
		return v
	}
	if v, ok := resolveBool(s); ok {
		return v
	}
	if v, ok := resolveInt(s); ok {
		return v
	}
	if v, ok := resolveFloat(s); ok {
		return v
	}
	return s
}

func resolveNull(s string) (any, bool) { return nil, isCoreNull(s) }

func resolveBool(s string) (any, bool) {
	if !isCoreBool(s) {
		return nil, false
	}
	return s[0] == 't' || s[0] == 'T', true
}

// resolveInt follows the schema's order: octal, decimal, hexadecimal.
func resolveInt(s string) (any, bool) {
	switch {
	case len(s) > 2 && s[:2] == "0o" && digits(s, 2, isOct) == len(s)-2:
		return parseRadix(s[2:], 8), true
	case len(s) > sign(s) && digits(s, sign(s), isDec) == len(s)-sign(s):
		// parseInt(s, 10): the nearest double, keeping the sign of zero.
		f, _ := strconv.ParseFloat(s, 64)
		return jsNumber(f), true
	case len(s) > 2 && s[:2] == "0x" && digits(s, 2, isHex) == len(s)-2:
		return parseRadix(s[2:], 16), true
	}
	return nil, false
}

func parseRadix(digits string, base int) jsNumber {
	if u, err := strconv.ParseUint(digits, base, 53); err == nil {
		return jsNumber(u)
	}
	n, _ := new(big.Int).SetString(digits, base)
	f, _ := new(big.Float).SetInt(n).Float64()
	return jsNumber(f)
}

func resolveFloat(s string) (any, bool) {
	switch s {
	case ".nan", ".NaN", ".NAN":
		return jsNumber(math.NaN()), true
	case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF":
		return jsNumber(math.Inf(1)), true
	case "-.inf", "-.Inf", "-.INF":
		return jsNumber(math.Inf(-1)), true
	}
	switch {
	case isCoreFloat(s):
		// parseFloat: out of range gives ±Infinity or 0, as ParseFloat does.
		f, _ := strconv.ParseFloat(s, 64)
		return jsNumber(f), true
	}
	return nil, false
}

// resolveTagged resolves a scalar with an explicit tag the way
// eemeli/yaml's findScalarTagByName does: a core tag applies when its test
// matches (otherwise the value stays a string, with a warning Backstage
// ignores); !!binary and !!timestamp always apply; any other tag leaves a
// string. A timestamp that does not parse is an error.
func resolveTagged(tag, s string) (any, string) {
	switch tag {
	case "!!null":
		if v, ok := resolveNull(s); ok {
			return v, ""
		}
	case "!!bool":
		if v, ok := resolveBool(s); ok {
			return v, ""
		}
	case "!!int":
		if v, ok := resolveInt(s); ok {
			return v, ""
		}
	case "!!float":
		if v, ok := resolveFloat(s); ok {
			return v, ""
		}
	case "!!binary":
		return nodeBuffer(decodeBase64(s)), ""
	case "!!timestamp":
		t, ok := parseTimestamp(s)
		if !ok {
			return s, msgBadTimestamp
		}
		return t, ""
	}
	return s, ""
}

// decodeBase64 decodes like Node's Buffer.from(s, 'base64'): characters
// outside the alphabet are skipped and padding is optional.
func decodeBase64(s string) []byte {
	var clean strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			clean.WriteByte(c)
		case c == '-':
			clean.WriteByte('+')
		case c == '_':
			clean.WriteByte('/')
		case c == '=':
			i = len(s) // data ends at the first padding character
		}
	}
	t := clean.String()
	if len(t)%4 == 1 {
		t = t[:len(t)-1]
	}
	b, _ := base64.RawStdEncoding.DecodeString(t)
	return b
}

// nodeBuffer is how JSON.stringify writes a Node Buffer.
func nodeBuffer(b []byte) *Object {
	data := make([]any, len(b))
	for i, c := range b {
		data[i] = Number(strconv.Itoa(int(c)))
	}
	return &Object{Members: []Member{{"type", "Buffer"}, {"data", data}}}
}

// parseTimestamp turns a YAML timestamp into the string JSON.stringify
// writes for the JavaScript Date eemeli/yaml makes of it.
func parseTimestamp(s string) (any, bool) {
	m := timestampRe.FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	num := func(i int) int {
		// Number(part), truncated by Date.UTC.
		f, _ := strconv.ParseFloat(m[i], 64)
		return int(f)
	}
	year := num(1)
	if year < 100 {
		year += 1900 // Date.UTC treats years 0 to 99 as 1900 to 1999
	}
	ms := 0
	if m[7] != "" {
		ms, _ = strconv.Atoi((m[7] + "00")[1:4])
	}
	t := time.Date(year, time.Month(num(2)), num(3), num(4), num(5), num(6), ms*int(time.Millisecond), time.UTC)
	if tz := m[8]; tz != "" && tz != "Z" {
		d := parseSexagesimal(tz)
		if math.Abs(d) < 30 {
			d *= 60
		}
		t = t.Add(-time.Duration(d) * time.Minute)
	}
	// Date's range is ±8.64e15 ms around 1970; beyond it the date is
	// invalid and serialises as null.
	if ms := t.UnixMilli(); ms > 8.64e15 || ms < -8.64e15 {
		return nil, true
	}
	return dateISOString(t), true
}

func parseSexagesimal(s string) float64 {
	sign := 1.0
	if s[0] == '-' || s[0] == '+' {
		if s[0] == '-' {
			sign = -1
		}
		s = s[1:]
	}
	res := 0.0
	for _, p := range strings.Split(strings.ReplaceAll(s, "_", ""), ":") {
		f, _ := strconv.ParseFloat(p, 64)
		res = res*60 + f
	}
	return sign * res
}

// dateISOString is Date.prototype.toISOString.
func dateISOString(t time.Time) string {
	y := t.Year()
	var year string
	switch {
	case y >= 0 && y <= 9999:
		year = strconv.Itoa(y)
		year = strings.Repeat("0", 4-len(year)) + year
	case y < 0:
		year = strconv.Itoa(-y)
		year = "-" + strings.Repeat("0", 6-len(year)) + year
	default:
		year = strconv.Itoa(y)
		year = "+" + strings.Repeat("0", 6-len(year)) + year
	}
	return year + t.Format("-01-02T15:04:05.000Z")
}

// jsValue turns a resolved number into its JSON form.
func jsValue(v any) any {
	if n, ok := v.(jsNumber); ok {
		return NumberFromFloat(float64(n))
	}
	return v
}

// jsKey is String(value): how a scalar key becomes an object key.
func jsKey(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case jsNumber:
		return string(NumberFromFloat(float64(t)))
	}
	b, _ := Marshal(v)
	return string(b)
}
