package render

import (
	"fmt"
	"strconv"
	"strings"
)

// ---- AST ----

type node interface{}

type textNode struct{ s string }

type outputNode struct{ e expr }

type ifNode struct {
	conds  []expr
	bodies [][]node
	els    []node
}

type forNode struct {
	vars []string
	iter expr
	body []node
	els  []node
	pos  pos
}

type setNode struct {
	targets []string
	value   expr   // nil for block set
	body    []node // block set
}

type macroNode struct {
	name   string
	params []param
	body   []node
}

type callBlockNode struct {
	call   expr
	params []param
	body   []node
}

type filterBlockNode struct {
	f    *filterExpr // target is nil; filled with the body at runtime
	body []node
}

type param struct {
	name string
	def  expr // nil when required
}

type expr interface{}

type pos struct{ line, col int }

type litExpr struct{ v any }
type nameExpr struct {
	name string
	pos  pos
}
type memberExpr struct {
	obj, key expr
	pos      pos
}
type sliceExpr struct{ obj, start, stop, step expr }
type callExpr struct {
	fn   expr
	args []expr
	kw   []kwArg
	pos  pos
}
type kwArg struct {
	name string
	v    expr
}
type filterExpr struct {
	target expr
	name   string
	args   []expr
	kw     []kwArg
	pos    pos
}
type binExpr struct {
	op   string
	l, r expr
	pos  pos
}
type unaryExpr struct {
	op string
	x  expr
}
type condExpr struct{ cond, then, els expr }
type isExpr struct {
	x      expr
	test   string
	args   []expr
	negate bool
	pos    pos
}
type arrayExpr struct{ items []expr }
type dictExpr struct{ keys, vals []expr }
type regexExpr struct{ source, flags string }

// ---- template scanner ----

type Options struct {
	// CookiecutterCompat switches the variable delimiters to {{ }} and
	// enables the Jinja-compatible methods and slices.
	CookiecutterCompat bool
	TrimBlocks         bool
	LstripBlocks       bool
	// Filters are extra filters (Backstage's own ones come from DefaultFilters).
	Filters map[string]Filter
	// Globals are extra global values or functions (Func).
	Globals map[string]any
	// Limits bound the work a template may do; zero fields take defaults.
	Limits Limits
	// Integrations resolves SCM hosts for parseRepoUrl and projectSlug
	// (DefaultIntegrations when nil).
	Integrations IntegrationType
}

type token struct {
	kind  string // text, var, block, comment
	s     string // content for var/block; raw text for text
	pos   pos    // position of the content start
	lTrim bool   // {%- / ${{-
	rTrim bool   // -%} / -}}
	start int    // offset of the opening delimiter
}

type scanner struct {
	src      string
	varStart string
	opts     *Options
}

func lineCol(src string, off int) pos {
	line, col := 1, 1
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return pos{line, col}
}

// findClose finds the closing delimiter of a code region, skipping strings.
func findClose(src string, from int, closer string) int {
	for i := from; i < len(src); i++ {
		c := src[i]
		if c == '"' || c == '\'' {
			j := i + 1
			for j < len(src) && src[j] != c {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			i = j
			continue
		}
		if strings.HasPrefix(src[i:], closer) {
			return i
		}
	}
	return -1
}

func (s *scanner) tokens() ([]token, error) {
	var toks []token
	src := s.src
	i := 0
	textStart := 0
	flushText := func(end int) {
		if end > textStart {
			toks = append(toks, token{kind: "text", s: src[textStart:end], start: textStart})
		}
	}
	for i < len(src) {
		var kind, closer string
		var open int
		switch {
		case strings.HasPrefix(src[i:], s.varStart):
			kind, closer, open = "var", "}}", len(s.varStart)
		case strings.HasPrefix(src[i:], "{%"):
			kind, closer, open = "block", "%}", 2
		case strings.HasPrefix(src[i:], "{#"):
			kind, closer, open = "comment", "#}", 2
		default:
			i++
			continue
		}
		flushText(i)
		start := i
		j := i + open
		lTrim := false
		if j < len(src) && src[j] == '-' {
			lTrim = true
			j++
		}
		var end int
		if kind == "comment" {
			end = strings.Index(src[j:], closer)
			if end >= 0 {
				end += j
			}
		} else {
			end = findClose(src, j, closer)
		}
		if end < 0 {
			p := lineCol(src, len(src))
			if kind == "comment" {
				return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: "Unterminated comment"}
			}
			return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: "Expected " + closer + ", received end of input"}
		}
		rTrim := false
		contentEnd := end
		if end > j && src[end-1] == '-' {
			rTrim = true
			contentEnd = end - 1
		}
		tok := token{kind: kind, s: src[j:contentEnd], pos: lineCol(src, j), lTrim: lTrim, rTrim: rTrim, start: start}
		i = end + len(closer)
		if kind == "block" {
			name := tagName(tok.s)
			if name == "raw" || name == "verbatim" {
				// Raw content runs to the matching end tag, untouched.
				endName := "end" + name
				k, ek, er, inner := findRawEnd(src, i, name, endName)
				if k < 0 {
					p := lineCol(src, start)
					return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: "Expected " + endName + " tag"}
				}
				toks = append(toks, tok)
				toks = append(toks, token{kind: "text", s: src[i:k], start: i, pos: lineCol(src, i)})
				toks = append(toks, token{kind: "block", s: inner, pos: lineCol(src, k), lTrim: ek, rTrim: er, start: k})
				i = k + 2 + len(inner) + 2
				if ek {
					i++
				}
				if er {
					i++
				}
				textStart = i
				continue
			}
		}
		toks = append(toks, tok)
		textStart = i
	}
	flushText(len(src))
	return toks, nil
}

// findRawEnd locates {% endraw %} honouring nested raw blocks.
func findRawEnd(src string, from int, name, endName string) (at int, lTrim, rTrim bool, inner string) {
	depth := 0
	for i := from; i < len(src); i++ {
		if !strings.HasPrefix(src[i:], "{%") {
			continue
		}
		j := i + 2
		l := false
		if j < len(src) && src[j] == '-' {
			l = true
			j++
		}
		e := strings.Index(src[j:], "%}")
		if e < 0 {
			return -1, false, false, ""
		}
		e += j
		content := src[j:e]
		r := false
		if strings.HasSuffix(content, "-") {
			r = true
			content = content[:len(content)-1]
		}
		switch strings.TrimSpace(content) {
		case name:
			depth++
		case endName:
			if depth == 0 {
				inner := src[i+2 : e]
				if l {
					inner = inner[1:]
				}
				if r {
					inner = inner[:len(inner)-1]
				}
				return i, l, r, inner
			}
			depth--
		}
	}
	return -1, false, false, ""
}

func tagName(s string) string {
	s = strings.TrimLeft(s, " \t\r\n")
	i := 0
	for i < len(s) && (isIdentChar(s[i])) {
		i++
	}
	return s[:i]
}

func isIdentStart(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// applyWhitespace implements -, trimBlocks and lstripBlocks on the token list.
func applyWhitespace(toks []token, opts *Options) {
	for k := range toks {
		t := &toks[k]
		if t.kind == "text" {
			continue
		}
		if t.lTrim && k > 0 && toks[k-1].kind == "text" {
			toks[k-1].s = strings.TrimRight(toks[k-1].s, " \t\r\n")
		}
		if t.rTrim && k+1 < len(toks) && toks[k+1].kind == "text" {
			toks[k+1].s = strings.TrimLeft(toks[k+1].s, " \t\r\n")
		}
		if t.kind == "block" || t.kind == "comment" {
			if opts.TrimBlocks && k+1 < len(toks) && toks[k+1].kind == "text" && !t.rTrim {
				s := toks[k+1].s
				if strings.HasPrefix(s, "\r\n") {
					toks[k+1].s = s[2:]
				} else if strings.HasPrefix(s, "\n") {
					toks[k+1].s = s[1:]
				}
			}
			if opts.LstripBlocks && k > 0 && toks[k-1].kind == "text" && !t.lTrim {
				s := toks[k-1].s
				nl := strings.LastIndexByte(s, '\n')
				tail := s[nl+1:]
				if strings.TrimLeft(tail, " \t") == "" && (nl >= 0 || k-1 == 0) {
					toks[k-1].s = s[:nl+1]
				}
			}
		}
	}
}

// ---- template parser ----

type parser struct {
	toks []token
	i    int
	opts *Options
	src  string
	// nodes counts AST nodes against the limit.
	nodes, maxNodes int
	depth, maxDepth int
}

func parseTemplate(src string, opts *Options, lim Limits) ([]node, error) {
	vs := "${{"
	if opts.CookiecutterCompat {
		vs = "{{"
	}
	sc := &scanner{src: src, varStart: vs, opts: opts}
	toks, err := sc.tokens()
	if err != nil {
		return nil, err
	}
	applyWhitespace(toks, opts)
	p := &parser{toks: toks, opts: opts, src: src, maxNodes: lim.Nodes, maxDepth: lim.Depth}
	body, stop, err := p.parseBody(nil)
	if err != nil {
		return nil, err
	}
	if stop != nil {
		return nil, p.errAt(stop.pos, fmt.Sprintf("Unexpected %q tag", tagName(stop.s)))
	}
	return body, nil
}

func (p *parser) errAt(ps pos, msg string) error {
	return &TemplateRenderError{Line: ps.line, Column: ps.col, Msg: msg}
}

func (p *parser) count() error {
	p.nodes++
	if p.maxNodes > 0 && p.nodes > p.maxNodes {
		return &TemplateRenderError{Line: 1, Column: 1, Msg: "Template exceeds the AST node limit"}
	}
	return nil
}

// parseBody parses nodes until one of the stop tags; it returns the stop token.
func (p *parser) parseBody(stops []string) ([]node, *token, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.maxDepth > 0 && p.depth > p.maxDepth {
		return nil, nil, &TemplateRenderError{Line: 1, Column: 1, Msg: "Template exceeds the nesting depth limit"}
	}
	var out []node
	for p.i < len(p.toks) {
		t := &p.toks[p.i]
		if err := p.count(); err != nil {
			return nil, nil, err
		}
		switch t.kind {
		case "text":
			p.i++
			if t.s != "" {
				out = append(out, &textNode{s: t.s})
			}
		case "comment":
			p.i++
		case "var":
			p.i++
			e, err := p.parseExprString(t.s, t.pos)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, &outputNode{e: e})
		case "block":
			name := tagName(t.s)
			for _, s := range stops {
				if s == name {
					return out, t, nil
				}
			}
			p.i++
			n, err := p.parseTag(t, name)
			if err != nil {
				return nil, nil, err
			}
			if n != nil {
				out = append(out, n)
			}
		}
	}
	if len(stops) > 0 {
		return nil, nil, &missingEnd{}
	}
	return out, nil, nil
}

func (p *parser) parseExprString(s string, ps pos) (expr, error) {
	ep, err := newExprParser(s, ps, p.opts.CookiecutterCompat)
	if err != nil {
		return nil, err
	}
	e, err := ep.parseExpression()
	if err != nil {
		return nil, err
	}
	if !ep.at("eof") {
		return nil, ep.unexpected()
	}
	return e, nil
}

func (p *parser) parseTag(t *token, name string) (node, error) {
	tagPos := lineCol(p.src, t.start)
	missing := func(err error, end string) error {
		if _, ok := err.(*missingEnd); ok {
			return p.errAt(tagPos, "Missing "+end+" tag")
		}
		return err
	}
	rest := strings.TrimSpace(t.s)
	rest = strings.TrimSpace(rest[len(name):])
	restPos := t.pos
	switch name {
	case "if":
		n := &ifNode{}
		cond, err := p.parseExprString(rest, restPos)
		if err != nil {
			return nil, err
		}
		for {
			body, stop, err := p.parseBody([]string{"elif", "elseif", "else", "endif"})
			if err != nil {
				return nil, missing(err, "endif")
			}
			n.conds = append(n.conds, cond)
			n.bodies = append(n.bodies, body)
			p.i++
			sn := tagName(stop.s)
			if sn == "endif" {
				return n, nil
			}
			if sn == "else" {
				els, _, err := p.parseBody([]string{"endif"})
				if err != nil {
					return nil, missing(err, "endif")
				}
				p.i++
				n.els = els
				return n, nil
			}
			r := strings.TrimSpace(stop.s)
			cond, err = p.parseExprString(strings.TrimSpace(r[len(sn):]), stop.pos)
			if err != nil {
				return nil, err
			}
		}
	case "for", "asyncEach", "asyncAll":
		ep, err := newExprParser(rest, restPos, p.opts.CookiecutterCompat)
		if err != nil {
			return nil, err
		}
		n := &forNode{pos: t.pos}
		for {
			if !ep.at("name") {
				return nil, ep.errHere("Expected loop variable name")
			}
			n.vars = append(n.vars, ep.next().s)
			if !ep.skipOp(",") {
				break
			}
		}
		if !ep.skipName("in") {
			return nil, ep.errHere("Expected \"in\" keyword for loop")
		}
		n.iter, err = ep.parseExpression()
		if err != nil {
			return nil, err
		}
		if !ep.at("eof") {
			return nil, ep.unexpected()
		}
		body, stop, err := p.parseBody([]string{"else", "endfor", "endeach", "endall"})
		if err != nil {
			return nil, missing(err, "endfor")
		}
		p.i++
		n.body = body
		if tagName(stop.s) == "else" {
			n.els, _, err = p.parseBody([]string{"endfor", "endeach", "endall"})
			if err != nil {
				return nil, missing(err, "endfor")
			}
			p.i++
		}
		return n, nil
	case "set":
		ep, err := newExprParser(rest, restPos, p.opts.CookiecutterCompat)
		if err != nil {
			return nil, err
		}
		n := &setNode{}
		for {
			if !ep.at("name") {
				return nil, ep.errHere("Expected variable name in set tag")
			}
			n.targets = append(n.targets, ep.next().s)
			if !ep.skipOp(",") {
				break
			}
		}
		if ep.skipOp("=") {
			n.value, err = ep.parseExpression()
			if err != nil {
				return nil, err
			}
			if !ep.at("eof") {
				return nil, ep.unexpected()
			}
			return n, nil
		}
		if !ep.at("eof") {
			return nil, ep.errHere("Expected = or end of set tag")
		}
		body, _, err := p.parseBody([]string{"endset"})
		if err != nil {
			return nil, missing(err, "endset")
		}
		p.i++
		n.body = body
		return n, nil
	case "raw", "verbatim":
		// The scanner emitted text then the end tag.
		var s string
		if p.i < len(p.toks) && p.toks[p.i].kind == "text" {
			s = p.toks[p.i].s
			p.i++
		}
		p.i++ // end tag
		return &textNode{s: s}, nil
	case "macro":
		ep, err := newExprParser(rest, restPos, p.opts.CookiecutterCompat)
		if err != nil {
			return nil, err
		}
		if !ep.at("name") {
			return nil, ep.errHere("Expected macro name")
		}
		n := &macroNode{name: ep.next().s}
		if n.params, err = ep.parseParams(); err != nil {
			return nil, err
		}
		if !ep.at("eof") {
			return nil, ep.unexpected()
		}
		body, _, err := p.parseBody([]string{"endmacro"})
		if err != nil {
			return nil, missing(err, "endmacro")
		}
		p.i++
		n.body = body
		return n, nil
	case "call":
		ep, err := newExprParser(rest, restPos, p.opts.CookiecutterCompat)
		if err != nil {
			return nil, err
		}
		n := &callBlockNode{}
		if ep.atOp("(") {
			if n.params, err = ep.parseParams(); err != nil {
				return nil, err
			}
		}
		n.call, err = ep.parseExpression()
		if err != nil {
			return nil, err
		}
		if !ep.at("eof") {
			return nil, ep.unexpected()
		}
		body, _, err := p.parseBody([]string{"endcall"})
		if err != nil {
			return nil, missing(err, "endcall")
		}
		p.i++
		n.body = body
		return n, nil
	case "filter":
		ep, err := newExprParser(rest, restPos, p.opts.CookiecutterCompat)
		if err != nil {
			return nil, err
		}
		f, err := ep.parseFilterCall(nil)
		if err != nil {
			return nil, err
		}
		if !ep.at("eof") {
			return nil, ep.unexpected()
		}
		body, _, err := p.parseBody([]string{"endfilter"})
		if err != nil {
			return nil, missing(err, "endfilter")
		}
		p.i++
		return &filterBlockNode{f: f, body: body}, nil
	case "include", "extends", "import", "from":
		return nil, p.errAt(tagPos, fmt.Sprintf("Unsupported template-loading tag %q", name))
	case "block":
		body, _, err := p.parseBody([]string{"endblock"})
		if err != nil {
			return nil, missing(err, "endblock")
		}
		p.i++
		return &ifNode{conds: []expr{&litExpr{v: true}}, bodies: [][]node{body}}, nil
	case "":
		return nil, p.errAt(tagPos, "Expected tag name")
	}
	return nil, p.errAt(tagPos, fmt.Sprintf("Unknown template tag %q", name))
}

// missingEnd reports a block that reached the end of the template.
type missingEnd struct{}

func (*missingEnd) Error() string { return "missing end tag" }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ---- expression lexer ----

type etok struct {
	kind string // name, string, number, regex, op, eof
	s    string
	n    float64
	pos  pos
}

type exprParser struct {
	toks   []etok
	i      int
	cookie bool
}

var threeOps = []string{"===", "!=="}
var twoOps = []string{"==", "!=", "<=", ">=", "//", "**"}

func newExprParser(s string, base pos, cookie bool) (*exprParser, error) {
	var toks []etok
	line, col := base.line, base.col
	i := 0
	adv := func(n int) {
		for k := 0; k < n && i < len(s); k++ {
			if s[i] == '\n' {
				line++
				col = 1
			} else {
				col++
			}
			i++
		}
	}
	for i < len(s) {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
			adv(1)
			continue
		}
		p := pos{line, col}
		switch {
		case c == '"' || c == '\'':
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(s) {
				if s[j] == c {
					closed = true
					break
				}
				if s[j] == '\\' && j+1 < len(s) {
					j++
					switch s[j] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case 'r':
						b.WriteByte('\r')
					default:
						b.WriteByte(s[j])
					}
					j++
					continue
				}
				b.WriteByte(s[j])
				j++
			}
			if !closed {
				return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: "Unterminated string literal"}
			}
			toks = append(toks, etok{kind: "string", s: b.String(), pos: p})
			adv(j + 1 - i)
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			if j+1 < len(s) && s[j] == '.' && s[j+1] >= '0' && s[j+1] <= '9' {
				j++
				for j < len(s) && s[j] >= '0' && s[j] <= '9' {
					j++
				}
			}
			f, _ := strconv.ParseFloat(s[i:j], 64)
			if j < len(s) && isIdentStart(s[j]) {
				return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: "Invalid numeric literal"}
			}
			toks = append(toks, etok{kind: "number", n: f, s: s[i:j], pos: p})
			adv(j - i)
		case c == 'r' && i+1 < len(s) && s[i+1] == '/':
			j := i + 2
			inClass := false
			for j < len(s) {
				if s[j] == '\\' {
					j += 2
					continue
				}
				if s[j] == '[' {
					inClass = true
				} else if s[j] == ']' {
					inClass = false
				} else if s[j] == '/' && !inClass {
					break
				}
				j++
			}
			if j >= len(s) {
				return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: "Unterminated regular expression literal"}
			}
			src := s[i+2 : j]
			k := j + 1
			for k < len(s) && strings.IndexByte("gimy", s[k]) >= 0 {
				k++
			}
			toks = append(toks, etok{kind: "regex", s: src + "/" + s[j+1:k], pos: p})
			adv(k - i)
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			toks = append(toks, etok{kind: "name", s: s[i:j], pos: p})
			adv(j - i)
		default:
			op := ""
			for _, o := range threeOps {
				if strings.HasPrefix(s[i:], o) {
					op = o
				}
			}
			if op == "" {
				for _, o := range twoOps {
					if strings.HasPrefix(s[i:], o) {
						op = o
						break
					}
				}
			}
			if op == "" && strings.IndexByte("()[]{},:.|~+-*/%<>=!?", c) >= 0 {
				op = string(c)
			}
			if op == "" {
				return nil, &TemplateRenderError{Line: p.line, Column: p.col, Msg: fmt.Sprintf("Unexpected character %q", string(c))}
			}
			toks = append(toks, etok{kind: "op", s: op, pos: p})
			adv(len(op))
		}
	}
	toks = append(toks, etok{kind: "eof", pos: pos{line, col}})
	return &exprParser{toks: toks, cookie: cookie}, nil
}

func (e *exprParser) peek() etok { return e.toks[e.i] }
func (e *exprParser) next() etok {
	t := e.toks[e.i]
	if t.kind != "eof" {
		e.i++
	}
	return t
}
func (e *exprParser) at(kind string) bool { return e.toks[e.i].kind == kind }
func (e *exprParser) atOp(op string) bool { t := e.toks[e.i]; return t.kind == "op" && t.s == op }
func (e *exprParser) atName(name string) bool {
	t := e.toks[e.i]
	return t.kind == "name" && t.s == name
}
func (e *exprParser) skipOp(op string) bool {
	if e.atOp(op) {
		e.i++
		return true
	}
	return false
}
func (e *exprParser) skipName(n string) bool {
	if e.atName(n) {
		e.i++
		return true
	}
	return false
}

func (e *exprParser) errHere(msg string) error {
	t := e.peek()
	return &TemplateRenderError{Line: t.pos.line, Column: t.pos.col, Msg: msg}
}

func describe(t etok) string {
	switch t.kind {
	case "eof":
		return "end of input"
	case "string":
		return strconv.Quote(t.s)
	}
	return fmt.Sprintf("%q", t.s)
}

func (e *exprParser) unexpected() error {
	return e.errHere("Unexpected " + describe(e.peek()))
}

func (e *exprParser) expectOp(op string) error {
	if !e.skipOp(op) {
		return e.errHere(fmt.Sprintf("Expected %q, received %s", op, describe(e.peek())))
	}
	return nil
}

func (e *exprParser) parseParams() ([]param, error) {
	var ps []param
	if err := e.expectOp("("); err != nil {
		return nil, err
	}
	for !e.atOp(")") {
		if !e.at("name") {
			return nil, e.errHere("Expected name, received " + describe(e.peek()))
		}
		p := param{name: e.next().s}
		if e.skipOp("=") {
			d, err := e.parseExpression()
			if err != nil {
				return nil, err
			}
			p.def = d
		}
		ps = append(ps, p)
		if !e.skipOp(",") {
			break
		}
	}
	return ps, e.expectOp(")")
}

func (e *exprParser) parseExpression() (expr, error) { return e.parseInlineIf() }

func (e *exprParser) parseInlineIf() (expr, error) {
	x, err := e.parseOr()
	if err != nil {
		return nil, err
	}
	if e.skipName("if") {
		c, err := e.parseOr()
		if err != nil {
			return nil, err
		}
		var els expr
		if e.skipName("else") {
			if els, err = e.parseOr(); err != nil {
				return nil, err
			}
		}
		return &condExpr{cond: c, then: x, els: els}, nil
	}
	return x, nil
}

func (e *exprParser) parseOr() (expr, error) {
	x, err := e.parseAnd()
	if err != nil {
		return nil, err
	}
	for e.atName("or") {
		p := e.next().pos
		r, err := e.parseAnd()
		if err != nil {
			return nil, err
		}
		x = &binExpr{op: "or", l: x, r: r, pos: p}
	}
	return x, nil
}

func (e *exprParser) parseAnd() (expr, error) {
	x, err := e.parseNot()
	if err != nil {
		return nil, err
	}
	for e.atName("and") {
		p := e.next().pos
		r, err := e.parseNot()
		if err != nil {
			return nil, err
		}
		x = &binExpr{op: "and", l: x, r: r, pos: p}
	}
	return x, nil
}

func (e *exprParser) parseNot() (expr, error) {
	if e.skipName("not") {
		x, err := e.parseNot()
		if err != nil {
			return nil, err
		}
		return &unaryExpr{op: "not", x: x}, nil
	}
	return e.parseIn()
}

func (e *exprParser) parseIn() (expr, error) {
	x, err := e.parseIs()
	if err != nil {
		return nil, err
	}
	for {
		p := e.peek().pos
		if e.atName("not") && e.toks[e.i+1].kind == "name" && e.toks[e.i+1].s == "in" {
			e.i += 2
			r, err := e.parseIs()
			if err != nil {
				return nil, err
			}
			x = &unaryExpr{op: "not", x: &binExpr{op: "in", l: x, r: r, pos: p}}
			continue
		}
		if e.skipName("in") {
			r, err := e.parseIs()
			if err != nil {
				return nil, err
			}
			x = &binExpr{op: "in", l: x, r: r, pos: p}
			continue
		}
		return x, nil
	}
}

func (e *exprParser) parseIs() (expr, error) {
	x, err := e.parseCompare()
	if err != nil {
		return nil, err
	}
	if e.atName("is") {
		p := e.next().pos
		n := &isExpr{x: x, pos: p}
		n.negate = e.skipName("not")
		if !e.at("name") {
			return nil, e.errHere("Expected test name, received " + describe(e.peek()))
		}
		n.test = e.next().s
		if e.atOp("(") {
			args, _, err := e.parseArgs()
			if err != nil {
				return nil, err
			}
			n.args = args
		} else if !e.at("eof") && !e.at("op") && !e.atName("and") && !e.atName("or") && !e.atName("else") && !e.atName("if") {
			a, err := e.parsePrimary()
			if err != nil {
				return nil, err
			}
			n.args = []expr{a}
		} else if e.at("number") || e.at("string") {
			a, _ := e.parsePrimary()
			n.args = []expr{a}
		}
		return n, nil
	}
	return x, nil
}

var compareOps = map[string]bool{"==": true, "===": true, "!=": true, "!==": true, "<": true, ">": true, "<=": true, ">=": true}

func (e *exprParser) parseCompare() (expr, error) {
	x, err := e.parseConcat()
	if err != nil {
		return nil, err
	}
	for e.at("op") && compareOps[e.peek().s] {
		t := e.next()
		r, err := e.parseConcat()
		if err != nil {
			return nil, err
		}
		x = &binExpr{op: t.s, l: x, r: r, pos: t.pos}
	}
	return x, nil
}

// Nunjucks gives each arithmetic operator its own precedence level.
func (e *exprParser) binLevel(op string, nextLevel func() (expr, error)) (expr, error) {
	x, err := nextLevel()
	if err != nil {
		return nil, err
	}
	for e.atOp(op) {
		t := e.next()
		r, err := nextLevel()
		if err != nil {
			return nil, err
		}
		x = &binExpr{op: op, l: x, r: r, pos: t.pos}
	}
	return x, nil
}

func (e *exprParser) parseConcat() (expr, error) { return e.binLevel("~", e.parseAdd) }
func (e *exprParser) parseAdd() (expr, error)    { return e.binLevel("+", e.parseSub) }
func (e *exprParser) parseSub() (expr, error)    { return e.binLevel("-", e.parseMul) }
func (e *exprParser) parseMul() (expr, error)    { return e.binLevel("*", e.parseDiv) }
func (e *exprParser) parseDiv() (expr, error)    { return e.binLevel("/", e.parseFloorDiv) }
func (e *exprParser) parseFloorDiv() (expr, error) {
	return e.binLevel("//", e.parseMod)
}
func (e *exprParser) parseMod() (expr, error) { return e.binLevel("%", e.parsePow) }
func (e *exprParser) parsePow() (expr, error) {
	return e.binLevel("**", func() (expr, error) { return e.parseUnary(false) })
}

func (e *exprParser) parseUnary(noFilters bool) (expr, error) {
	var x expr
	var err error
	if e.atOp("-") || e.atOp("+") {
		op := e.next().s
		inner, err := e.parseUnary(true)
		if err != nil {
			return nil, err
		}
		x = &unaryExpr{op: op, x: inner}
	} else {
		x, err = e.parsePrimary()
		if err != nil {
			return nil, err
		}
	}
	if !noFilters {
		for e.atOp("|") {
			e.next()
			f, err := e.parseFilterCall(x)
			if err != nil {
				return nil, err
			}
			x = f
		}
	}
	return x, nil
}

func (e *exprParser) parseFilterCall(target expr) (*filterExpr, error) {
	if !e.at("name") {
		return nil, e.errHere("Expected name, received " + describe(e.peek()))
	}
	t := e.next()
	name := t.s
	for e.atOp(".") && e.toks[e.i+1].kind == "name" {
		e.i++
		name += "." + e.next().s
	}
	f := &filterExpr{target: target, name: name, pos: t.pos}
	if e.atOp("(") {
		args, kw, err := e.parseArgs()
		if err != nil {
			return nil, err
		}
		f.args, f.kw = args, kw
	}
	return f, nil
}

func (e *exprParser) parseArgs() ([]expr, []kwArg, error) {
	if err := e.expectOp("("); err != nil {
		return nil, nil, err
	}
	var args []expr
	var kw []kwArg
	for !e.atOp(")") {
		if e.at("name") && e.toks[e.i+1].kind == "op" && e.toks[e.i+1].s == "=" {
			n := e.next().s
			e.next()
			v, err := e.parseExpression()
			if err != nil {
				return nil, nil, err
			}
			kw = append(kw, kwArg{name: n, v: v})
		} else {
			v, err := e.parseExpression()
			if err != nil {
				return nil, nil, err
			}
			args = append(args, v)
		}
		if !e.skipOp(",") {
			break
		}
	}
	return args, kw, e.expectOp(")")
}

func (e *exprParser) parsePrimary() (expr, error) {
	t := e.peek()
	var x expr
	switch t.kind {
	case "string":
		e.next()
		x = &litExpr{v: t.s}
	case "number":
		e.next()
		x = &litExpr{v: t.n}
	case "regex":
		e.next()
		k := strings.LastIndexByte(t.s, '/')
		x = &regexExpr{source: t.s[:k], flags: t.s[k+1:]}
	case "name":
		e.next()
		switch {
		case t.s == "true" || t.s == "True" && e.cookie:
			x = &litExpr{v: true}
		case t.s == "false" || t.s == "False" && e.cookie:
			x = &litExpr{v: false}
		case t.s == "none" || t.s == "null" || t.s == "None" && e.cookie:
			x = &litExpr{v: nil}
		default:
			x = &nameExpr{name: t.s, pos: t.pos}
		}
	case "op":
		switch t.s {
		case "(":
			e.next()
			if e.skipOp(")") {
				x = &arrayExpr{}
				break
			}
			first, err := e.parseExpression()
			if err != nil {
				return nil, err
			}
			if e.atOp(",") {
				items := []expr{first}
				for e.skipOp(",") {
					if e.atOp(")") {
						break
					}
					it, err := e.parseExpression()
					if err != nil {
						return nil, err
					}
					items = append(items, it)
				}
				x = &arrayExpr{items: items}
			} else {
				x = first
			}
			if err := e.expectOp(")"); err != nil {
				return nil, err
			}
		case "[":
			e.next()
			a := &arrayExpr{}
			for !e.atOp("]") {
				it, err := e.parseExpression()
				if err != nil {
					return nil, err
				}
				a.items = append(a.items, it)
				if !e.skipOp(",") {
					break
				}
			}
			if err := e.expectOp("]"); err != nil {
				return nil, err
			}
			x = a
		case "{":
			e.next()
			d := &dictExpr{}
			for !e.atOp("}") {
				var k expr
				kt := e.peek()
				if kt.kind == "name" {
					e.next()
					k = &litExpr{v: kt.s}
				} else {
					var err error
					if k, err = e.parsePrimary(); err != nil {
						return nil, err
					}
				}
				if err := e.expectOp(":"); err != nil {
					return nil, err
				}
				v, err := e.parseExpression()
				if err != nil {
					return nil, err
				}
				d.keys = append(d.keys, k)
				d.vals = append(d.vals, v)
				if !e.skipOp(",") {
					break
				}
			}
			if err := e.expectOp("}"); err != nil {
				return nil, err
			}
			x = d
		default:
			return nil, e.errHere("Unexpected " + describe(t))
		}
	case "eof":
		return nil, e.errHere("Expected expression, received end of input")
	}
	return e.parsePostfix(x)
}

func (e *exprParser) parsePostfix(x expr) (expr, error) {
	for {
		t := e.peek()
		switch {
		case e.atOp("."):
			e.next()
			n := e.peek()
			if n.kind != "name" && n.kind != "number" {
				return nil, e.errHere("Expected name, received " + describe(n))
			}
			e.next()
			key := n.s
			x = &memberExpr{obj: x, key: &litExpr{v: key}, pos: n.pos}
		case e.atOp("["):
			e.next()
			if e.cookie || e.atOp(":") {
				// Jinja slices: a[start:stop:step].
				var parts [3]expr
				k := 0
				isSlice := false
				for k < 3 {
					if !e.atOp(":") && !e.atOp("]") {
						v, err := e.parseExpression()
						if err != nil {
							return nil, err
						}
						parts[k] = v
					}
					if e.skipOp(":") {
						isSlice = true
						k++
						continue
					}
					break
				}
				if err := e.expectOp("]"); err != nil {
					return nil, err
				}
				if isSlice {
					x = &sliceExpr{obj: x, start: parts[0], stop: parts[1], step: parts[2]}
				} else {
					x = &memberExpr{obj: x, key: parts[0], pos: t.pos}
				}
				continue
			}
			k, err := e.parseExpression()
			if err != nil {
				return nil, err
			}
			if err := e.expectOp("]"); err != nil {
				return nil, err
			}
			x = &memberExpr{obj: x, key: k, pos: t.pos}
		case e.atOp("("):
			args, kw, err := e.parseArgs()
			if err != nil {
				return nil, err
			}
			x = &callExpr{fn: x, args: args, kw: kw, pos: t.pos}
		default:
			return x, nil
		}
	}
}
