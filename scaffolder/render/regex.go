package render

import (
	"strings"
	"time"

	"github.com/dlclark/regexp2"
)

// regexBudget bounds the time all regular-expression matches of one render
// may take: template authors can write patterns that backtrack
// catastrophically, and JavaScript's engine would never stop.
const regexBudget = 2 * time.Second

// newJSRegex compiles a JavaScript regular expression (r/source/flags) with
// a JavaScript-compatible engine: lookaround and backreferences work as in
// Node, which RE2 cannot do.
func newJSRegex(source, flags string) (*regexp2.Regexp, error) {
	opts := regexp2.RegexOptions(regexp2.ECMAScript)
	for _, f := range flags {
		switch f {
		case 'i':
			opts |= regexp2.IgnoreCase
		case 'm':
			opts |= regexp2.Multiline
		}
	}
	re, err := regexp2.Compile(source, opts)
	if err != nil {
		return nil, err
	}
	re.MatchTimeout = regexBudget
	return re, nil
}

func (in *interp) compileRegex(source, flags string) (*regex, error) {
	re, err := newJSRegex(source, flags)
	if err != nil {
		return nil, errorf("Invalid regular expression: /%s/%s", source, flags)
	}
	if in.regexDeadline.IsZero() {
		in.regexDeadline = time.Now().Add(regexBudget)
	}
	return &regex{source: source, flags: flags, re: re, deadline: &in.regexDeadline}, nil
}

// findAll returns every match of r in s as byte offsets: [start, end,
// group1start, group1end, ...], -1 for groups that did not take part.
func (r *regex) findAll(s string) ([][]int, error) {
	// regexp2 reports rune indexes; map them back to byte offsets.
	offs := make([]int, 0, len(s)+1)
	for i := range s {
		offs = append(offs, i)
	}
	offs = append(offs, len(s))
	if r.deadline != nil {
		left := time.Until(*r.deadline)
		if left <= 0 {
			return nil, errorf("Regular-expression evaluation exceeded its time budget")
		}
		r.re.MatchTimeout = left
	}
	var out [][]int
	m, err := r.re.FindStringMatch(s)
	for ; m != nil && err == nil; m, err = r.re.FindNextMatch(m) {
		gs := m.Groups()
		idx := make([]int, 0, 2*len(gs))
		for _, g := range gs {
			if len(g.Captures) == 0 {
				idx = append(idx, -1, -1)
				continue
			}
			idx = append(idx, offs[g.Index], offs[g.Index+g.Length])
		}
		out = append(out, idx)
		if len(out) > len(s)+1 {
			break
		}
	}
	if err != nil {
		// regexp2 fails only when the match ran out of time.
		return nil, errorf("Regular-expression evaluation exceeded its time budget")
	}
	return out, nil
}

func regexReplace(s string, r *regex, repl string) (string, error) {
	global := strings.Contains(r.flags, "g")
	matches, err := r.findAll(s)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	last := 0
	for i, m := range matches {
		if !global && i > 0 {
			break
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(jsReplaceTemplate(repl, s, m))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String(), nil
}

func regexSplit(s string, re *regex) ([]string, error) {
	ms, err := re.findAll(s)
	if err != nil {
		return nil, err
	}
	var out []string
	last := 0
	for _, m := range ms {
		if m[1] == m[0] && (m[0] == 0 || m[0] >= len(s)) {
			continue
		}
		out = append(out, s[last:m[0]])
		for g := 1; g < len(m)/2; g++ {
			if m[2*g] >= 0 {
				out = append(out, s[m[2*g]:m[2*g+1]])
			} else {
				out = append(out, "")
			}
		}
		last = m[1]
	}
	return append(out, s[last:]), nil
}
