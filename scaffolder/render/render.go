// Package render is the scaffolder's template engine: an interpreter of the
// Nunjucks subset that Backstage's scaffolder renders through nunjitsu
// (`${{ }}` expressions, or `{{ }}` in cookiecutter mode, `{% %}` tags, the
// Nunjucks filters and tests and Backstage's own filters), with JavaScript
// value semantics, nunjitsu's whitespace handling and scoping, and its
// error messages and positions. testdata/corpus.json holds the cases
// recorded from Backstage that it is checked against.
//
// Values passed in and returned are ojson values: nil, bool, string,
// ojson.Number, []any and *ojson.Object (key order is kept, which `dump` and
// object outputs need). Plain encoding/json values (float64,
// map[string]any) are accepted on input too; maps have no order, so their
// keys are sorted. ojson.Undefined (JavaScript undefined) is returned by
// RenderValue for a sole expression that is undefined.
package render

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
)

// TemplateRenderError is a parse or evaluation failure, worded and placed
// as nunjitsu's (Backstage's engine) are.
type TemplateRenderError struct {
	Line, Column int // one-based
	Msg          string
}

func (e *TemplateRenderError) Error() string {
	return neutralize(fmt.Sprintf("Template error at line %d, column %d: %s", e.Line, e.Column, e.Msg))
}

// Name is the error name Backstage reports ("TemplateRenderError").
func (e *TemplateRenderError) Name() string { return "TemplateRenderError" }

// TemplateLimitError is a render stopped by one of its Limits.
type TemplateLimitError struct {
	Limit                string // what was counted: "output code unit", "work unit", ...
	Phase                string // parse or evaluate
	Configured, Observed int
	Line, Column         int // one-based; 0 when unknown
}

func (e *TemplateLimitError) Error() string {
	stage := "Template evaluation"
	if e.Phase == "parse" {
		stage = "Template parsing"
	}
	msg := fmt.Sprintf("%s exceeded the %s limit of %d (observed %d)", stage, e.Limit, e.Configured, e.Observed)
	if e.Line > 0 {
		msg += fmt.Sprintf(" at line %d, column %d", e.Line, e.Column)
	}
	return msg
}

// Name is the error name Backstage reports ("TemplateLimitError").
func (e *TemplateLimitError) Name() string { return "TemplateLimitError" }

// runtimeError is an evaluation failure; it takes the position of the
// innermost node it passes through.
type runtimeError struct {
	msg     string
	at      pos
	located bool
}

func (e *runtimeError) Error() string { return e.msg }

func errorf(format string, args ...any) error {
	return &runtimeError{msg: fmt.Sprintf(format, args...)}
}

// locate gives an unplaced error the position p.
func locate(err error, p pos) error {
	var re *runtimeError
	if errors.As(err, &re) && !re.located {
		re.at, re.located = p, true
		return re
	}
	var le *TemplateLimitError
	if errors.As(err, &le) && le.Line == 0 {
		le.Line, le.Column = p.line+1, p.col+1
	}
	return err
}

// Limits bound a single render.
type Limits struct {
	Steps  int // evaluation steps (default 1,000,000)
	Output int // output bytes of one rendered template (default 16 MiB)
	Depth  int // nesting depth of templates and macro calls (default 512)
	Nodes  int // AST nodes (default 1,000,000)
	Source int // template bytes (default 4 MiB)
}

// DefaultLimits are nunjitsu's defaults, which Backstage uses.
func DefaultLimits() Limits {
	return Limits{Steps: 1_000_000, Output: 16 << 20, Depth: 512, Nodes: 1_000_000, Source: 4 << 20}
}

func (l Limits) withDefaults() Limits {
	def := DefaultLimits()
	if l.Steps <= 0 {
		l.Steps = def.Steps
	}
	if l.Output <= 0 {
		l.Output = def.Output
	}
	if l.Depth <= 0 {
		l.Depth = def.Depth
	}
	if l.Nodes <= 0 {
		l.Nodes = def.Nodes
	}
	if l.Source <= 0 {
		l.Source = def.Source
	}
	return l
}

// Filter is a trusted filter; input and arguments are ojson values (ojson.Undefined
// for undefined) and the result is an ojson value.
type Filter func(input any, args ...any) (any, error)

// Func is a trusted global function with ojson arguments and result.
type Func func(args ...any) (any, error)

// RenderString renders a template to text (file contents and names).
func RenderString(ctx context.Context, tmpl string, vars map[string]any, opts Options) (string, error) {
	v, err := run(ctx, tmpl, vars, opts, false)
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// RenderValue renders a step input the way the scaffolder does: every string
// found by walking the value is rendered; a string that is one sole `${{ }}`
// expression keeps the expression's JSON type, other strings render to text
// (no JSON coercion: "{% if x %}true{% endif %}" stays the string "true");
// a string that fails to render is kept unchanged. Object members whose
// value renders to ojson.Undefined are dropped; in arrays they become null.
func RenderValue(ctx context.Context, input any, vars map[string]any, opts Options) (any, error) {
	return renderDeep(ctx, ojson.FromGo(input), vars, opts)
}

func renderDeep(ctx context.Context, v any, vars map[string]any, opts Options) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	switch t := v.(type) {
	case string:
		out, err := run(ctx, t, vars, opts, true)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return t, nil
		}
		return out, nil
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			r, err := renderDeep(ctx, e, vars, opts)
			if err != nil {
				return nil, err
			}
			if isUndef(r) {
				r = nil
			}
			out[i] = r
		}
		return out, nil
	case *ojson.Object:
		if t == nil {
			return nil, nil
		}
		o := &ojson.Object{}
		for _, m := range t.Members {
			r, err := renderDeep(ctx, m.Value, vars, opts)
			if err != nil {
				return nil, err
			}
			if isUndef(r) {
				continue
			}
			o.Members = append(o.Members, ojson.Member{Key: m.Key, Value: r})
		}
		return o, nil
	}
	return v, nil
}

func run(ctx context.Context, tmpl string, vars map[string]any, opts Options, sole bool) (any, error) {
	lim := opts.Limits.withDefaults()
	if n := utf16Len(tmpl); n > lim.Source {
		return nil, &TemplateLimitError{Limit: "source code unit", Phase: "parse", Configured: lim.Source, Observed: n}
	}
	nodes, err := parseTemplate(tmpl, &opts, lim)
	if err != nil {
		return nil, err
	}
	in := &interp{ctx: ctx, opts: &opts, lim: lim, vars: map[string]any{}, backstage: BackstageFilters(opts.Integrations)}
	for k, v := range vars {
		in.vars[k] = fromJSON(v)
	}
	in.root = &frame{vars: map[string]any{}}
	result, err := in.runRoot(nodes, sole)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, publicError(err)
	}
	return result, nil
}

func (in *interp) runRoot(nodes []node, sole bool) (any, error) {
	if sole {
		if o, ok := soleOutput(nodes); ok {
			v, err := in.eval(o.e, in.root)
			if err != nil {
				return nil, locate(err, o.pos)
			}
			if _, ok := v.(*callable); ok {
				return nil, locate(errorf("Callable values cannot be coerced"), o.pos)
			}
			return toJSON(v)
		}
	}
	var b strings.Builder
	in.out = &b
	if err := in.renderNodes(nodes, in.root); err != nil {
		return nil, err
	}
	return b.String(), nil
}

// publicError turns an evaluation failure into the error Backstage shows.
func publicError(err error) error {
	var re *runtimeError
	if errors.As(err, &re) {
		return &TemplateRenderError{Line: re.at.line + 1, Column: re.at.col + 1, Msg: re.msg}
	}
	var le *TemplateLimitError
	if errors.As(err, &le) && le.Line == 0 {
		le.Line, le.Column = 1, 1
	}
	return err
}

func soleOutput(nodes []node) (*outputNode, bool) {
	if len(nodes) != 1 {
		return nil, false
	}
	o, ok := nodes[0].(*outputNode)
	return o, ok
}

// ---- interpreter ----

type frame struct {
	vars   map[string]any
	parent *frame
	// macro frames stop {% set %} from reaching outer variables.
	macro bool
}

// set assigns to the nearest enclosing frame that already has the name (a
// loop body updates the outer variable, as nunjitsu does), else locally.
func (f *frame) set(name string, v any) {
	for g := f; g != nil; g = g.parent {
		if _, ok := g.vars[name]; ok {
			g.vars[name] = v
			return
		}
		if g.macro {
			break
		}
	}
	f.vars[name] = v
}

func (f *frame) lookup(name string) (any, bool) {
	for ; f != nil; f = f.parent {
		if v, ok := f.vars[name]; ok {
			return v, true
		}
	}
	return nil, false
}

type interp struct {
	ctx   context.Context
	opts  *Options
	lim   Limits
	vars  map[string]any
	root  *frame
	out   *strings.Builder
	steps int
	depth int
	// outUnits counts every UTF-16 unit appended, captures included, as
	// nunjitsu's output limit does.
	outUnits int
	// backstage holds parseRepoUrl, parseEntityRef, pick and projectSlug.
	backstage map[string]Filter
	// regexDeadline ends the render's regex time budget; set at the first
	// regular expression.
	regexDeadline time.Time
}

func (in *interp) step() error {
	in.steps++
	if in.steps > in.lim.Steps {
		return &TemplateLimitError{Limit: "work unit", Phase: "evaluate", Configured: in.lim.Steps, Observed: in.steps}
	}
	if in.steps&1023 == 0 {
		if err := in.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (in *interp) write(s string) error {
	in.outUnits += utf16Len(s)
	if in.outUnits > in.lim.Output {
		return &TemplateLimitError{Limit: "output code unit", Phase: "evaluate", Configured: in.lim.Output, Observed: in.outUnits}
	}
	in.out.WriteString(s)
	return nil
}

func (in *interp) renderNodes(nodes []node, f *frame) error {
	for _, n := range nodes {
		if err := in.renderNode(n, f); err != nil {
			return err
		}
	}
	return nil
}

// capture renders nodes into a fresh buffer.
func (in *interp) capture(nodes []node, f *frame) (string, error) {
	saved := in.out
	var b strings.Builder
	in.out = &b
	err := in.renderNodes(nodes, f)
	in.out = saved
	return b.String(), err
}

func nodePos(n node) (pos, bool) {
	switch t := n.(type) {
	case *outputNode:
		return t.pos, true
	case *ifNode:
		return t.pos, true
	case *forNode:
		return t.pos, true
	case *setNode:
		return t.pos, true
	case *macroNode:
		return t.pos, true
	case *callBlockNode:
		return t.pos, true
	case *filterBlockNode:
		return t.pos, true
	case *switchNode:
		return t.pos, true
	case *blockNode:
		return t.pos, true
	case *textNode:
		return t.pos, true
	}
	return pos{}, false
}

func (in *interp) renderNode(n node, f *frame) error {
	err := in.renderNodeUnchecked(n, f)
	if err != nil {
		if p, ok := nodePos(n); ok {
			return locate(err, p)
		}
	}
	return err
}

func (in *interp) renderNodeUnchecked(n node, f *frame) error {
	if err := in.step(); err != nil {
		return err
	}
	switch t := n.(type) {
	case *textNode:
		return in.write(t.s)
	case *outputNode:
		v, err := in.eval(t.e, f)
		if err != nil {
			return err
		}
		s, err := display(v)
		if err != nil {
			return err
		}
		return in.write(s)
	case *ifNode:
		v, err := in.eval(t.cond, f)
		if err != nil {
			return err
		}
		if truthy(v) {
			return in.renderNodes(t.body, f)
		}
		return in.renderNodes(t.els, f)
	case *forNode:
		return in.renderFor(t, f)
	case *setNode:
		var v any
		if t.value != nil {
			var err error
			if v, err = in.eval(t.value, f); err != nil {
				return err
			}
		} else {
			// A set capture renders in the enclosing scope: its own sets
			// stay visible afterwards.
			s, err := in.capture(t.body, f)
			if err != nil {
				return err
			}
			v = s
		}
		for _, name := range t.targets {
			f.set(name, v)
		}
		return nil
	case *macroNode:
		// A macro sees its parameters and the template's top-level
		// variables, not the loop or macro it is declared in; a call
		// block's caller does see where it is written.
		f.vars[t.name] = in.makeMacro(t.name, t.sig, t.body, in.root)
		return nil
	case *callBlockNode:
		fn, err := in.eval(t.call.fn, f)
		if err != nil {
			return err
		}
		c, ok := fn.(*callable)
		if !ok || !c.macro {
			return errorf("Call blocks can target only template macros")
		}
		args, kw, err := in.evalArgs(t.call.args, t.call.kw, f)
		if err != nil {
			return err
		}
		if kw == nil {
			kw = &ojson.Object{}
		}
		kw.Set("caller", in.makeMacro("caller", t.caller, t.body, f))
		v, err := c.fn(in, args, kw)
		if err != nil {
			return err
		}
		s, err := display(v)
		if err != nil {
			return err
		}
		return in.write(s)
	case *filterBlockNode:
		s, err := in.capture(t.body, &frame{vars: map[string]any{}, parent: f})
		if err != nil {
			return err
		}
		fe := *t.f
		fe.target = &litExpr{v: s, pos: t.pos}
		v, err := in.eval(&fe, f)
		if err != nil {
			return err
		}
		out, err := display(v)
		if err != nil {
			return err
		}
		return in.write(out)
	case *blockNode:
		return in.renderNodes(t.body, &frame{vars: map[string]any{}, parent: f})
	case *switchNode:
		v, err := in.eval(t.e, f)
		if err != nil {
			return err
		}
		matched := false
		for _, c := range t.cases {
			if !matched {
				cv, err := in.eval(c.cond, f)
				if err != nil {
					return err
				}
				matched = strictEqual(v, cv)
			}
			if matched {
				if len(c.body) == 0 {
					continue
				}
				return in.renderNodes(c.body, f)
			}
		}
		return in.renderNodes(t.def, f)
	}
	return nil
}

func (in *interp) makeMacro(name string, sig signature, body []node, def *frame) *callable {
	return &callable{name: name, macro: true, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
		in.depth++
		defer func() { in.depth-- }()
		if in.depth > in.lim.Depth {
			return nil, &TemplateLimitError{Limit: "nesting depth", Phase: "evaluate", Configured: in.lim.Depth, Observed: in.depth}
		}
		mf := &frame{vars: map[string]any{}, parent: def, macro: true}
		// Surplus positional arguments fill the defaulted parameters in
		// order; missing positional ones may come by keyword.
		kws := map[string]any{}
		if kw != nil {
			for _, m := range kw.Members {
				kws[m.Key] = m.Value
			}
		}
		for i, name := range sig.positional {
			var v any = ojson.Undefined
			if i < len(args) {
				v = args[i]
			} else if kv, ok := kws[name]; ok {
				v = kv
				delete(kws, name)
			}
			mf.vars[name] = v
		}
		for i := len(sig.positional); i < len(args) && i-len(sig.positional) < len(sig.defaults); i++ {
			kws[sig.defaults[i-len(sig.positional)].name] = args[i]
		}
		declaresCaller := false
		for _, n := range sig.positional {
			declaresCaller = declaresCaller || n == "caller"
		}
		for _, p := range sig.defaults {
			declaresCaller = declaresCaller || p.name == "caller"
			if kv, ok := kws[p.name]; ok {
				mf.vars[p.name] = kv
				continue
			}
			dv, err := in.eval(p.def, mf)
			if err != nil {
				return nil, err
			}
			mf.vars[p.name] = dv
		}
		if c, ok := kws["caller"]; ok && !declaresCaller {
			mf.vars["caller"] = c
		}
		s, err := in.capture(body, mf)
		if err != nil {
			return nil, err
		}
		return safeString(s), nil
	}}
}

func kwGet(kw *ojson.Object, name string) (any, bool) {
	if kw == nil {
		return nil, false
	}
	return kw.Get(name)
}

// loopEntries lists what a for loop visits, as nunjitsu does: a single
// target walks arrays, strings (by UTF-16 unit) and array-like records
// (by their length); several targets walk arrays (destructuring each
// item), records as [key, value] and strings as [index, unit].
func loopEntries(v any, targets int) (entries [][]any, length any) {
	one := func(x any) []any { return []any{x} }
	strUnits := func(s string) []any {
		var out []any
		for _, u := range units(s) {
			out = append(out, fromUnits([]uint16{u}))
		}
		return out
	}
	if targets == 1 {
		switch t := v.(type) {
		case *array:
			for _, x := range t.items {
				entries = append(entries, one(x))
			}
			return entries, float64(len(t.items))
		case *ojson.Object:
			l, ok := t.Get("length")
			if !ok {
				return nil, ojson.Undefined
			}
			n := num(l)
			for i := 0; float64(i) < n && i <= len(t.Members); i++ {
				x, ok := t.Get(strconv.Itoa(i))
				if !ok {
					x = ojson.Undefined
				}
				entries = append(entries, one(x))
			}
			return entries, l
		case string, safeString:
			for _, x := range strUnits(text(t)) {
				entries = append(entries, one(x))
			}
			return entries, float64(utf16Len(text(t)))
		}
		return nil, ojson.Undefined
	}
	switch t := v.(type) {
	case *array:
		for _, item := range t.items {
			vals := make([]any, targets)
			for k := range vals {
				vals[k] = destructure(item, k)
			}
			entries = append(entries, vals)
		}
		return entries, float64(len(t.items))
	case *ojson.Object:
		for _, m := range t.Members {
			entries = append(entries, []any{m.Key, m.Value})
		}
		return entries, float64(len(t.Members))
	case string:
		for i, x := range strUnits(t) {
			entries = append(entries, []any{strconv.Itoa(i), x})
		}
		return entries, float64(utf16Len(t))
	case safeString:
		for _, x := range strUnits(string(t)) {
			entries = append(entries, one(x))
		}
		return entries, float64(utf16Len(string(t)))
	}
	return nil, 0.0
}

func destructure(item any, k int) any {
	switch t := item.(type) {
	case *array:
		if k < len(t.items) {
			return t.items[k]
		}
	case *ojson.Object:
		if v, ok := t.Get(strconv.Itoa(k)); ok {
			return v
		}
	case string:
		if u := units(t); k < len(u) {
			return fromUnits(u[k : k+1])
		}
	}
	return ojson.Undefined
}

func (in *interp) renderFor(t *forNode, f *frame) error {
	iter, err := in.eval(t.iter, f)
	if err != nil {
		return err
	}
	if len(t.vars) > 1 {
		if _, ok := iter.(*array); ok {
			if it := iter.(*array); it != nil {
				for _, item := range it.items {
					if isNullish(item) {
						return errorf("Cannot destructure a nullish loop value")
					}
				}
			}
		}
	}
	entries, length := loopEntries(iter, len(t.vars))
	if !truthy(iter) {
		length = ojson.Undefined
	}
	n := num(length)
	for i, e := range entries {
		if err := in.step(); err != nil {
			return err
		}
		lf := &frame{vars: map[string]any{}, parent: f}
		for k, name := range t.vars {
			if k < len(e) {
				lf.vars[name] = e[k]
			}
		}
		fi := float64(i)
		lf.vars["loop"] = ojson.NewObject(
			"index", fi+1, "index0", fi, "revindex", n-fi, "revindex0", n-fi-1,
			"first", i == 0, "last", fi == n-1, "length", length)
		if err := in.renderNodes(t.body, lf); err != nil {
			return err
		}
	}
	if !truthy(length) {
		return in.renderNodes(t.els, f)
	}
	return nil
}

func (in *interp) lookupName(name string, f *frame) any {
	if v, ok := f.lookup(name); ok {
		return v
	}
	if v, ok := in.vars[name]; ok {
		return v
	}
	if in.opts.CookiecutterCompat {
		switch name {
		case "True":
			return true
		case "False":
			return false
		case "None":
			return nil
		}
	}
	if g, ok := in.opts.Globals[name]; ok {
		return in.wrapGlobal(name, g)
	}
	if g := in.builtinGlobal(name); g != nil {
		return g
	}
	return ojson.Undefined
}

func (in *interp) wrapGlobal(name string, g any) any {
	switch fn := g.(type) {
	case Func:
		return &callable{name: name, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
			jargs, err := jsonArgs(args, kw)
			if err != nil {
				return nil, err
			}
			r, err := fn(jargs...)
			if err != nil {
				return nil, err
			}
			return fromJSON(r), nil
		}}
	case func(args ...any) (any, error):
		return in.wrapGlobal(name, Func(fn))
	}
	return fromJSON(g)
}

func jsonArgs(args []any, kw *ojson.Object) ([]any, error) {
	out := make([]any, 0, len(args)+1)
	for _, a := range args {
		j, err := toJSON(a)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	if kw != nil {
		j, err := toJSON(kw)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}
