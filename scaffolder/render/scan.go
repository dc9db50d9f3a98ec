package render

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// pos is a zero-based template position; columns count UTF-16 code units,
// as nunjitsu's do. Messages show them one-based.
type pos struct{ line, col int }

// parseError is a syntax failure at a zero-based position.
func parseError(p pos, msg string) *TemplateRenderError {
	return &TemplateRenderError{Line: p.line + 1, Column: p.col + 1, Msg: msg}
}

// isTemplateSpace is JavaScript's /\s/: what `-` trimming and the block
// options strip.
func isTemplateSpace(r rune) bool {
	return r != 0x85 && (unicode.IsSpace(r) || r == 0xFEFF)
}

// isCodeSpace is the whitespace allowed between tokens inside tags.
func isCodeSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func trimCodeSpaceLeft(s string) string {
	for {
		if s != "" && isCodeSpace(s[0]) {
			s = s[1:]
		} else if strings.HasPrefix(s, "\u00a0") {
			s = s[2:]
		} else {
			return s
		}
	}
}

func trimCodeSpaceRight(s string) string {
	for {
		if s != "" && isCodeSpace(s[len(s)-1]) {
			s = s[:len(s)-1]
		} else if strings.HasSuffix(s, "\u00a0") {
			s = s[:len(s)-2]
		} else {
			return s
		}
	}
}

func trimCodeSpace(s string) string { return trimCodeSpaceRight(trimCodeSpaceLeft(s)) }

func trimTemplateSpaceLeft(s string) string { return strings.TrimLeftFunc(s, isTemplateSpace) }

func trimTemplateSpaceRight(s string) string { return strings.TrimRightFunc(s, isTemplateSpace) }

// advancePos moves p over s.
func advancePos(p pos, s string) pos {
	for _, r := range s {
		if r == '\n' {
			p.line++
			p.col = 0
		} else {
			p.col += utf16Width(r)
		}
	}
	return p
}

func utf16Width(r rune) int {
	if r >= 0x10000 && r <= utf8.MaxRune {
		return 2
	}
	return 1
}

// token is one piece of a scanned template.
type token struct {
	kind  string // text, variable, block
	value string // text; or the code, trimmed (variables only at the start)
	pos   pos    // start of the opening delimiter (or of the text)
	vpos  pos    // start of value
}

// scanner splits a template into text, variable and block tokens, applying
// the whitespace controls (`-`, trimBlocks, lstripBlocks) as nunjitsu does.
type scanner struct {
	src      string
	varStart string
	opts     *Options

	i              int
	p              pos
	lineHasContent bool
	pending        strings.Builder
	pendingPos     pos
	toks           []token
}

func (s *scanner) advance(n int) {
	for _, r := range s.src[s.i : s.i+n] {
		if r == '\n' {
			s.p.line++
			s.p.col = 0
			s.lineHasContent = false
		} else {
			s.p.col += utf16Width(r)
			if !isTemplateSpace(r) {
				s.lineHasContent = true
			}
		}
	}
	s.i += n
}

func (s *scanner) appendText(n int) {
	if n == 0 {
		return
	}
	if s.pending.Len() == 0 {
		s.pendingPos = s.p
	}
	s.pending.WriteString(s.src[s.i : s.i+n])
	s.advance(n)
}

func (s *scanner) setPending(v string) {
	s.pending.Reset()
	s.pending.WriteString(v)
}

func (s *scanner) flushText() {
	if s.pending.Len() > 0 {
		s.toks = append(s.toks, token{kind: "text", value: s.pending.String(), pos: s.pendingPos, vpos: s.pendingPos})
		s.pending.Reset()
	}
}

// skipSpace skips the template whitespace after a `-` closing delimiter.
func (s *scanner) skipSpace() {
	rest := s.src[s.i:]
	s.advance(len(rest) - len(trimTemplateSpaceLeft(rest)))
}

// skipNewline drops one newline after a block tag (trimBlocks).
func (s *scanner) skipNewline() {
	rest := s.src[s.i:]
	if strings.HasPrefix(rest, "\r\n") {
		s.advance(2)
	} else if strings.HasPrefix(rest, "\n") {
		s.advance(1)
	}
}

func sourcePos(src string, off int) pos { return advancePos(pos{}, src[:off]) }

type opening struct {
	kind  string // variable, block, comment
	at    int
	delim string
}

func (s *scanner) nextOpening() (opening, bool) {
	best := opening{at: -1}
	for _, c := range []opening{{"variable", 0, s.varStart}, {"block", 0, "{%"}, {"comment", 0, "{#"}} {
		k := strings.Index(s.src[s.i:], c.delim)
		if k >= 0 && (best.at < 0 || s.i+k < best.at) {
			c.at = s.i + k
			best = c
		}
	}
	return best, best.at >= 0
}

func (s *scanner) scan() ([]token, error) {
	src := s.src
	for s.i < len(src) {
		op, found := s.nextOpening()
		if ce := strings.Index(src[s.i:], "#}"); ce >= 0 && (!found || s.i+ce < op.at) {
			return nil, parseError(sourcePos(src, s.i+ce), "Unexpected end of comment")
		}
		if !found {
			s.appendText(len(src) - s.i)
			break
		}
		s.appendText(op.at - s.i)
		start := s.p
		if op.kind == "block" && s.opts.LstripBlocks {
			s.setPending(stripBlockIndent(s.pending.String(), s.lineHasContent))
		}
		leftTrim := strings.HasPrefix(src[op.at:], op.delim+"-")
		if leftTrim {
			s.setPending(trimTemplateSpaceRight(s.pending.String()))
		}
		s.flushText()
		s.advance(len(op.delim))
		if leftTrim {
			s.advance(1)
		}
		closer := map[string]string{"block": "%}", "comment": "#}", "variable": "}}"}[op.kind]
		var end int
		if op.kind == "comment" {
			end = strings.Index(src[s.i:], closer)
			if end >= 0 {
				end += s.i
			}
		} else {
			var err error
			if end, err = findCodeTerminator(src, s.i, closer); err != nil {
				return nil, err
			}
		}
		if end < 0 {
			return nil, parseError(start, "Unterminated "+op.kind+" tag")
		}
		rightTrim := end > 0 && src[end-1] == '-'
		contentEnd := end
		if rightTrim {
			contentEnd = end - 1
		}
		if contentEnd < s.i {
			// "{%-%}": the dash is both the left and the right trim.
			contentEnd = s.i
		}
		content := src[s.i:contentEnd]
		contentPos := s.p
		s.advance(end + len(closer) - s.i)
		if op.kind != "comment" {
			startTrimmed := trimCodeSpaceLeft(content)
			value := startTrimmed
			if op.kind == "block" {
				value = trimCodeSpace(content)
			}
			tok := token{kind: op.kind, value: value, pos: start, vpos: advancePos(contentPos, content[:len(content)-len(startTrimmed)])}
			raw := ""
			if op.kind == "block" {
				raw = tagName(value)
			}
			if raw == "raw" || raw == "verbatim" {
				if tagRemainder(value) != "" {
					return nil, parseError(start, raw+" tag does not accept trailing content")
				}
				if s.opts.TrimBlocks {
					s.skipNewline()
				}
				cs, ce, lineBreak, ok := findRawEnd(src, s.i, raw)
				if !ok {
					return nil, parseError(start, "Missing "+quoteDiagnostic("end"+raw)+" tag")
				}
				if lineBreak {
					return nil, parseError(sourcePos(src, cs), raw+" closing tag cannot contain a line break")
				}
				s.appendText(cs - s.i)
				s.advance(ce - s.i)
				// nunjitsu applies the opening tag's "-%}" after the closing
				// tag, and recognises no dash on the closing tag.
				if rightTrim {
					s.skipSpace()
				}
				continue
			}
			s.toks = append(s.toks, tok)
		}
		if rightTrim {
			s.skipSpace()
		} else if op.kind == "block" && s.opts.TrimBlocks {
			s.skipNewline()
		}
	}
	s.flushText()
	return s.toks, nil
}

// stripBlockIndent removes the indentation before a block tag that starts
// its line (lstripBlocks).
func stripBlockIndent(v string, lineHasContent bool) string {
	if lineHasContent {
		return v
	}
	nl := strings.LastIndexByte(v, '\n')
	if trimTemplateSpaceLeft(v[nl+1:]) == "" {
		return v[:nl+1]
	}
	return v
}

// findRawEnd finds the end tag matching a raw or verbatim block, counting
// nested openings; markers with a dash are not markers.
func findRawEnd(src string, from int, name string) (start, end int, lineBreak, ok bool) {
	depth := 1
	i := from
	for i < len(src) {
		k := strings.Index(src[i:], "{%")
		if k < 0 {
			return 0, 0, false, false
		}
		ms := i + k
		kind, me := scanRawMarker(src, ms, name)
		if kind == "" {
			i = ms + 2
			continue
		}
		if kind == "open" {
			depth++
		} else {
			depth--
			if depth == 0 {
				return ms, me, strings.Contains(src[ms:me], "\n"), true
			}
		}
		i = me
	}
	return 0, 0, false, false
}

func scanRawMarker(src string, start int, name string) (kind string, end int) {
	i := start + 2
	if i < len(src) && src[i] == '-' {
		return "", 0
	}
	i = skipTemplateSpace(src, i)
	switch {
	case strings.HasPrefix(src[i:], "end"+name):
		kind = "close"
		i += len("end" + name)
	case strings.HasPrefix(src[i:], name):
		kind = "open"
		i += len(name)
	default:
		return "", 0
	}
	i = skipTemplateSpace(src, i)
	if strings.HasPrefix(src[i:], "%}") {
		return kind, i + 2
	}
	return "", 0
}

func skipTemplateSpace(src string, i int) int {
	for i < len(src) {
		r, n := utf8.DecodeRuneInString(src[i:])
		if !isTemplateSpace(r) {
			break
		}
		i += n
	}
	return i
}

// tagName is the leading identifier of a block tag's content.
func tagName(v string) string {
	v = trimCodeSpace(v)
	if v == "" || !isIdentStart(v[0]) {
		return ""
	}
	i := 1
	for i < len(v) && isIdentChar(v[i]) {
		i++
	}
	return v[:i]
}

func tagRemainder(v string) string {
	v = trimCodeSpace(v)
	return trimCodeSpace(v[len(tagName(v)):])
}

func isIdentStart(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || isDigit(c) }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ---- code scanning (strings, identifiers, regex literals) ----

// scanIdent returns the end of the identifier at i (after leading digits
// when allowed), or -1.
func scanIdent(src string, i int, leadingDigits bool) int {
	j := i
	if leadingDigits {
		for j < len(src) && isDigit(src[j]) {
			j++
		}
	}
	if j >= len(src) || !isIdentStart(src[j]) {
		return -1
	}
	j++
	for j < len(src) && isIdentChar(src[j]) {
		j++
	}
	return j
}

// skipCodeToken returns the end of the string, identifier, number or regex
// literal at i, or -1.
func skipCodeToken(src string, i int) (int, error) {
	if c := src[i]; c == '"' || c == '\'' {
		for j := i + 1; j < len(src); j++ {
			if src[j] == '\\' {
				j++
			} else if src[j] == c {
				return j + 1, nil
			}
		}
		return len(src), nil
	}
	e := scanIdent(src, i, true)
	if e < 0 {
		j := i
		for j < len(src) && isDigit(src[j]) {
			j++
		}
		if j > i {
			return j, nil
		}
		return -1, nil
	}
	if src[i:e] == "r" && e < len(src) && src[e] == '/' {
		lit, err := scanRegexLiteral(src, i)
		if err != nil {
			return 0, err
		}
		return lit.end, nil
	}
	return e, nil
}

func findCodeTerminator(src string, from int, term string) (int, error) {
	for i := from; i <= len(src)-len(term); {
		e, err := skipCodeToken(src, i)
		if err != nil {
			return 0, err
		}
		if e >= 0 {
			i = e
		} else if strings.HasPrefix(src[i:], term) {
			return i, nil
		} else {
			i++
		}
	}
	return -1, nil
}

// findTopLevel finds c outside every bracket, string and literal.
func findTopLevel(src string, c byte) (int, error) {
	depth := 0
	for i := 0; i < len(src); {
		e, err := skipCodeToken(src, i)
		if err != nil {
			return 0, err
		}
		if e >= 0 {
			i = e
			continue
		}
		switch src[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		default:
			if depth == 0 && src[i] == c {
				return i, nil
			}
		}
		i++
	}
	return -1, nil
}

// splitTopLevelKeyword splits around a standalone keyword outside brackets.
func splitTopLevelKeyword(src, kw string) (left, right string, ok bool, err error) {
	depth := 0
	for i := 0; i < len(src); {
		if e := scanIdent(src, i, true); e >= 0 {
			if src[i:e] == "r" && e < len(src) && src[e] == '/' {
				lit, err := scanRegexLiteral(src, i)
				if err != nil {
					return "", "", false, err
				}
				i = lit.end
				continue
			}
			before := i == 0 || isCodeSpace(src[i-1]) || strings.HasSuffix(src[:i], "\u00a0")
			after := e == len(src) || isCodeSpace(src[e]) || strings.HasPrefix(src[e:], "\u00a0")
			if depth == 0 && src[i:e] == kw && before && after {
				return trimCodeSpace(src[:i]), trimCodeSpace(src[e:]), true, nil
			}
			i = e
			continue
		}
		e, err := skipCodeToken(src, i)
		if err != nil {
			return "", "", false, err
		}
		if e >= 0 {
			i = e
			continue
		}
		switch src[i] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		i++
	}
	return "", "", false, nil
}

// findMatchingDelimiter finds the bracket closing the one at start.
func findMatchingDelimiter(src string, start int) (int, error) {
	closing := map[byte]byte{'(': ')', '[': ']', '{': '}'}
	if _, ok := closing[src[start]]; !ok {
		return -1, nil
	}
	stack := []byte{src[start]}
	for i := start + 1; i < len(src); {
		e, err := skipCodeToken(src, i)
		if err != nil {
			return 0, err
		}
		if e >= 0 {
			i = e
			continue
		}
		switch c := src[i]; c {
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			if closing[stack[len(stack)-1]] == c {
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return i, nil
				}
			}
		}
		i++
	}
	return -1, nil
}

// regexLiteralError is a bad r/.../ literal; at is the offset of its "r".
type regexLiteralError struct {
	at  int
	msg string
}

func (e *regexLiteralError) Error() string { return e.msg }

type regexLiteral struct {
	source, flags string
	end           int
}

func scanRegexLiteral(src string, start int) (regexLiteral, error) {
	var pat strings.Builder
	backslashes := 0
	for i := start + 2; i < len(src); i++ {
		c := src[i]
		if (c != '/' || backslashes > 0) && pat.Len() >= 16384 {
			return regexLiteral{}, &regexLiteralError{start, "Regular-expression literal exceeds the maximum length"}
		}
		switch {
		case c == '\\':
			pat.WriteByte(c)
			backslashes++
		case c == '/' && backslashes > 0:
			if backslashes%2 == 0 {
				return regexLiteral{}, &regexLiteralError{start, "Ambiguous regular-expression delimiter escape"}
			}
			pat.WriteByte(c)
			backslashes = 0
		case c == '/':
			return finishRegexLiteral(src, start, i, pat.String())
		default:
			pat.WriteByte(c)
			backslashes = 0
		}
	}
	return regexLiteral{}, &regexLiteralError{start, "Unterminated regular-expression literal"}
}

func finishRegexLiteral(src string, start, delim int, pat string) (regexLiteral, error) {
	end := delim + 1
	flags := ""
	for ; end < len(src) && strings.IndexByte("gimy", src[end]) >= 0; end++ {
		if strings.IndexByte(flags, src[end]) >= 0 {
			return regexLiteral{}, &regexLiteralError{start, "Duplicate regular-expression flag"}
		}
		flags += string(src[end])
	}
	if end < len(src) && (src[end] >= 'a' && src[end] <= 'z' || src[end] >= 'A' && src[end] <= 'Z') {
		return regexLiteral{}, &regexLiteralError{start, "Unsupported regular-expression flag"}
	}
	if _, err := newJSRegex(pat, flags); err != nil {
		return regexLiteral{}, &regexLiteralError{start, "Invalid regular-expression literal"}
	}
	return regexLiteral{source: pat, flags: flags, end: end}, nil
}
