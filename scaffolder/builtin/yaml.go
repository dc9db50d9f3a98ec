package builtin

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// toYAML renders an ojson value the way the `yaml` npm package's
// stringify does with its defaults (what catalog:write uses): two-space
// indents, indented sequences, plain scalars unless they would read back as
// something else, double quotes (single when the text has only double
// quotes), literal blocks for multi-line text and plain scalars folded at
// 80 columns.
func toYAML(v any) string {
	var sb strings.Builder
	switch t := v.(type) {
	case *ojson.Object:
		if t.Len() == 0 {
			return "{}\n"
		}
		writeMap(&sb, t, "")
	case []any:
		if len(t) == 0 {
			return "[]\n"
		}
		writeSeq(&sb, t, "")
	default:
		sb.WriteString(yamlScalar(v, "", false, -1))
		sb.WriteString("\n")
	}
	return sb.String()
}

func writeMap(sb *strings.Builder, o *ojson.Object, indent string) {
	for i, k := range o.Keys() {
		if i > 0 {
			sb.WriteString(indent)
		}
		v, _ := o.Get(k)
		ks := yamlString(k, indent, true, -1)
		sb.WriteString(ks)
		sb.WriteString(":")
		writeValue(sb, v, indent, len(ks)+2)
	}
}

func writeSeq(sb *strings.Builder, a []any, indent string) {
	for i, v := range a {
		if i > 0 {
			sb.WriteString(indent)
		}
		sb.WriteString("-")
		writeValue(sb, v, indent, -1)
	}
}

// writeValue writes what follows "key:" (atStart is then the width of
// "key: ", which the yaml package counts for folding) or "-" (atStart -1),
// including the newline.
func writeValue(sb *strings.Builder, v any, indent string, atStart int) {
	child := indent + "  "
	inMap := atStart >= 0
	switch t := v.(type) {
	case *ojson.Object:
		if t.Len() == 0 {
			sb.WriteString(" {}\n")
			return
		}
		if inMap {
			sb.WriteString("\n" + child)
		} else {
			sb.WriteString(" ")
		}
		writeMap(sb, t, child)
	case []any:
		if len(t) == 0 {
			sb.WriteString(" []\n")
			return
		}
		if inMap {
			sb.WriteString("\n" + child)
		} else {
			sb.WriteString(" ")
		}
		writeSeq(sb, t, child)
	default:
		sb.WriteString(" ")
		sb.WriteString(yamlScalar(v, child, false, atStart))
		sb.WriteString("\n")
	}
}

func yamlScalar(v any, indent string, key bool, atStart int) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case bool:
		if t {
			return "true"
		}
		return "false"
	case ojson.Number:
		return jsNumber(t.Float())
	case float64:
		return jsNumber(t)
	case int:
		return strconv.Itoa(t)
	case string:
		return yamlString(t, indent, key, atStart)
	}
	return yamlString(fmt.Sprint(v), indent, key, atStart)
}

func jsNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	a := math.Abs(f)
	if a != 0 && (a < 1e-6 || a >= 1e21) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		return strings.Replace(s, "e+0", "e+", 1)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

var (
	yamlNotPlain   = regexp.MustCompile(`^[\n\t ,\[\]{}#&*!|>'"%@` + "`" + `]|^[?-]$|^[?-][ \t]|[\n:][ \t]|[ \t]\n|[\n\t ]#|[\n\t :]$`)
	yamlDocMarker  = regexp.MustCompile(`(?m)^(%|---|\.\.\.)`)
	yamlOtherTypes = []*regexp.Regexp{
		regexp.MustCompile(`^(?:~|[Nn]ull|NULL)?$`),
		regexp.MustCompile(`^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$`),
		regexp.MustCompile(`^0o[0-7]+$`),
		regexp.MustCompile(`^[-+]?[0-9]+$`),
		regexp.MustCompile(`^0x[0-9a-fA-F]+$`),
		regexp.MustCompile(`^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$`),
		regexp.MustCompile(`^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$`),
		regexp.MustCompile(`^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$`),
	}
)

func yamlString(s, indent string, key bool, atStart int) string {
	// Keys are never folded; values are, quoted or plain.
	fold := func(out string) string {
		if key {
			return out
		}
		return foldLines(out, indent, atStart)
	}
	if s == "" {
		return `""`
	}
	if key && strings.Contains(s, "\n") {
		return quoted(s)
	}
	if yamlNotPlain.MatchString(s) {
		if key || !strings.Contains(s, "\n") {
			return fold(quoted(s))
		}
		return literal(s, indent)
	}
	if !key && strings.Contains(s, "\n") {
		return literal(s, indent)
	}
	if yamlDocMarker.MatchString(s) {
		return fold(quoted(s))
	}
	for _, re := range yamlOtherTypes {
		if re.MatchString(s) {
			return fold(quoted(s))
		}
	}
	return fold(s)
}

func quoted(s string) string {
	hasDouble, hasSingle := strings.Contains(s, `"`), strings.Contains(s, "'")
	if hasDouble && !hasSingle {
		return "'" + s + "'"
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			sb.WriteString(`\"`)
		case '\\':
			sb.WriteString(`\\`)
		case '\n':
			sb.WriteString(`\n`)
		case '\r':
			sb.WriteString(`\r`)
		case '\t':
			sb.WriteString(`\t`)
		case '\b':
			sb.WriteString(`\b`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(&sb, `\x%02x`, r)
			} else {
				sb.WriteRune(r)
			}
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// literal is a "|" block scalar with the chomping that keeps s exact.
func literal(s, indent string) string {
	header := "|"
	if strings.HasPrefix(s, " ") || strings.HasPrefix(s, "\n") {
		header += "2"
	}
	body := s
	switch {
	case strings.HasSuffix(s, "\n\n") || s == "\n":
		header += "+"
		body = strings.TrimSuffix(s, "\n")
	case strings.HasSuffix(s, "\n"):
		body = strings.TrimSuffix(s, "\n")
	default:
		header += "-"
	}
	var sb strings.Builder
	sb.WriteString(header)
	for _, line := range strings.Split(body, "\n") {
		sb.WriteString("\n")
		if line != "" {
			sb.WriteString(indent + line)
		}
	}
	return sb.String()
}

// foldLines folds a flow scalar at single spaces between words so that
// lines fit in 80 columns, counting the first line from after "key: "
// (atStart; -1 for sequence items), as the yaml package does.
func foldLines(s, indent string, atStart int) string {
	const lineWidth, minContent = 80, 20
	step := max(1+minContent, 1+lineWidth-len(indent))
	if len(s) <= step {
		return s
	}
	end := lineWidth - len(indent)
	var folds []int
	if atStart >= 0 {
		if atStart > lineWidth-max(2, minContent) {
			folds = append(folds, 0)
		} else {
			end = lineWidth - atStart
		}
	}
	split := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ' ' && i > 0 && s[i-1] != ' ' && s[i-1] != '\t' && i+1 < len(s) && s[i+1] != ' ' && s[i+1] != '\t' {
			split = i
		}
		if i >= end && split > 0 {
			folds = append(folds, split)
			end = split + step
			split = -1
		}
	}
	if len(folds) == 0 {
		return s
	}
	var sb strings.Builder
	last := 0
	for _, f := range folds {
		if f == 0 {
			sb.WriteString("\n" + indent)
			continue
		}
		sb.WriteString(s[last:f])
		sb.WriteString("\n" + indent)
		last = f + 1
	}
	sb.WriteString(s[last:])
	return sb.String()
}
