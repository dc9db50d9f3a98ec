package model

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/schemas"
)

// kindSchema is one compiled per-kind schema.
type kindSchema struct {
	file        string
	processor   string // the Backstage processor that owns the kind, for messages
	kinds       map[string]bool
	apiVersions map[string]bool
	compiled    *jsonschema.Schema // the decision
	tree        *snode             // the same schema, walked in Ajv's order for messages
}

// schemaSet is everything compiled from package schemas. It is immutable
// after construction and safe for concurrent use.
type schemaSet struct {
	envelope *snode
	entity   *snode
	kinds    []*kindSchema
}

// compileSchemas loads every embedded schema twice: into santhosh-tekuri's
// validator, which decides validity, and into an ordered tree that
// reproduces the first error Ajv (Backstage's validator) would report.
func compileSchemas() (*schemaSet, error) {
	docs := map[string]*ojson.Object{}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	err := fs.WalkDir(schemas.FS, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		raw, err := fs.ReadFile(schemas.FS, p)
		if err != nil {
			return err
		}
		o, err := ojson.DecodeObject(raw)
		if err != nil {
			return fmt.Errorf("schema %s: %w", p, err)
		}
		docs[p] = o
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("schema %s: %w", p, err)
		}
		return c.AddResource(schemas.BaseURL+p, doc)
	})
	if err != nil {
		return nil, err
	}
	tb := &treeBuilder{docs: docs, done: map[string]*snode{}}
	set := &schemaSet{}
	if set.envelope, err = tb.file("envelope.json"); err != nil {
		return nil, err
	}
	if set.entity, err = tb.file("entity.json"); err != nil {
		return nil, err
	}
	add := func(files []string, processor string) error {
		for _, f := range files {
			compiled, err := c.Compile(schemas.BaseURL + f)
			if err != nil {
				return fmt.Errorf("compile %s: %w", f, err)
			}
			tree, err := tb.file(f)
			if err != nil {
				return err
			}
			ks := &kindSchema{file: f, processor: processor, compiled: compiled, tree: tree,
				kinds: map[string]bool{}, apiVersions: map[string]bool{}}
			// The kind/apiVersion enums select the schema, as Backstage's
			// "soft" enum errors do: read them from the schema itself.
			for _, br := range tree.allOf {
				for _, p := range br.props {
					for _, v := range p.node.enum {
						if s, ok := v.(string); ok {
							switch p.key {
							case "kind":
								ks.kinds[s] = true
							case "apiVersion":
								ks.apiVersions[s] = true
							}
						}
					}
				}
			}
			set.kinds = append(set.kinds, ks)
		}
		return nil
	}
	if err := add(schemas.BuiltinKinds, "BuiltinKindsEntityProcessor"); err != nil {
		return nil, err
	}
	if err := add(schemas.ScaffolderKinds, "ScaffolderEntitiesProcessor"); err != nil {
		return nil, err
	}
	return set, nil
}

// snode is a schema node reduced to the draft-07 keywords our schemas use.
type snode struct {
	ref        *snode
	types      []string
	enum       []any
	hasConst   bool
	constV     any
	allOf      []*snode
	oneOf      []*snode
	minLength  int // -1 when absent
	minItems   int
	pattern    *regexp.Regexp
	patternSrc string
	required   []string
	props      []sprop
	patProps   []spat
	addlFalse  bool
	addl       *snode
	items      *snode
}

type sprop struct {
	key  string
	node *snode
}

type spat struct {
	re   *regexp.Regexp
	node *snode
}

type treeBuilder struct {
	docs map[string]*ojson.Object
	done map[string]*snode // by "file#pointer"
}

func (tb *treeBuilder) file(f string) (*snode, error) { return tb.resolve(f, "") }

func (tb *treeBuilder) resolve(file, pointer string) (*snode, error) {
	key := file + "#" + pointer
	if n, ok := tb.done[key]; ok {
		return n, nil
	}
	doc, ok := tb.docs[file]
	if !ok {
		return nil, fmt.Errorf("schema %s not found", file)
	}
	var cur any = doc
	for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		if seg == "" {
			continue
		}
		o, ok := cur.(*ojson.Object)
		if !ok {
			return nil, fmt.Errorf("schema %s#%s: bad pointer", file, pointer)
		}
		if cur, ok = o.Get(seg); !ok {
			return nil, fmt.Errorf("schema %s#%s: bad pointer", file, pointer)
		}
	}
	o, ok := cur.(*ojson.Object)
	if !ok {
		return nil, fmt.Errorf("schema %s#%s: not an object", file, pointer)
	}
	n := &snode{}
	tb.done[key] = n // before recursing, so recursive refs terminate
	if err := tb.build(n, o, file); err != nil {
		return nil, err
	}
	return n, nil
}

func (tb *treeBuilder) sub(v any, file string) (*snode, error) {
	o, ok := v.(*ojson.Object)
	if !ok {
		return nil, fmt.Errorf("schema %s: subschema is not an object", file)
	}
	n := &snode{}
	return n, tb.build(n, o, file)
}

func (tb *treeBuilder) build(n *snode, o *ojson.Object, file string) error {
	n.minLength, n.minItems = -1, -1
	for _, m := range o.Members {
		var err error
		switch m.Key {
		case "$ref":
			ref := m.Value.(string)
			target, ptr, _ := strings.Cut(ref, "#")
			tf := file
			if target != "" {
				tf = path.Clean(path.Join(path.Dir(file), target))
			}
			n.ref, err = tb.resolve(tf, ptr)
		case "type":
			switch t := m.Value.(type) {
			case string:
				n.types = []string{t}
			case []any:
				for _, e := range t {
					n.types = append(n.types, e.(string))
				}
			}
		case "enum":
			n.enum = m.Value.([]any)
		case "const":
			n.hasConst, n.constV = true, m.Value
		case "allOf", "oneOf":
			for _, e := range m.Value.([]any) {
				s, err := tb.sub(e, file)
				if err != nil {
					return err
				}
				if m.Key == "allOf" {
					n.allOf = append(n.allOf, s)
				} else {
					n.oneOf = append(n.oneOf, s)
				}
			}
		case "minLength":
			n.minLength = int(m.Value.(ojson.Number).Float())
		case "minItems":
			n.minItems = int(m.Value.(ojson.Number).Float())
		case "pattern":
			n.patternSrc = m.Value.(string)
			n.pattern, err = regexp.Compile(n.patternSrc)
		case "required":
			for _, e := range m.Value.([]any) {
				n.required = append(n.required, e.(string))
			}
		case "properties":
			for _, p := range m.Value.(*ojson.Object).Members {
				s, err := tb.sub(p.Value, file)
				if err != nil {
					return err
				}
				n.props = append(n.props, sprop{p.Key, s})
			}
		case "patternProperties":
			for _, p := range m.Value.(*ojson.Object).Members {
				re, err := regexp.Compile(p.Key)
				if err != nil {
					return err
				}
				s, err := tb.sub(p.Value, file)
				if err != nil {
					return err
				}
				n.patProps = append(n.patProps, spat{re, s})
			}
		case "additionalProperties":
			switch t := m.Value.(type) {
			case bool:
				n.addlFalse = !t
			default:
				n.addl, err = tb.sub(t, file)
			}
		case "items":
			n.items, err = tb.sub(m.Value, file)
		}
		if err != nil {
			return fmt.Errorf("schema %s: %w", file, err)
		}
	}
	return nil
}

// ajvError is one error as Ajv reports it.
type ajvError struct {
	path    string // JSON pointer of the instance, "" for the root
	keyword string
	message string
	params  [][2]string // rendered "key: value" pairs, in Ajv's order
}

// withParams renders "<path> <message> - k: v, ..." (entityKindSchemaValidator).
func (e ajvError) withParams() string {
	s := e.short()
	if len(e.params) > 0 {
		parts := make([]string, len(e.params))
		for i, p := range e.params {
			parts[i] = p[0] + ": " + p[1]
		}
		s += " - " + strings.Join(parts, ", ")
	}
	return s
}

// short renders "<path> <message>" (SchemaValidEntityPolicy).
func (e ajvError) short() string {
	p := e.path
	if p == "" {
		p = "<root>"
	}
	return p + " " + e.message
}

// walker evaluates an snode tree in the order Ajv generates its code, so the
// first error matches Backstage's.
type walker struct {
	errs      []ajvError
	firstOnly bool
	segs      []string // instance path of the value being checked, rendered only for errors
}

func (w *walker) path() string {
	if len(w.segs) == 0 {
		return ""
	}
	var b strings.Builder
	for _, s := range w.segs {
		b.WriteByte('/')
		b.WriteString(escapePointer(s))
	}
	return b.String()
}

// in validates v under n one segment deeper.
func (w *walker) in(seg string, n *snode, v any) {
	w.segs = append(w.segs, seg)
	w.validate(n, v)
	w.segs = w.segs[:len(w.segs)-1]
}

func jsType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case ojson.Number:
		return "number"
	case []any:
		return "array"
	case *ojson.Object:
		return "object"
	}
	return "unknown"
}

func typeMatches(v any, t string) bool {
	jt := jsType(v)
	switch t {
	case jt:
		return true
	case "integer":
		if n, ok := v.(ojson.Number); ok {
			f := n.Float()
			return f == float64(int64(f))
		}
	}
	return false
}

func escapePointer(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func jsString(v any) string {
	switch t := v.(type) {
	case nil:
		return "null"
	case string:
		return t
	case bool:
		return strconv.FormatBool(t)
	case ojson.Number:
		return string(t)
	case []any:
		parts := make([]string, len(t))
		for i, e := range t {
			if e != nil {
				parts[i] = jsString(e)
			}
		}
		return strings.Join(parts, ",")
	case *ojson.Object:
		return "[object Object]"
	}
	return fmt.Sprint(v)
}

func (w *walker) add(e ajvError) { w.errs = append(w.errs, e) }

func (w *walker) stop() bool { return w.firstOnly && len(w.errs) > 0 }

// rulesFor reports whether n has keywords of Ajv's group for type t.
func (n *snode) rulesFor(t string) bool {
	switch t {
	case "string":
		return n.minLength >= 0 || n.pattern != nil
	case "array":
		return n.minItems >= 0 || n.items != nil
	case "object":
		return n.required != nil || n.props != nil || n.patProps != nil || n.addlFalse || n.addl != nil
	}
	return false
}

func (w *walker) typeError(n *snode) {
	t := strings.Join(n.types, ",")
	w.add(ajvError{path: w.path(), keyword: "type", message: "must be " + t, params: [][2]string{{"type", t}}})
}

func (w *walker) validate(n *snode, v any) {
	if n.ref != nil {
		// Our schemas never mix $ref with other keywords; Ajv then only follows the ref.
		w.validate(n.ref, v)
		return
	}
	typeErrors := true
	if len(n.types) > 0 && !(len(n.types) == 1 && n.rulesFor(n.types[0])) {
		typeErrors = false
		ok := false
		for _, t := range n.types {
			if typeMatches(v, t) {
				ok = true
				break
			}
		}
		if !ok {
			w.typeError(n)
			if w.stop() {
				return
			}
		}
	}
	// Keywords without a type: const, enum, oneOf, allOf.
	if n.hasConst && !ojsonEqual(v, n.constV) {
		w.add(ajvError{path: w.path(), keyword: "const", message: "must be equal to constant",
			params: [][2]string{{"allowedValue", jsString(n.constV)}}})
		if w.stop() {
			return
		}
	}
	if n.enum != nil {
		ok := false
		for _, e := range n.enum {
			if ojsonEqual(v, e) {
				ok = true
				break
			}
		}
		if !ok {
			w.add(ajvError{path: w.path(), keyword: "enum", message: "must be equal to one of the allowed values",
				params: [][2]string{{"allowedValues", jsString(n.enum)}}})
			if w.stop() {
				return
			}
		}
	}
	if n.oneOf != nil {
		before := len(w.errs)
		saved := w.firstOnly
		w.firstOnly = false
		var passing []string
		for i, br := range n.oneOf {
			mark := len(w.errs)
			w.validate(br, v)
			if len(w.errs) == mark {
				passing = append(passing, strconv.Itoa(i))
			}
		}
		w.firstOnly = saved
		if len(passing) == 1 {
			w.errs = w.errs[:before]
		} else {
			ps := "null"
			if len(passing) > 1 {
				ps = strings.Join(passing, ",")
			}
			w.add(ajvError{path: w.path(), keyword: "oneOf", message: "must match exactly one schema in oneOf",
				params: [][2]string{{"passingSchemas", ps}}})
			if w.stop() {
				return
			}
		}
	}
	for _, br := range n.allOf {
		w.validate(br, v)
		if w.stop() {
			return
		}
	}
	single := ""
	if len(n.types) == 1 && typeErrors {
		single = n.types[0]
	}
	// Typed groups in Ajv's order: string, array, object.
	if n.rulesFor("string") {
		if s, ok := v.(string); ok {
			if n.minLength >= 0 && utf8.RuneCountInString(s) < n.minLength {
				l := strconv.Itoa(n.minLength)
				w.add(ajvError{path: w.path(), keyword: "minLength", message: "must NOT have fewer than " + l + " characters",
					params: [][2]string{{"limit", l}}})
				if w.stop() {
					return
				}
			}
			if n.pattern != nil && !n.pattern.MatchString(s) {
				w.add(ajvError{path: w.path(), keyword: "pattern", message: `must match pattern "` + n.patternSrc + `"`,
					params: [][2]string{{"pattern", n.patternSrc}}})
				if w.stop() {
					return
				}
			}
		} else if single == "string" {
			w.typeError(n)
			if w.stop() {
				return
			}
		}
	}
	if n.rulesFor("array") {
		if a, ok := v.([]any); ok {
			if n.minItems >= 0 && len(a) < n.minItems {
				l := strconv.Itoa(n.minItems)
				w.add(ajvError{path: w.path(), keyword: "minItems", message: "must NOT have fewer than " + l + " items",
					params: [][2]string{{"limit", l}}})
				if w.stop() {
					return
				}
			}
			if n.items != nil {
				for i, e := range a {
					w.in(strconv.Itoa(i), n.items, e)
					if w.stop() {
						return
					}
				}
			}
		} else if single == "array" {
			w.typeError(n)
			if w.stop() {
				return
			}
		}
	}
	if n.rulesFor("object") {
		if o, ok := v.(*ojson.Object); ok {
			w.object(n, o)
		} else if single == "object" {
			w.typeError(n)
		}
	}
}

func (w *walker) object(n *snode, o *ojson.Object) {
	for _, r := range n.required {
		if !o.Has(r) {
			w.add(ajvError{path: w.path(), keyword: "required", message: "must have required property '" + r + "'",
				params: [][2]string{{"missingProperty", r}}})
			if w.stop() {
				return
			}
		}
	}
	if n.addlFalse || n.addl != nil {
		for _, m := range o.Members {
			if n.known(m.Key) {
				continue
			}
			if n.addlFalse {
				w.add(ajvError{path: w.path(), keyword: "additionalProperties", message: "must NOT have additional properties",
					params: [][2]string{{"additionalProperty", m.Key}}})
			} else {
				w.in(m.Key, n.addl, m.Value)
			}
			if w.stop() {
				return
			}
		}
	}
	for _, sp := range n.props {
		if v, ok := o.Get(sp.key); ok {
			w.in(sp.key, sp.node, v)
			if w.stop() {
				return
			}
		}
	}
	for _, pp := range n.patProps {
		for _, m := range o.Members {
			if pp.re.MatchString(m.Key) {
				w.in(m.Key, pp.node, m.Value)
				if w.stop() {
					return
				}
			}
		}
	}
}

func (n *snode) known(key string) bool {
	for _, sp := range n.props {
		if sp.key == key {
			return true
		}
	}
	for _, pp := range n.patProps {
		if pp.re.MatchString(key) {
			return true
		}
	}
	return false
}

func ojsonEqual(a, b any) bool {
	switch x := a.(type) {
	case ojson.Number:
		y, ok := b.(ojson.Number)
		return ok && x.Float() == y.Float()
	case *ojson.Object, []any:
		ab, err1 := ojson.MarshalSorted(a)
		bb, err2 := ojson.MarshalSorted(b)
		return err1 == nil && err2 == nil && bytes.Equal(ab, bb)
	default:
		return a == b
	}
}

// walk runs n over v; firstOnly stops at the first error (Ajv without allErrors).
func walk(n *snode, v any, firstOnly bool) []ajvError {
	w := &walker{firstOnly: firstOnly, segs: make([]string, 0, 8)}
	w.validate(n, v)
	return w.errs
}
