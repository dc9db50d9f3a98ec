package conformance

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// Masks put in place of values that differ between two correct servers.
const (
	maskUID    = "<UID>"
	maskEtag   = "<ETAG>"
	maskCursor = "<CURSOR>"
	maskRoot   = "<ROOT>"
	maskUUID   = "<UUID>"
	maskTime   = "<TIME>"
	maskHash   = "generated-<HASH>"
)

var (
	uuidRe = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	// Location entities made for registered/config locations are named after
	// the sha1 of "<type>:<target>", and the target contains the corpus root.
	generatedRe = regexp.MustCompile(`generated-[0-9a-f]{40}`)
	timeRe      = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?`)
	// after= in Link headers and cursor= in echoed request URLs.
	cursorParamRe = regexp.MustCompile(`\b(after|cursor)=[^&>;"\s]+`)
)

// masker rewrites one side's values into the form both sides share.
type masker struct {
	root string
}

// value masks a decoded JSON value (returning a new value; key order is kept).
func (m masker) value(v any) any {
	switch t := v.(type) {
	case *ojson.Object:
		out := &ojson.Object{Members: make([]ojson.Member, 0, t.Len())}
		for _, mem := range t.Members {
			out.Members = append(out.Members, ojson.Member{Key: mem.Key, Value: m.member(mem.Key, mem.Value)})
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = m.value(e)
		}
		return out
	case string:
		return m.text(t)
	}
	return v
}

func (m masker) member(key string, v any) any {
	if _, isStr := v.(string); isStr {
		switch key {
		case "uid":
			return maskUID
		case "etag":
			return maskEtag
		case "nextCursor", "prevCursor":
			return maskCursor
		}
	}
	return m.value(v)
}

// text masks the varying parts of a string.
func (m masker) text(s string) string {
	if m.root != "" {
		for _, r := range []string{m.root, url.PathEscape(m.root), url.QueryEscape(m.root)} {
			s = strings.ReplaceAll(s, r, maskRoot)
		}
	}
	s = generatedRe.ReplaceAllString(s, maskHash)
	s = uuidRe.ReplaceAllString(s, maskUUID)
	s = timeRe.ReplaceAllString(s, maskTime)
	s = cursorParamRe.ReplaceAllStringFunc(s, func(p string) string {
		k, _, _ := strings.Cut(p, "=")
		return k + "=" + maskCursor
	})
	return s
}

// link masks a Link header: cursors and paths.
func (m masker) link(h string) string {
	if h == "" {
		return ""
	}
	return m.text(h)
}

// lineDiff renders a unified-style diff of two texts (longest common
// subsequence of lines), showing changed lines with two lines of context.
func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	const maxCells = 25_000_000 // beyond this, fall back to the first differing line
	if len(la)*len(lb) > maxCells {
		for i := 0; i < min(len(la), len(lb)); i++ {
			if la[i] != lb[i] {
				return fmt.Sprintf("line %d:\n- %s\n+ %s\n", i+1, la[i], lb[i])
			}
		}
		return fmt.Sprintf("oracle has %d lines, understage %d\n", len(la), len(lb))
	}
	// lcs[i][j] = LCS length of la[i:] and lb[j:].
	lcs := make([][]int32, len(la)+1)
	for i := range lcs {
		lcs[i] = make([]int32, len(lb)+1)
	}
	for i := len(la) - 1; i >= 0; i-- {
		for j := len(lb) - 1; j >= 0; j-- {
			if la[i] == lb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
	}
	var ops []line
	i, j := 0, 0
	for i < len(la) || j < len(lb) {
		switch {
		case i < len(la) && j < len(lb) && la[i] == lb[j]:
			ops = append(ops, line{' ', la[i]})
			i++
			j++
		case j < len(lb) && (i == len(la) || lcs[i][j+1] >= lcs[i+1][j]):
			ops = append(ops, line{'+', lb[j]})
			j++
		default:
			ops = append(ops, line{'-', la[i]})
			i++
		}
	}
	const context = 2
	var out strings.Builder
	lastPrinted := -1
	for k, op := range ops {
		if op.op == ' ' {
			continue
		}
		start := max(k-context, lastPrinted+1)
		if lastPrinted >= 0 && start > lastPrinted+1 {
			out.WriteString("  ...\n")
		}
		for c := start; c < k; c++ {
			fmt.Fprintf(&out, "  %s\n", ops[c].text)
		}
		fmt.Fprintf(&out, "%c %s\n", op.op, op.text)
		lastPrinted = k
		// trailing context is printed by the loop below when no change follows soon
		end := k + 1
		for end < len(ops) && end <= k+context && ops[end].op == ' ' {
			end++
		}
		if end < len(ops) && ops[end].op != ' ' {
			for c := k + 1; c < end; c++ {
				fmt.Fprintf(&out, "  %s\n", ops[c].text)
			}
			lastPrinted = end - 1
			continue
		}
		for c := k + 1; c < end; c++ {
			fmt.Fprintf(&out, "  %s\n", ops[c].text)
			lastPrinted = c
		}
	}
	return out.String()
}
