// Package render is the scaffolder's template engine: a focused interpreter
// of the Nunjucks subset that Backstage's scaffolder renders through nunjitsu
// (`${{ }}` expressions, `{% %}` statements, the Nunjucks filters and
// Backstage's own), with JavaScript value semantics.
//
// Values passed in and returned are ojson values: nil, bool, string,
// ojson.Number, []any and *ojson.Object (key order is kept, which `dump` and
// object outputs need). Plain encoding/json values (float64,
// map[string]any) are accepted on input too; maps have no order, so their
// keys are sorted. Undefined (JavaScript undefined) is returned by
// RenderValue for a sole expression that is undefined.
package render

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/understage/understage/catalog/ojson"
)

// TemplateRenderError is a parse or evaluation failure, worded as nunjitsu's.
type TemplateRenderError struct {
	Line, Column int
	Msg          string
}

func (e *TemplateRenderError) Error() string {
	return fmt.Sprintf("Template error at line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// Name is the error name Backstage reports ("TemplateRenderError").
func (e *TemplateRenderError) Name() string { return "TemplateRenderError" }

// runtimeError is an evaluation failure without a position yet.
type runtimeError struct{ msg string }

func (e *runtimeError) Error() string { return e.msg }

func errorf(format string, args ...any) error {
	return &runtimeError{msg: fmt.Sprintf(format, args...)}
}

// Limits bound a single render.
type Limits struct {
	Steps  int // evaluation steps (default 1,000,000)
	Output int // output bytes (default 16 MiB)
	Depth  int // nesting depth of templates and macro calls (default 64)
	Nodes  int // AST nodes (default 100,000)
	Source int // template bytes (default 4 MiB)
}

func (l Limits) withDefaults() Limits {
	if l.Steps <= 0 {
		l.Steps = 1_000_000
	}
	if l.Output <= 0 {
		l.Output = 16 << 20
	}
	if l.Depth <= 0 {
		l.Depth = 64
	}
	if l.Nodes <= 0 {
		l.Nodes = 100_000
	}
	if l.Source <= 0 {
		l.Source = 4 << 20
	}
	return l
}

// Filter is a trusted filter; input and arguments are ojson values (Undefined
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
// value renders to Undefined are dropped; in arrays they become null.
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

func run(ctx context.Context, tmpl string, vars map[string]any, opts Options, sole bool) (result any, err error) {
	lim := opts.Limits.withDefaults()
	if len(tmpl) > lim.Source {
		return nil, &TemplateRenderError{Line: 1, Column: 1, Msg: "Template source exceeds the size limit"}
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
	if sole {
		if o, ok := soleOutput(nodes); ok {
			v, err := in.eval(o.e, in.root)
			if err != nil {
				return nil, in.position(err, o.e)
			}
			if _, ok := v.(*callable); ok {
				return nil, &TemplateRenderError{Line: 1, Column: 1, Msg: "Callable values cannot be returned"}
			}
			return toJSON(v)
		}
	}
	var b strings.Builder
	in.out = &b
	if err := in.renderNodes(nodes, in.root); err != nil {
		return nil, in.position(err, nil)
	}
	return b.String(), nil
}

func soleOutput(nodes []node) (*outputNode, bool) {
	if len(nodes) != 1 {
		return nil, false
	}
	o, ok := nodes[0].(*outputNode)
	return o, ok
}

func exprPos(e expr) pos {
	switch t := e.(type) {
	case *nameExpr:
		return t.pos
	case *memberExpr:
		return t.pos
	case *callExpr:
		return t.pos
	case *filterExpr:
		return t.pos
	case *binExpr:
		return t.pos
	case *isExpr:
		return t.pos
	}
	return pos{1, 1}
}

// position turns a runtime error into a TemplateRenderError.
func (in *interp) position(err error, e expr) error {
	var tre *TemplateRenderError
	if errors.As(err, &tre) {
		return err
	}
	var re *runtimeError
	if errors.As(err, &re) {
		p := in.lastPos
		if p.line == 0 {
			p = exprPos(e)
		}
		return &TemplateRenderError{Line: p.line, Column: p.col, Msg: re.msg}
	}
	return err
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
	ctx     context.Context
	opts    *Options
	lim     Limits
	vars    map[string]any
	root    *frame
	out     *strings.Builder
	steps   int
	depth   int
	lastPos pos
	// backstage holds parseRepoUrl, parseEntityRef, pick and projectSlug.
	backstage map[string]Filter
}

func (in *interp) step() error {
	in.steps++
	if in.steps > in.lim.Steps {
		return errorf("Template exceeded the evaluation step limit")
	}
	if in.steps&1023 == 0 {
		if err := in.ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

func (in *interp) write(s string) error {
	if in.out.Len()+len(s) > in.lim.Output {
		return errorf("Template output exceeded the size limit")
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
	if err == nil && saved != nil && saved.Len()+b.Len() > in.lim.Output {
		err = errorf("Template output exceeded the size limit")
	}
	return b.String(), err
}

func (in *interp) renderNode(n node, f *frame) error {
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
		for i, c := range t.conds {
			v, err := in.eval(c, f)
			if err != nil {
				return err
			}
			if truthy(v) {
				return in.renderNodes(t.bodies[i], f)
			}
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
		f.vars[t.name] = in.makeMacro(t.name, t.params, t.body, f)
		return nil
	case *callBlockNode:
		caller := in.makeMacro("caller", t.params, t.body, f)
		var v any
		var err error
		if ce, ok := t.call.(*callExpr); ok {
			// The body reaches the macro as its caller() keyword argument.
			kws := append(append([]kwArg(nil), ce.kw...), kwArg{name: "caller", v: &litExpr{v: caller}})
			v, err = in.eval(&callExpr{fn: ce.fn, args: ce.args, kw: kws, pos: ce.pos}, f)
		} else {
			v, err = in.eval(t.call, f)
		}
		if err != nil {
			return err
		}
		s, err := display(v)
		if err != nil {
			return err
		}
		return in.write(s)
	case *filterBlockNode:
		s, err := in.capture(t.body, f)
		if err != nil {
			return err
		}
		fe := *t.f
		fe.target = &litExpr{v: s}
		v, err := in.eval(&fe, f)
		if err != nil {
			return err
		}
		out, err := display(v)
		if err != nil {
			return err
		}
		return in.write(out)
	}
	return nil
}

func (in *interp) makeMacro(name string, params []param, body []node, def *frame) *callable {
	return &callable{name: name, fn: func(in *interp, args []any, kw *ojson.Object) (any, error) {
		in.depth++
		defer func() { in.depth-- }()
		if in.depth > in.lim.Depth {
			return nil, errorf("Maximum call depth exceeded")
		}
		mf := &frame{vars: map[string]any{}, parent: def, macro: true}
		for i, p := range params {
			var v any = Undefined
			if i < len(args) {
				v = args[i]
			} else if kv, ok := kwGet(kw, p.name); ok {
				v = kv
			} else if p.def != nil {
				dv, err := in.eval(p.def, mf)
				if err != nil {
					return nil, err
				}
				v = dv
			}
			mf.vars[p.name] = v
		}
		if c, ok := kwGet(kw, "caller"); ok {
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

func (in *interp) renderFor(t *forNode, f *frame) error {
	iter, err := in.eval(t.iter, f)
	if err != nil {
		return err
	}
	type entry struct{ vals []any }
	var entries []entry
	switch it := iter.(type) {
	case *array:
		for _, item := range it.items {
			if len(t.vars) > 1 {
				vals := make([]any, len(t.vars))
				for k := range vals {
					vals[k] = Undefined
				}
				if sub, ok := item.(*array); ok {
					for k := range vals {
						if k < len(sub.items) {
							vals[k] = sub.items[k]
						}
					}
				}
				entries = append(entries, entry{vals})
			} else {
				entries = append(entries, entry{[]any{item}})
			}
		}
	case *ojson.Object:
		for _, m := range it.Members {
			if len(t.vars) > 1 {
				entries = append(entries, entry{[]any{m.Key, m.Value}})
			} else {
				entries = append(entries, entry{[]any{m.Key}})
			}
		}
	case string:
		for _, r := range it {
			entries = append(entries, entry{[]any{string(r)}})
		}
	case safeString:
		for _, r := range string(it) {
			entries = append(entries, entry{[]any{string(r)}})
		}
	}
	if len(entries) == 0 {
		return in.renderNodes(t.els, f)
	}
	n := float64(len(entries))
	for i, e := range entries {
		if err := in.step(); err != nil {
			return err
		}
		lf := &frame{vars: map[string]any{}, parent: f}
		for k, name := range t.vars {
			if k < len(e.vals) {
				lf.vars[name] = e.vals[k]
			}
		}
		fi := float64(i)
		lf.vars["loop"] = ojson.NewObject(
			"index", fi+1, "index0", fi, "revindex", n-fi, "revindex0", n-fi-1,
			"first", i == 0, "last", i == len(entries)-1, "length", n)
		if err := in.renderNodes(t.body, lf); err != nil {
			return err
		}
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
	if g, ok := in.opts.Globals[name]; ok {
		return in.wrapGlobal(name, g)
	}
	if g := in.builtinGlobal(name); g != nil {
		return g
	}
	return Undefined
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
