// Package glob is understage's one path-pattern matcher. Backstage matches
// patterns with minimatch in some places (catalog rules, CORS origins, the
// GitHub reader) and globby/fast-glob in others (the scaffolder's file
// actions), with different options at each site; Options names those
// options so every caller shares this one engine and states its flavour.
//
// A pattern is brace-expanded ({a,b}), then split at "/" into segments. A
// segment that is exactly "**" (unless NoGlobstar) matches any number of
// whole path segments; in other segments "*" is any run of characters
// within the segment, "?" one character, "[...]" a class ("[!...]" or
// "[^...]" negated, an unclosed "[" is literal) and "\" escapes the next
// character. Matching is linear in pattern segments × path segments, so a
// hostile pattern cannot make it backtrack exponentially.
package glob

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Options select the flavour of a pattern; the zero value is minimatch's
// defaults.
type Options struct {
	// NoCase matches letters case-insensitively (minimatch nocase).
	NoCase bool
	// Dot lets wildcards match a segment that starts with "." (minimatch
	// and fast-glob dot). Without it such a segment only matches a pattern
	// segment that starts with a literal ".".
	Dot bool
	// NoGlobstar makes "**" an ordinary "*" (minimatch noglobstar).
	NoGlobstar bool
	// NoBrace leaves "{a,b}" literal (minimatch nobrace).
	NoBrace bool
	// ChildrenGlobstar makes a trailing "**" match one or more segments, as
	// fast-glob does when it walks a tree: "a/**" lists what is under a,
	// not a itself. Without it a trailing "**" may match nothing, so "a/**"
	// also matches "a" (minimatch).
	ChildrenGlobstar bool
}

// maxAlternatives bounds brace expansion: "{a,b}" repeated n times expands
// to 2^n patterns.
const maxAlternatives = 1024

// Pattern is a compiled pattern.
type Pattern struct {
	alts [][]segment
	opts Options
}

type segment struct {
	globstar bool
	literal  string         // when re is nil
	re       *regexp.Regexp // for segments with wildcards
	dotLead  bool           // the segment starts with a literal "."
}

// Compile compiles pattern under o. It fails only when brace expansion
// would exceed maxAlternatives patterns.
func Compile(pattern string, o Options) (*Pattern, error) {
	alts := []string{pattern}
	if !o.NoBrace {
		alts = expandBraces(pattern, maxAlternatives)
		if alts == nil {
			return nil, fmt.Errorf("glob %q: more than %d brace alternatives", pattern, maxAlternatives)
		}
	}
	p := &Pattern{opts: o}
	for _, a := range alts {
		p.alts = append(p.alts, compileSegments(a, o))
	}
	return p, nil
}

// Match reports whether name matches pattern under o; a pattern that does
// not compile matches nothing. Callers matching many names compile once.
func Match(pattern, name string, o Options) bool {
	p, err := Compile(pattern, o)
	return err == nil && p.Match(name)
}

// HasMeta reports whether p holds glob syntax (a wildcard, a class or a
// brace group), that is whether it names more than itself.
func HasMeta(p string) bool { return strings.ContainsAny(p, "*?[{") }

// Match reports whether name matches p.
func (p *Pattern) Match(name string) bool {
	segs := strings.Split(name, "/")
	for _, a := range p.alts {
		if p.run(a, segs, true) {
			return true
		}
	}
	return false
}

// CouldContain reports whether some path below dir could match p, so that a
// walk may skip dir when it is false.
func (p *Pattern) CouldContain(dir string) bool {
	segs := strings.Split(dir, "/")
	for _, a := range p.alts {
		if p.run(a, segs, false) {
			return true
		}
	}
	return false
}

// run advances the set of pattern positions reachable after each name
// segment. With full it reports whether the whole pattern is consumed at
// the end; otherwise whether a position remains from which more segments
// could still match.
func (p *Pattern) run(pat []segment, segs []string, full bool) bool {
	cur := make([]bool, len(pat)+1)
	next := make([]bool, len(pat)+1)
	cur[0] = true
	closeGlobstars(pat, cur)
	for _, s := range segs {
		clear(next)
		moved := false
		for i, ok := range cur {
			if !ok || i == len(pat) {
				continue
			}
			seg := pat[i]
			if seg.globstar {
				// ** never takes a "." or ".." segment, and takes a
				// dot segment only with Dot, as in minimatch.
				if s != "." && s != ".." && (p.opts.Dot || !strings.HasPrefix(s, ".")) {
					next[i], moved = true, true
				}
				continue
			}
			if p.segMatch(seg, s) {
				next[i+1], moved = true, true
			}
		}
		if !moved {
			return false
		}
		cur, next = next, cur
		closeGlobstars(pat, cur)
	}
	if full {
		return cur[len(pat)]
	}
	return slices.Contains(cur[:len(pat)], true)
}

// closeGlobstars marks the positions after globstars reachable by letting
// each match zero segments.
func closeGlobstars(pat []segment, set []bool) {
	for i, seg := range pat {
		if set[i] && seg.globstar {
			set[i+1] = true
		}
	}
}

func (p *Pattern) segMatch(seg segment, s string) bool {
	if seg.re == nil {
		if p.opts.NoCase {
			return strings.EqualFold(seg.literal, s)
		}
		return seg.literal == s
	}
	if strings.HasPrefix(s, ".") && !seg.dotLead && !p.opts.Dot {
		return false
	}
	return seg.re.MatchString(s)
}

func compileSegments(pattern string, o Options) []segment {
	parts := strings.Split(pattern, "/")
	out := make([]segment, 0, len(parts))
	for i, part := range parts {
		if part == "**" && !o.NoGlobstar {
			// Consecutive globstars are one.
			if i > 0 && len(out) > 0 && out[len(out)-1].globstar {
				continue
			}
			if o.ChildrenGlobstar && i == len(parts)-1 {
				// One segment of any name, then any number more.
				out = append(out, compileSegment("*", o))
			}
			out = append(out, segment{globstar: true})
			continue
		}
		out = append(out, compileSegment(part, o))
	}
	return out
}

func compileSegment(part string, o Options) segment {
	var b strings.Builder
	var lit strings.Builder
	wild := false
	for i := 0; i < len(part); i++ {
		c := part[i]
		switch c {
		case '*':
			wild = true
			for i+1 < len(part) && part[i+1] == '*' {
				i++
			}
			b.WriteString(`.*`)
		case '?':
			wild = true
			b.WriteString(`.`)
		case '\\':
			if i+1 < len(part) {
				i++
			}
			b.WriteString(regexp.QuoteMeta(part[i : i+1]))
			lit.WriteByte(part[i])
		case '[':
			class, n := translateClass(part[i:])
			if n == 0 {
				b.WriteString(`\[`)
				lit.WriteByte('[')
				continue
			}
			wild = true
			b.WriteString(class)
			i += n - 1
		default:
			b.WriteString(regexp.QuoteMeta(part[i : i+1]))
			lit.WriteByte(c)
		}
	}
	dotLead := strings.HasPrefix(part, ".") || strings.HasPrefix(part, `\.`)
	if !wild {
		return segment{literal: lit.String(), dotLead: dotLead}
	}
	flags := "(?s)"
	if o.NoCase {
		flags = "(?is)"
	}
	re, err := regexp.Compile(flags + "^" + b.String() + "$")
	if err != nil {
		// Unreachable with the escaping above; match literally then.
		return segment{literal: part, dotLead: dotLead}
	}
	return segment{re: re, dotLead: dotLead}
}

// translateClass translates the class at the start of s ("[...]") to a
// regexp class and returns it with the number of bytes it spans, or 0 when
// s holds no closing "]" (the "[" is then literal).
func translateClass(s string) (string, int) {
	var b strings.Builder
	b.WriteString("[")
	i := 1
	if i < len(s) && (s[i] == '!' || s[i] == '^') {
		b.WriteString("^")
		i++
	}
	first := true
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ']' && !first:
			b.WriteString("]")
			return b.String(), i + 1
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		case c == '[' && i+1 < len(s) && s[i+1] == ':':
			end := strings.Index(s[i:], ":]")
			if end < 0 {
				b.WriteString(`\[`)
				break
			}
			name := s[i+2 : i+end]
			if !posixClass[name] {
				return "", 0
			}
			b.WriteString(s[i : i+end+2])
			i += end + 1
		case c == '-':
			b.WriteString("-")
		default:
			b.WriteString(regexp.QuoteMeta(s[i : i+1]))
		}
		first = false
	}
	return "", 0
}

var posixClass = map[string]bool{
	"alnum": true, "alpha": true, "ascii": true, "blank": true, "cntrl": true, "digit": true,
	"graph": true, "lower": true, "print": true, "punct": true, "space": true, "upper": true,
	"word": true, "xdigit": true,
}

// ExpandBraces expands {a,b} alternatives the way minimatch does, nested
// ones too: "src/{a,b{1,2}}.js" gives src/a.js, src/b1.js and src/b2.js. A
// backslash escapes the next character; a brace group with fewer than two
// alternatives is left as written. It returns nil past maxAlternatives
// results.
func ExpandBraces(p string) []string { return expandBraces(p, maxAlternatives) }

func expandBraces(p string, limit int) []string {
	depth, start := 0, -1
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '{':
			if depth == 0 {
				start = i
			}
			depth++
		case '}':
			if depth == 0 {
				continue
			}
			depth--
			if depth != 0 {
				continue
			}
			alts := splitTop(p[start+1 : i])
			if len(alts) < 2 {
				continue
			}
			var out []string
			for _, a := range alts {
				more := expandBraces(p[:start]+a+p[i+1:], limit-len(out))
				if more == nil {
					return nil
				}
				out = append(out, more...)
				if len(out) > limit {
					return nil
				}
			}
			return out
		}
	}
	if limit < 1 {
		return nil
	}
	return []string{p}
}

// splitTop splits s at the commas outside nested braces.
func splitTop(s string) []string {
	var out []string
	depth, last := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '{':
			depth++
		case '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[last:i])
				last = i + 1
			}
		}
	}
	return append(out, s[last:])
}
