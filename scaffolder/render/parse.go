package render

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/understage/understage/plugins/backend/ojson"
)

// Options configure one render.
type Options struct {
	// CookiecutterCompat switches the variable delimiters to {{ }}, enables
	// the Jinja-compatible methods and True/False/None, and adds the
	// jsonify filter (an alias of dump).
	CookiecutterCompat bool
	TrimBlocks         bool
	LstripBlocks       bool
	// Filters are extra filters (Backstage's own ones come from BackstageFilters).
	Filters map[string]Filter
	// Globals are extra global values or functions (Func).
	Globals map[string]any
	// Limits bound the work a template may do; zero fields take defaults.
	Limits Limits
	// Integrations resolves SCM hosts for parseRepoUrl and projectSlug
	// (DefaultIntegrations when nil).
	Integrations IntegrationType
}

// ---- AST ----

type node interface{}

type textNode struct {
	s   string
	pos pos
}

type outputNode struct {
	e   expr
	pos pos
}

type ifNode struct {
	cond expr
	body []node
	els  []node // nil, or an else branch (an elif is a nested ifNode)
	pos  pos
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
	pos     pos
}

type macroNode struct {
	name string
	sig  signature
	body []node
	pos  pos
}

// signature lists a macro's positional parameters, then its defaulted ones.
type signature struct {
	positional []string
	defaults   []param
}

type param struct {
	name string
	def  expr
}

type callBlockNode struct {
	call   *callExpr
	caller signature
	body   []node
	pos    pos
}

type filterBlockNode struct {
	f    *filterExpr // target is nil; filled with the body at runtime
	body []node
	pos  pos
}

type switchNode struct {
	e      expr
	cases  []switchCase
	def    []node
	hasDef bool
	pos    pos
}

type switchCase struct {
	cond expr
	body []node
}

type blockNode struct {
	name string
	body []node
	pos  pos
}

type expr interface{}

type litExpr struct {
	v   any
	pos pos
}
type nameExpr struct {
	name string
	pos  pos
}
type memberExpr struct {
	obj, key expr
	pos      pos
}
type sliceExpr struct {
	obj, start, stop, step expr
	pos                    pos
}
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

// binExpr is an arithmetic, logical or membership operator.
type binExpr struct {
	op   string // + - ~ * / % ** and or in
	l, r expr
	pos  pos
}
type unaryExpr struct {
	op  string // not - + floor
	x   expr
	pos pos
}

// compareExpr is a chain of comparisons: a < b == c.
type compareExpr struct {
	first  expr
	ops    []string
	rights []expr
	pos    pos
}
type condExpr struct {
	cond, then, els expr
	pos             pos
}
type isExpr struct {
	x       expr
	test    string
	args    []expr // nil when the test had no argument list
	hasArgs bool
	kwCount int
	pos     pos // of the test name
}
type groupExpr struct {
	items []expr
	pos   pos
}
type arrayExpr struct {
	items []expr
	pos   pos
}
type dictExpr struct {
	keys, vals []expr
	pos        pos
}
type regexExpr struct {
	source, flags string
	pos           pos
}

func exprPos(e expr) pos {
	switch t := e.(type) {
	case *litExpr:
		return t.pos
	case *nameExpr:
		return t.pos
	case *memberExpr:
		return t.pos
	case *sliceExpr:
		return t.pos
	case *callExpr:
		return t.pos
	case *filterExpr:
		return t.pos
	case *binExpr:
		return t.pos
	case *unaryExpr:
		return t.pos
	case *compareExpr:
		return t.pos
	case *condExpr:
		return t.pos
	case *isExpr:
		return t.pos
	case *groupExpr:
		return t.pos
	case *arrayExpr:
		return t.pos
	case *dictExpr:
		return t.pos
	case *regexExpr:
		return t.pos
	}
	return pos{}
}

// ---- template parser ----

var emptyStructuralTags = setOf("else", "endif", "endfor", "endmacro", "endcall", "endfilter", "endset", "default", "endswitch")
var structuralStopTags = setOf("else", "endif", "endfor", "endmacro", "endcall", "endfilter", "endset", "default", "endswitch", "elif", "elseif", "case")
var statementTags = []string{"if", "for", "set", "macro", "call", "filter", "block", "switch", "include", "import", "from", "extends"}

type parser struct {
	toks  []token
	i     int
	opts  *Options
	nodes int
	depth int
	lim   Limits
}

func parseTemplate(src string, opts *Options, lim Limits) ([]node, error) {
	vs := "${{"
	if opts.CookiecutterCompat {
		vs = "{{"
	}
	sc := &scanner{src: src, varStart: vs, opts: opts}
	toks, err := sc.scan()
	if err != nil {
		return nil, positionRegexError(src, err)
	}
	p := &parser{toks: toks, opts: opts, lim: lim}
	body, stop, err := p.parseBody(nil)
	if err != nil {
		return nil, positionRegexError(src, err)
	}
	if stop != nil {
		return nil, parseError(stop.pos, "Unexpected "+quoteDiagnostic(tagName(stop.value))+" tag")
	}
	if err := uniqueBlocks(body, map[string]pos{}); err != nil {
		return nil, err
	}
	return body, nil
}

// uniqueBlocks rejects a block name declared twice, anywhere.
func uniqueBlocks(nodes []node, seen map[string]pos) error {
	for _, n := range nodes {
		var children [][]node
		switch t := n.(type) {
		case *blockNode:
			if first, ok := seen[t.name]; ok {
				return parseError(t.pos, fmt.Sprintf("Block %s is declared more than once; the first declaration is at line %d, column %d", quoteDiagnostic(t.name), first.line+1, first.col+1))
			}
			seen[t.name] = t.pos
			children = [][]node{t.body}
		case *ifNode:
			children = [][]node{t.body, t.els}
		case *forNode:
			children = [][]node{t.body, t.els}
		case *setNode:
			children = [][]node{t.body}
		case *macroNode:
			children = [][]node{t.body}
		case *callBlockNode:
			children = [][]node{t.body}
		case *filterBlockNode:
			children = [][]node{t.body}
		case *switchNode:
			children = [][]node{t.def}
			for _, c := range t.cases {
				children = append(children, c.body)
			}
		}
		for _, c := range children {
			if err := uniqueBlocks(c, seen); err != nil {
				return err
			}
		}
	}
	return nil
}

// positionRegexError places a bad regex literal met while scanning tags.
func positionRegexError(src string, err error) error {
	var re *regexLiteralError
	if errors.As(err, &re) {
		return parseError(sourcePos(src, re.at), re.msg)
	}
	return err
}

func (p *parser) count(at pos) error {
	p.nodes++
	if p.nodes > p.lim.Nodes {
		return &TemplateLimitError{Limit: "AST node", Phase: "parse", Configured: p.lim.Nodes, Observed: p.nodes, Line: at.line + 1, Column: at.col + 1}
	}
	return nil
}

// parseBody parses nodes until one of the stop tags; it returns the stop
// token, or nil at the end of the template.
func (p *parser) parseBody(stops map[string]bool) ([]node, *token, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > p.lim.Depth {
		at := pos{}
		if p.i > 0 {
			at = p.toks[p.i-1].pos
		}
		return nil, nil, &TemplateLimitError{Limit: "nesting depth", Phase: "parse", Configured: p.lim.Depth, Observed: p.depth, Line: at.line + 1, Column: at.col + 1}
	}
	var out []node
	for p.i < len(p.toks) {
		t := &p.toks[p.i]
		p.i++
		if err := p.count(t.pos); err != nil {
			return nil, nil, err
		}
		switch t.kind {
		case "text":
			out = append(out, &textNode{s: t.value, pos: t.pos})
			continue
		case "variable":
			e, err := p.expression(t.value, t, true)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, &outputNode{e: e, pos: t.pos})
			continue
		}
		name := tagName(t.value)
		if stops[name] {
			if emptyStructuralTags[name] && tagRemainder(t.value) != "" {
				return nil, nil, parseError(t.pos, name+" tag does not accept trailing content")
			}
			return out, t, nil
		}
		if structuralStopTags[name] {
			return nil, nil, parseError(t.pos, structuralMismatch(name, stops))
		}
		n, err := p.parseStatement(name, tagRemainder(t.value), t)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, n)
	}
	return out, nil, nil
}

func structuralMismatch(name string, stops map[string]bool) string {
	if len(stops) == 0 {
		return "Unexpected " + quoteDiagnostic(name) + " tag without a matching opening tag"
	}
	var names []string
	for _, s := range stopOrder {
		if stops[s] {
			names = append(names, quoteDiagnostic(s))
		}
	}
	desc := names[0]
	if len(names) > 1 {
		desc = strings.Join(names[:len(names)-1], ", ") + ", or " + names[len(names)-1]
	}
	return "Unexpected " + quoteDiagnostic(name) + " tag; expected " + desc
}

// stopOrder lists stop tags in the order nunjitsu declares them, which is
// the order its messages name them.
var stopOrder = []string{"elif", "elseif", "case", "default", "else", "endif", "endfor", "endset", "endmacro", "endcall", "endfilter", "endblock", "endswitch"}

func stopSet(names ...string) map[string]bool { return setOf(names...) }

func (p *parser) parseStatement(name, rest string, t *token) (node, error) {
	switch name {
	case "if":
		return p.parseIf(rest, t)
	case "for":
		return p.parseFor(rest, t)
	case "set":
		return p.parseSet(rest, t)
	case "macro":
		return p.parseMacro(rest, t)
	case "call":
		return p.parseCall(rest, t)
	case "filter":
		return p.parseFilterBlock(rest, t)
	case "block":
		return p.parseBlock(rest, t)
	case "switch":
		return p.parseSwitch(rest, t)
	case "include", "import", "from", "extends":
		return nil, parseError(t.pos, "Unsupported template-loading tag "+quoteDiagnostic(name))
	case "":
		return nil, parseError(t.pos, "Template block tag cannot be empty")
	}
	return nil, parseError(t.pos, unknownNameMessage("template tag", name, statementTags))
}

func (p *parser) parseIf(cond string, t *token) (node, error) {
	c, err := p.expression(cond, t, true)
	if err != nil {
		return nil, err
	}
	body, stop, err := p.parseBody(stopSet("elif", "elseif", "else", "endif"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endif tag")
	}
	n := &ifNode{cond: c, body: body, pos: t.pos}
	switch tagName(stop.value) {
	case "elif", "elseif":
		inner, err := p.parseIf(tagRemainder(stop.value), stop)
		if err != nil {
			return nil, err
		}
		n.els = []node{inner}
	case "else":
		els, stop2, err := p.parseBody(stopSet("endif"))
		if err != nil {
			return nil, err
		}
		if stop2 == nil {
			return nil, parseError(t.pos, "Missing endif tag")
		}
		if els == nil {
			els = []node{}
		}
		n.els = els
	}
	return n, nil
}

func (p *parser) parseFor(header string, t *token) (node, error) {
	left, right, ok, err := splitTopLevelKeyword(header, "in")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, parseError(t.pos, "For tag requires an in expression")
	}
	vars, err := p.targets(left, t)
	if err != nil {
		return nil, err
	}
	if len(vars) == 1 && vars[0] == "loop" {
		return nil, parseError(t.pos, "A single loop target cannot be named loop")
	}
	iter, err := p.expression(right, t, true)
	if err != nil {
		return nil, err
	}
	body, stop, err := p.parseBody(stopSet("else", "endfor"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endfor tag")
	}
	n := &forNode{vars: vars, iter: iter, body: body, pos: t.pos}
	if tagName(stop.value) == "else" {
		els, stop2, err := p.parseBody(stopSet("endfor"))
		if err != nil {
			return nil, err
		}
		if stop2 == nil {
			return nil, parseError(t.pos, "Missing endfor tag")
		}
		n.els = els
	}
	return n, nil
}

func (p *parser) parseSet(header string, t *token) (node, error) {
	eq, err := findTopLevel(header, '=')
	if err != nil {
		return nil, err
	}
	if eq >= 0 {
		targets, err := p.targets(header[:eq], t)
		if err != nil {
			return nil, err
		}
		v, err := p.expression(header[eq+1:], t, true)
		if err != nil {
			return nil, err
		}
		return &setNode{targets: targets, value: v, pos: t.pos}, nil
	}
	targets, err := p.targets(header, t)
	if err != nil {
		return nil, err
	}
	body, stop, err := p.parseBody(stopSet("endset"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endset tag")
	}
	if containsMacro(body) {
		return nil, parseError(t.pos, "Macro declarations are not supported inside set captures")
	}
	return &setNode{targets: targets, body: body, pos: t.pos}, nil
}

var macroSignatureRe = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)[ \t\n\r\x{a0}]*\(((?s).*)\)$`)

func (p *parser) parseMacro(header string, t *token) (node, error) {
	m := macroSignatureRe.FindStringSubmatch(trimCodeSpace(header))
	if m == nil {
		return nil, parseError(t.pos, "Invalid macro signature")
	}
	if isReservedName(m[1]) {
		return nil, parseError(t.vpos, "Template name "+quoteDiagnostic(m[1])+" is reserved")
	}
	sig, err := p.signature(m[2], t)
	if err != nil {
		return nil, err
	}
	body, stop, err := p.parseBody(stopSet("endmacro"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endmacro tag")
	}
	return &macroNode{name: m[1], sig: sig, body: body, pos: t.pos}, nil
}

func (p *parser) parseCall(header string, t *token) (node, error) {
	callerArgs := ""
	src := trimCodeSpace(header)
	if strings.HasPrefix(src, "(") {
		closing, err := findMatchingDelimiter(src, 0)
		if err != nil {
			return nil, err
		}
		if closing < 0 {
			return nil, parseError(t.pos, "Invalid call-block arguments")
		}
		callerArgs = src[1:closing]
		src = trimCodeSpace(src[closing+1:])
	}
	e, err := p.expression(src, t, true)
	if err != nil {
		return nil, err
	}
	call, ok := e.(*callExpr)
	if !ok {
		return nil, parseError(t.pos, "Call block requires a function call")
	}
	if !isStaticCallTarget(call.fn) {
		return nil, parseError(t.pos, "Call block target must be a static macro reference")
	}
	body, stop, err := p.parseBody(stopSet("endcall"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endcall tag")
	}
	sig, err := p.signature(callerArgs, t)
	if err != nil {
		return nil, err
	}
	return &callBlockNode{call: call, caller: sig, body: body, pos: t.pos}, nil
}

func isStaticCallTarget(e expr) bool {
	switch t := e.(type) {
	case *nameExpr:
		return true
	case *memberExpr:
		if !isStaticCallTarget(t.obj) {
			return false
		}
		l, ok := t.key.(*litExpr)
		if !ok {
			return false
		}
		switch l.v.(type) {
		case *regexExpr, *array:
			return false
		}
		return true
	}
	return false
}

func (p *parser) parseFilterBlock(header string, t *token) (node, error) {
	body, stop, err := p.parseBody(stopSet("endfilter"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endfilter tag")
	}
	if containsMacro(body) {
		return nil, parseError(t.pos, "Macro declarations are not supported inside filter captures")
	}
	ep, err := p.exprParser(header, tokenValuePos(t, header, true))
	if err != nil {
		return nil, err
	}
	f, err := ep.parseFilterInvocation(nil)
	if err != nil {
		return nil, err
	}
	if err := ep.expectEOF(); err != nil {
		return nil, err
	}
	return &filterBlockNode{f: f, body: body, pos: t.pos}, nil
}

func (p *parser) parseBlock(header string, t *token) (node, error) {
	e, err := p.expression(trimCodeSpace(header), t, true)
	if err != nil {
		return nil, err
	}
	name, ok := e.(*nameExpr)
	if !ok {
		return nil, parseError(t.pos, "Block name must be an identifier")
	}
	body, stop, err := p.parseBody(stopSet("endblock"))
	if err != nil {
		return nil, err
	}
	if stop == nil {
		return nil, parseError(t.pos, "Missing endblock tag")
	}
	if closing := tagRemainder(stop.value); closing != "" && closing != name.name {
		return nil, parseError(stop.pos, "Endblock name must match its opening block")
	}
	return &blockNode{name: name.name, body: body, pos: t.pos}, nil
}

func (p *parser) parseSwitch(header string, t *token) (node, error) {
	e, err := p.expression(header, t, true)
	if err != nil {
		return nil, err
	}
	n := &switchNode{e: e, pos: t.pos}
	stops := stopSet("case", "default", "endswitch")
	body, stop, err := p.parseBody(stops)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		return nil, parseError(t.pos, "Switch content must begin with case or default")
	}
	for stop != nil && tagName(stop.value) == "case" {
		ct := stop
		cond, err := p.expression(tagRemainder(ct.value), ct, true)
		if err != nil {
			return nil, err
		}
		if body, stop, err = p.parseBody(stops); err != nil {
			return nil, err
		}
		n.cases = append(n.cases, switchCase{cond: cond, body: body})
	}
	if stop != nil && tagName(stop.value) == "default" {
		if body, stop, err = p.parseBody(stopSet("endswitch")); err != nil {
			return nil, err
		}
		n.def, n.hasDef = body, true
	}
	if stop == nil || tagName(stop.value) != "endswitch" {
		return nil, parseError(t.pos, "Missing endswitch tag")
	}
	if len(n.cases) == 0 && !n.hasDef {
		return nil, parseError(t.pos, "Switch requires at least one case or default")
	}
	return n, nil
}

func containsMacro(nodes []node) bool {
	for _, n := range nodes {
		switch t := n.(type) {
		case *macroNode:
			return true
		case *ifNode:
			if containsMacro(t.body) || containsMacro(t.els) {
				return true
			}
		case *forNode:
			if containsMacro(t.body) || containsMacro(t.els) {
				return true
			}
		case *setNode:
			if containsMacro(t.body) {
				return true
			}
		case *callBlockNode:
			if containsMacro(t.body) {
				return true
			}
		case *filterBlockNode:
			if containsMacro(t.body) {
				return true
			}
		case *blockNode:
			if containsMacro(t.body) {
				return true
			}
		case *switchNode:
			if containsMacro(t.def) {
				return true
			}
			for _, c := range t.cases {
				if containsMacro(c.body) {
					return true
				}
			}
		}
	}
	return false
}

// tokenValuePos is where source (a part of a tag's value) starts.
func tokenValuePos(t *token, source string, fromEnd bool) pos {
	diag := source
	if strings.HasSuffix(source, ")") && !strings.Contains(t.value, source) {
		diag = source[:len(source)-1]
	}
	var off int
	switch {
	case diag == "":
		off = len(t.value)
	case fromEnd:
		off = strings.LastIndex(t.value, diag)
	default:
		off = strings.Index(t.value, diag)
	}
	if off < 0 {
		off = 0
	}
	return advancePos(t.vpos, t.value[:off])
}

func (p *parser) exprParser(src string, at pos) (*exprParser, error) {
	toks, err := tokenize(src, at)
	if err != nil {
		return nil, err
	}
	return &exprParser{toks: toks, p: p}, nil
}

func (p *parser) expression(src string, t *token, fromEnd bool) (expr, error) {
	ep, err := p.exprParser(src, tokenValuePos(t, src, fromEnd))
	if err != nil {
		return nil, err
	}
	e, err := ep.parseInlineIf()
	if err != nil {
		return nil, err
	}
	return e, ep.expectEOF()
}

func (p *parser) targets(src string, t *token) ([]string, error) {
	ep, err := p.exprParser(src, tokenValuePos(t, src, false))
	if err != nil {
		return nil, err
	}
	var out []string
	for {
		tok, err := ep.expect("name")
		if err != nil {
			return nil, err
		}
		if literalNames[tok.value] {
			return nil, ep.failAt(tok.pos, "Binding targets must be ordinary names")
		}
		if isReservedName(tok.value) {
			return nil, ep.failAt(tok.pos, "Template name "+quoteDiagnostic(tok.value)+" is reserved")
		}
		out = append(out, tok.value)
		if !ep.consume(",") {
			break
		}
	}
	return out, ep.expectEOF()
}

func (p *parser) signature(src string, t *token) (signature, error) {
	var sig signature
	if trimCodeSpace(src) == "" {
		return sig, nil
	}
	ep, err := p.exprParser(src+")", tokenValuePos(t, src, true))
	if err != nil {
		return sig, err
	}
	args, kws, err := ep.parseArguments(")")
	if err != nil {
		return sig, err
	}
	if err := ep.expectEOF(); err != nil {
		return sig, err
	}
	if len(args) > 0 {
		for _, a := range args {
			n, ok := a.(*nameExpr)
			if !ok {
				return sig, ep.failAt(exprPos(a), "Formal parameters must be names")
			}
			sig.positional = append(sig.positional, n.name)
		}
	}
	for _, k := range kws {
		sig.defaults = append(sig.defaults, param{name: k.name, def: k.v})
	}
	return sig, nil
}

func (p *parser) countNode(at pos) error { return p.count(at) }

// ---- expression tokenizer ----

type etok struct {
	kind  string // name, number, string, regex, operator, eof
	value string
	pos   pos
}

var multiOps = []string{"===", "!==", "**", "//", "==", "!=", "<=", ">="}

const singleOps = "()[]{}.,:|~+-*/%<>=."

var decimalNumberRe = regexp.MustCompile(`^\d+(?:\.\d*)?`)

func tokenize(src string, at pos) ([]etok, error) {
	var toks []etok
	p := at
	i := 0
	fail := func(tp pos, msg string) error { return parseError(tp, msg) }
	for i < len(src) {
		c := src[i]
		if isCodeSpace(c) {
			p = advancePos(p, src[i:i+1])
			i++
			continue
		}
		if strings.HasPrefix(src[i:], "\u00a0") {
			p.col++
			i += 2
			continue
		}
		tp := p
		var prev *etok
		if len(toks) > 0 {
			prev = &toks[len(toks)-1]
		}
		if e := scanIdent(src, i, prev != nil && prev.kind == "operator" && prev.value == "."); e >= 0 {
			if src[i:e] == "r" && e < len(src) && src[e] == '/' {
				lit, err := scanRegexLiteral(src, i)
				if err != nil {
					return nil, fail(tp, err.Error())
				}
				toks = append(toks, etok{"regex", lit.source + "/" + lit.flags, tp})
				p = advancePos(p, src[i:lit.end])
				i = lit.end
			} else {
				toks = append(toks, etok{"name", src[i:e], tp})
				p.col += e - i
				i = e
			}
			continue
		}
		afterOperand := prev != nil && (prev.kind == "name" || prev.kind == "number" || prev.kind == "string" || prev.kind == "regex" ||
			prev.kind == "operator" && (prev.value == ")" || prev.value == "]" || prev.value == "}"))
		if c == '.' && i+1 < len(src) && isDigit(src[i+1]) && !afterOperand {
			return nil, fail(tp, "Invalid numeric literal")
		}
		if m := decimalNumberRe.FindString(src[i:]); m != "" {
			if j := i + len(m); j < len(src) && (isIdentStart(src[j])) {
				return nil, fail(tp, "Invalid numeric literal")
			}
			toks = append(toks, etok{"number", m, tp})
			p.col += len(m)
			i += len(m)
			continue
		}
		if c == '"' || c == '\'' {
			var b strings.Builder
			j := i + 1
			closed := false
			for j < len(src) {
				ch := src[j]
				if ch == c {
					closed = true
					break
				}
				if ch != '\\' {
					b.WriteByte(ch)
					j++
					continue
				}
				j++
				if j >= len(src) {
					break
				}
				// A JavaScript string escapes one UTF-16 unit; a rune here.
				r, n := utf8.DecodeRuneInString(src[j:])
				switch r {
				case 'n':
					b.WriteByte('\n')
				case 'r':
					b.WriteByte('\r')
				case 't':
					b.WriteByte('\t')
				default:
					b.WriteString(src[j : j+n])
				}
				j += n
			}
			if !closed {
				return nil, fail(tp, "Unterminated string literal")
			}
			toks = append(toks, etok{"string", b.String(), tp})
			p = advancePos(p, src[i:j+1])
			i = j + 1
			continue
		}
		op := ""
		for _, o := range multiOps {
			if strings.HasPrefix(src[i:], o) {
				op = o
				break
			}
		}
		if op == "" {
			if strings.IndexByte(singleOps, c) < 0 {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, fail(tp, "Unexpected character "+quoteDiagnostic(string(r)))
			}
			op = string(c)
		}
		toks = append(toks, etok{"operator", op, tp})
		p.col += len(op)
		i += len(op)
	}
	return append(toks, etok{"eof", "", p}), nil
}

// ---- expression parser ----

var literalNames = setOf("true", "false", "null", "none")

type exprParser struct {
	toks  []etok
	i     int
	p     *parser
	depth int
}

func (e *exprParser) peek(off int) etok {
	return e.toks[min(e.i+off, len(e.toks)-1)]
}

func (e *exprParser) consume(op string) bool {
	t := e.peek(0)
	if t.kind != "operator" || t.value != op {
		return false
	}
	e.i++
	return true
}

func (e *exprParser) consumeName(n string) bool {
	t := e.peek(0)
	if t.kind != "name" || t.value != n {
		return false
	}
	e.i++
	return true
}

func (e *exprParser) failAt(at pos, msg string) error { return parseError(at, msg) }

func (e *exprParser) fail(msg string) error { return parseError(e.peek(0).pos, msg) }

func (e *exprParser) expect(kind string) (etok, error) {
	t := e.peek(0)
	if t.kind != kind {
		if t.value == "" {
			return t, e.failAt(t.pos, "Expected "+kind+", received end of input")
		}
		return t, e.failAt(t.pos, "Expected "+kind+", received "+quoteDiagnostic(t.value))
	}
	e.i++
	return t, nil
}

func (e *exprParser) expectEOF() error {
	_, err := e.expect("eof")
	return err
}

func (e *exprParser) expectValue(v string) error {
	if !e.consume(v) {
		return e.fail("Expected " + v)
	}
	return nil
}

func (e *exprParser) node(at pos) error { return e.p.countNode(at) }

func (e *exprParser) nested(f func() (expr, error)) (expr, error) {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > e.p.lim.Depth {
		t := e.peek(0)
		return nil, &TemplateLimitError{Limit: "nesting depth", Phase: "parse", Configured: e.p.lim.Depth, Observed: e.depth, Line: t.pos.line + 1, Column: t.pos.col + 1}
	}
	return f()
}

func (e *exprParser) parseInlineIf() (expr, error) {
	body, err := e.parseOr()
	if err != nil {
		return nil, err
	}
	if !e.consumeName("if") {
		return body, nil
	}
	cond, err := e.parseOr()
	if err != nil {
		return nil, err
	}
	var els expr
	if e.consumeName("else") {
		if els, err = e.nested(e.parseOr); err != nil {
			return nil, err
		}
	}
	at := exprPos(body)
	return &condExpr{cond: cond, then: body, els: els, pos: at}, e.node(at)
}

func (e *exprParser) parseOr() (expr, error) {
	left, err := e.parseAnd()
	if err != nil {
		return nil, err
	}
	for e.consumeName("or") {
		right, err := e.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: "or", l: left, r: right, pos: exprPos(left)}
	}
	return left, nil
}

func (e *exprParser) parseAnd() (expr, error) {
	left, err := e.parseNot()
	if err != nil {
		return nil, err
	}
	for e.consumeName("and") {
		right, err := e.parseNot()
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: "and", l: left, r: right, pos: exprPos(left)}
	}
	return left, nil
}

func (e *exprParser) parseNot() (expr, error) {
	at := e.peek(0).pos
	if e.consumeName("not") {
		x, err := e.nested(e.parseNot)
		if err != nil {
			return nil, err
		}
		return lowerNot(x, at), e.node(at)
	}
	return e.parseMembership()
}

// lowerNot applies "not" to the leftmost operand of arithmetic and
// comparisons, as Nunjucks's parser does (not 1 + 1 is (not 1) + 1).
func lowerNot(x expr, at pos) expr {
	switch t := x.(type) {
	case *binExpr:
		switch t.op {
		case "+", "~", "-", "*", "/", "%":
			return &binExpr{op: t.op, l: lowerNot(t.l, at), r: t.r, pos: at}
		}
	case *compareExpr:
		return &compareExpr{first: lowerNot(t.first, at), ops: t.ops, rights: t.rights, pos: at}
	}
	return &unaryExpr{op: "not", x: x, pos: at}
}

func (e *exprParser) parseMembership() (expr, error) {
	left, err := e.parseTest()
	if err != nil {
		return nil, err
	}
	for {
		negate := false
		if e.peek(0).value == "not" && e.peek(1).value == "in" {
			e.i += 2
			negate = true
		} else if !e.consumeName("in") {
			return left, nil
		}
		right, err := e.parseTest()
		if err != nil {
			return nil, err
		}
		at := exprPos(left)
		left = &binExpr{op: "in", l: left, r: right, pos: at}
		if negate {
			left = &unaryExpr{op: "not", x: left, pos: at}
		}
	}
}

func (e *exprParser) parseTest() (expr, error) {
	left, err := e.parseCompare()
	if err != nil {
		return nil, err
	}
	if !e.consumeName("is") {
		return left, nil
	}
	negate := e.consumeName("not")
	right, err := e.parseCompare()
	if err != nil {
		return nil, err
	}
	n := &isExpr{x: left, pos: exprPos(right)}
	switch t := right.(type) {
	case *callExpr:
		n.test, n.args, n.hasArgs, n.kwCount = staticTestName(t.fn), t.args, true, len(t.kw)
	case *filterExpr:
		// "x is a | b(...)": nunjitsu takes the filter's name and arguments.
		n.test, n.args, n.hasArgs, n.kwCount = t.name, append([]expr{t.target}, t.args...), true, len(t.kw)
	default:
		n.test = staticTestName(right)
	}
	if negate {
		return &unaryExpr{op: "not", x: n, pos: exprPos(left)}, nil
	}
	return n, nil
}

func staticTestName(e expr) string {
	switch t := e.(type) {
	case *nameExpr:
		return t.name
	case *litExpr:
		return primString(t.v)
	case *regexExpr:
		return "/" + t.source + "/" + t.flags
	}
	return "undefined"
}

var equalityOps = setOf("==", "===", "!=", "!==")
var relationalOps = setOf("<", "<=", ">", ">=")

func (e *exprParser) parseCompare() (expr, error) {
	return e.parseComparison(equalityOps, func() (expr, error) { return e.parseComparison(relationalOps, e.parseAdditive) })
}

func (e *exprParser) parseComparison(ops map[string]bool, next func() (expr, error)) (expr, error) {
	left, err := next()
	if err != nil {
		return nil, err
	}
	var c *compareExpr
	for t := e.peek(0); t.kind == "operator" && ops[t.value]; t = e.peek(0) {
		e.i++
		right, err := next()
		if err != nil {
			return nil, err
		}
		if c == nil {
			c = &compareExpr{first: left, pos: exprPos(left)}
		}
		c.ops = append(c.ops, t.value)
		c.rights = append(c.rights, right)
	}
	if c == nil {
		return left, nil
	}
	return c, nil
}

func (e *exprParser) parseAdditive() (expr, error) {
	left, err := e.parseMultiply()
	if err != nil {
		return nil, err
	}
	for {
		op := ""
		for _, o := range []string{"+", "-", "~"} {
			if e.consume(o) {
				op = o
				break
			}
		}
		if op == "" {
			return left, nil
		}
		right, err := e.parseMultiply()
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: op, l: left, r: right, pos: exprPos(left)}
	}
}

// Nunjucks gives *, /, // and % separate precedence levels; nunjitsu keeps
// their grouping but evaluates each run left to right. A sequence is an
// operand followed by (operator, operand) pairs.
type mulOp struct {
	op    string
	right expr
}

type mulSeq struct {
	first expr
	ops   []mulOp
}

func (e *exprParser) parseMultiply() (expr, error) {
	s, err := e.parseMulSeq()
	if err != nil {
		return nil, err
	}
	return materialize(s), nil
}

func (e *exprParser) parseMulSeq() (*mulSeq, error) {
	s, err := e.parseDivSeq()
	if err != nil {
		return nil, err
	}
	for e.consume("*") {
		r, err := e.parseDivSeq()
		if err != nil {
			return nil, err
		}
		appendSeq(s, "*", r)
	}
	return s, nil
}

func (e *exprParser) parseDivSeq() (*mulSeq, error) {
	s, err := e.parseFloorDivSeq()
	if err != nil {
		return nil, err
	}
	for e.consume("/") {
		r, err := e.parseFloorDivSeq()
		if err != nil {
			return nil, err
		}
		appendSeq(s, "/", r)
	}
	return s, nil
}

func (e *exprParser) parseFloorDivSeq() (*mulSeq, error) {
	s, err := e.parseModSeq()
	if err != nil {
		return nil, err
	}
	for e.consume("//") {
		r, err := e.parseModSeq()
		if err != nil {
			return nil, err
		}
		appendSeq(s, "/", r)
		target := materialize(s)
		s = &mulSeq{first: &unaryExpr{op: "floor", x: target, pos: exprPos(target)}}
	}
	return s, nil
}

func (e *exprParser) parseModSeq() (*mulSeq, error) {
	first, err := e.parsePower()
	if err != nil {
		return nil, err
	}
	s := &mulSeq{first: first}
	for e.consume("%") {
		r, err := e.parsePower()
		if err != nil {
			return nil, err
		}
		s.ops = append(s.ops, mulOp{"%", r})
	}
	return s, nil
}

func appendSeq(s *mulSeq, op string, r *mulSeq) {
	s.ops = append(s.ops, mulOp{op, r.first})
	s.ops = append(s.ops, r.ops...)
}

func materialize(s *mulSeq) expr {
	left := s.first
	for _, o := range s.ops {
		left = &binExpr{op: o.op, l: left, r: o.right, pos: exprPos(left)}
	}
	return left
}

func (e *exprParser) parsePower() (expr, error) {
	left, err := e.parseFilter()
	if err != nil {
		return nil, err
	}
	for e.consume("**") {
		right, err := e.parseFilter()
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: "**", l: left, r: right, pos: exprPos(left)}
	}
	return left, nil
}

func (e *exprParser) parseFilter() (expr, error) {
	x, err := e.parseUnary()
	if err != nil {
		return nil, err
	}
	for e.consume("|") {
		if x, err = e.parseFilterInvocation(x); err != nil {
			return nil, err
		}
	}
	return x, nil
}

func (e *exprParser) parseFilterInvocation(input expr) (*filterExpr, error) {
	first, err := e.expect("name")
	if err != nil {
		return nil, err
	}
	if isReservedName(first.value) {
		return nil, e.failAt(first.pos, "Template name "+quoteDiagnostic(first.value)+" is reserved")
	}
	name := first.value
	for e.consume(".") {
		seg, err := e.expect("name")
		if err != nil {
			return nil, err
		}
		if isReservedName(seg.value) {
			return nil, e.failAt(seg.pos, "Template name "+quoteDiagnostic(seg.value)+" is reserved")
		}
		name += "." + seg.value
	}
	f := &filterExpr{target: input, name: name, pos: first.pos}
	if e.consume("(") {
		e.depth++
		args, kws, err := e.parseArguments(")")
		e.depth--
		if err != nil {
			return nil, err
		}
		f.args, f.kw = args, kws
	}
	return f, e.node(first.pos)
}

func (e *exprParser) parseUnary() (expr, error) {
	t := e.peek(0)
	for _, op := range []string{"-", "+"} {
		if e.consume(op) {
			x, err := e.nested(e.parseUnary)
			if err != nil {
				return nil, err
			}
			if u, ok := x.(*unaryExpr); ok && u.op == op {
				return nil, e.failAt(u.pos, "Repeated unparenthesized unary "+op+" is not supported")
			}
			return &unaryExpr{op: op, x: x, pos: t.pos}, e.node(t.pos)
		}
	}
	return e.parsePostfix()
}

func (e *exprParser) parsePostfix() (expr, error) {
	x, err := e.parsePrimary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case e.consume("."):
			key, err := e.expect("name")
			if err != nil {
				return nil, err
			}
			if isReservedName(key.value) {
				return nil, e.failAt(key.pos, "Template name "+quoteDiagnostic(key.value)+" is reserved")
			}
			x = &memberExpr{obj: x, key: &litExpr{v: key.value, pos: key.pos}, pos: key.pos}
		case e.consume("["):
			v, err := e.nested(e.parseSubscript)
			if err != nil {
				return nil, err
			}
			if err := e.expectValue("]"); err != nil {
				return nil, err
			}
			vp := exprPos(v)
			if s, ok := v.(*sliceExpr); ok {
				s.obj = x
				x = s
				continue
			}
			if l, ok := v.(*litExpr); ok {
				if s, ok := l.v.(string); ok && isReservedName(s) {
					return nil, e.failAt(vp, "Template name "+quoteDiagnostic(s)+" is reserved")
				}
			}
			x = &memberExpr{obj: x, key: v, pos: vp}
		case e.consume("("):
			e.depth++
			args, kws, err := e.parseArguments(")")
			e.depth--
			if err != nil {
				return nil, err
			}
			x = &callExpr{fn: x, args: args, kw: kws, pos: exprPos(x)}
		default:
			return x, nil
		}
		if err := e.node(exprPos(x)); err != nil {
			return nil, err
		}
	}
}

func (e *exprParser) parseSubscript() (expr, error) {
	at := e.peek(0).pos
	var start, stop, step expr
	var err error
	if v := e.peek(0).value; v != ":" && v != "]" || e.peek(0).kind != "operator" {
		if start, err = e.parseInlineIf(); err != nil {
			return nil, err
		}
	}
	if !e.consume(":") {
		if start == nil {
			return nil, e.fail("Expected subscript expression")
		}
		return start, nil
	}
	if v := e.peek(0).value; v != ":" && v != "]" || e.peek(0).kind != "operator" {
		if stop, err = e.parseInlineIf(); err != nil {
			return nil, err
		}
	}
	if e.consume(":") && !(e.peek(0).kind == "operator" && e.peek(0).value == "]") {
		if step, err = e.parseInlineIf(); err != nil {
			return nil, err
		}
	}
	if start == nil {
		start = &litExpr{v: nil, pos: at}
	}
	if stop == nil {
		stop = &litExpr{v: nil, pos: at}
	}
	if step == nil {
		step = &litExpr{v: 1.0, pos: at}
	}
	return &sliceExpr{start: start, stop: stop, step: step, pos: at}, nil
}

func (e *exprParser) parsePrimary() (expr, error) {
	t := e.peek(0)
	if err := e.node(t.pos); err != nil {
		return nil, err
	}
	switch t.kind {
	case "number":
		e.i++
		f, _ := strconv.ParseFloat(strings.TrimSuffix(t.value, "."), 64)
		return &litExpr{v: f, pos: t.pos}, nil
	case "string":
		e.i++
		return &litExpr{v: t.value, pos: t.pos}, nil
	case "regex":
		e.i++
		k := strings.LastIndexByte(t.value, '/')
		return &regexExpr{source: t.value[:k], flags: t.value[k+1:], pos: t.pos}, nil
	case "name":
		e.i++
		switch t.value {
		case "true":
			return &litExpr{v: true, pos: t.pos}, nil
		case "false":
			return &litExpr{v: false, pos: t.pos}, nil
		case "none", "null":
			return &litExpr{v: nil, pos: t.pos}, nil
		}
		if isReservedName(t.value) {
			return nil, e.failAt(t.pos, "Template name "+quoteDiagnostic(t.value)+" is reserved")
		}
		return &nameExpr{name: t.value, pos: t.pos}, nil
	}
	switch {
	case e.consume("("):
		items, err := e.parseDelimitedNested(")")
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, e.failAt(t.pos, "Parenthesized expression cannot be empty")
		}
		return &groupExpr{items: items, pos: t.pos}, nil
	case e.consume("["):
		items, err := e.parseDelimitedNested("]")
		if err != nil {
			return nil, err
		}
		return &arrayExpr{items: items, pos: t.pos}, nil
	case e.consume("{"):
		e.depth++
		d, err := e.parseDict(t.pos)
		e.depth--
		return d, err
	}
	if t.value == "" {
		return nil, e.fail("Unexpected expression token at end of input")
	}
	return nil, e.fail("Unexpected expression token " + quoteDiagnostic(t.value))
}

func (e *exprParser) parseDelimitedNested(end string) ([]expr, error) {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > e.p.lim.Depth {
		t := e.peek(0)
		return nil, &TemplateLimitError{Limit: "nesting depth", Phase: "parse", Configured: e.p.lim.Depth, Observed: e.depth, Line: t.pos.line + 1, Column: t.pos.col + 1}
	}
	var items []expr
	if e.consume(end) {
		return items, nil
	}
	for {
		x, err := e.parseInlineIf()
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		if !e.consume(",") {
			break
		}
	}
	return items, e.expectValue(end)
}

func (e *exprParser) parseDict(at pos) (expr, error) {
	d := &dictExpr{pos: at}
	if e.consume("}") {
		return d, nil
	}
	for {
		kt := e.peek(0)
		var key expr
		switch {
		case kt.kind == "name" && !literalNames[kt.value]:
			e.i++
			key = &litExpr{v: kt.value, pos: kt.pos}
		case kt.kind == "string":
			e.i++
			key = &litExpr{v: kt.value, pos: kt.pos}
		default:
			return nil, e.failAt(kt.pos, "Dictionary keys must be strings or names")
		}
		if isReservedName(kt.value) {
			return nil, e.failAt(kt.pos, "Template name "+quoteDiagnostic(kt.value)+" is reserved")
		}
		if err := e.expectValue(":"); err != nil {
			return nil, err
		}
		v, err := e.parseInlineIf()
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, key)
		d.vals = append(d.vals, v)
		if !e.consume(",") {
			break
		}
	}
	return d, e.expectValue("}")
}

func (e *exprParser) parseArguments(end string) ([]expr, []kwArg, error) {
	var args []expr
	var kws []kwArg
	if e.consume(end) {
		return args, kws, nil
	}
	for {
		if e.peek(0).kind == "name" && e.peek(1).kind == "operator" && e.peek(1).value == "=" {
			k := e.peek(0)
			e.i++
			if isReservedName(k.value) {
				return nil, nil, e.failAt(k.pos, "Template name "+quoteDiagnostic(k.value)+" is reserved")
			}
			if err := e.expectValue("="); err != nil {
				return nil, nil, err
			}
			v, err := e.parseInlineIf()
			if err != nil {
				return nil, nil, err
			}
			kws = append(kws, kwArg{name: k.value, v: v})
		} else {
			v, err := e.parseInlineIf()
			if err != nil {
				return nil, nil, err
			}
			args = append(args, v)
		}
		if !e.consume(",") {
			break
		}
	}
	return args, kws, e.expectValue(end)
}

// ---- diagnostics ----

func isReservedName(n string) bool {
	return n == "constructor" || n == "prototype" || n == "__proto__"
}

// quoteDiagnostic quotes a value for a message as JSON.stringify does,
// bounded to 200 UTF-16 units.
func quoteDiagnostic(v string) string {
	u := units(v)
	if len(u) > 200 {
		v = fromUnits(u[:200]) + "…"
	}
	// []rune turns each invalid byte into U+FFFD, as JavaScript strings
	// hold no invalid UTF-8; ojson escapes exactly as JSON.stringify.
	return string(ojson.MustMarshal(string([]rune(v))))
}

// neutralize escapes the characters nunjitsu never prints raw and bounds a
// message to 1024 UTF-16 units.
func neutralize(msg string) string {
	var b strings.Builder
	for _, r := range msg {
		if r <= 0x1f || r >= 0x7f && r <= 0x9f || r == 0x61c || r == 0x200e || r == 0x200f || r == 0x2028 || r == 0x2029 ||
			r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 {
			b.WriteString(`\u`)
			h := strconv.FormatInt(int64(r), 16)
			b.WriteString(strings.Repeat("0", 4-len(h)) + h)
			continue
		}
		b.WriteRune(r)
	}
	s := b.String()
	if u := units(s); len(u) > 1024 {
		s = fromUnits(u[:1024]) + "…"
	}
	return s
}

func unknownNameMessage(desc, name string, candidates []string) string {
	msg := "Unknown " + desc + " " + quoteDiagnostic(name)
	if s := suggestName(name, candidates); s != "" {
		msg += "; did you mean " + quoteDiagnostic(s) + "?"
	}
	return msg
}

// suggestName is the closest candidate within a small edit distance.
func suggestName(v string, candidates []string) string {
	n := len(units(v))
	if n == 0 || n > 64 {
		return ""
	}
	maxDist := 3
	if n <= 4 {
		maxDist = 1
	} else if n <= 10 {
		maxDist = 2
	}
	best, bestDist := "", maxDist+1
	for i, c := range candidates {
		if i >= 256 {
			break
		}
		cn := len(units(c))
		if c == v || cn == 0 || cn > 64 || abs(cn-n) > maxDist {
			continue
		}
		if d := editDistance(units(v), units(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// editDistance is the optimal string alignment distance.
func editDistance(a, b []uint16) int {
	var before []int
	prev := make([]int, len(b)+1)
	for i := range prev {
		prev[i] = i
	}
	for i := 1; i <= len(a); i++ {
		cur := []int{i}
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if before != nil && i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d = min(d, before[j-2]+1)
			}
			cur = append(cur, d)
		}
		before, prev = prev, cur
	}
	return prev[len(b)]
}
