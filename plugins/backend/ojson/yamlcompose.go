package ojson

import (
	"strconv"
	"strings"
	"unicode/utf16"

	"gopkg.in/yaml.v3"
)

// Limits on what one YAML input may cost. Backstage's parser refuses
// excessive aliasing by counting (maxAliasCount 100, reproduced exactly
// below) and overflows its stack on deep nesting; these add hard bounds on
// the work and memory one input can take whatever it holds.
const (
	// maxAliasCount is eemeli/yaml's default: an anchor may be
	// dereferenced while (dereferences + 1) × its weight ≤ 100, the weight
	// being 1 for a node without aliases, else the largest (dereferences +
	// 1) × weight of the anchors its aliases name.
	maxAliasCount = 100
	// aliasBudgetBase is how many value nodes alias expansion may add to
	// one input beyond its own size in bytes. A string counts one node per
	// 64 bytes, so that the JSON an input expands to stays bounded too.
	aliasBudgetBase = 1 << 20
	// maxNestingDepth is how deeply collections may nest in the source;
	// Node's stack gives out at about this depth in eemeli/yaml's composer.
	maxNestingDepth = 800
	// maxValueDepth bounds the depth of a value built through aliases
	// (each of which may be maxNestingDepth deep).
	maxValueDepth = 2 * maxNestingDepth
)

// aliasBudget is what alias expansion may still add to an input.
func aliasBudget(data []byte) int { return aliasBudgetBase + len(data) }

// anchorState is eemeli/yaml's bookkeeping for one anchored node, plus the
// converted value that an alias copies.
type anchorState struct {
	count      int // 1 + the times it has been dereferenced
	aliasCount int // 0 until the first dereference
	value      any
	size       int // value nodes in value
	depth      int // nesting depth of value
}

// yamlComposer converts the yaml.v3 tree of one document into ojson values
// with eemeli/yaml's semantics: core schema scalars, duplicate keys
// refused, anchors scoped to their document, aliases counted, JavaScript's
// object key order.
type yamlComposer struct {
	src     *yamlSource
	line    int  // lines of the source before the parsed text
	budget  *int // alias expansion left for the whole input
	anchors map[*yaml.Node]*anchorState
	// parseErr is the first error eemeli/yaml's composer would list for the
	// document; thrown is the first its conversion to JSON would throw.
	// Once either is set aliases are no longer expanded, but the document
	// is still walked for a parse error (which wins over a thrown one,
	// since Backstage never converts a document that has errors).
	parseErr *YAMLError
	thrown   *YAMLError
}

// convertDocument converts one document node parsed from the source's
// text after its first line lines.
func convertDocument(src *yamlSource, line int, budget *int, n *yaml.Node) (any, error) {
	c := yamlComposer{src: src, line: line, budget: budget}
	v, _, _ := c.node(n, 0)
	switch {
	case c.parseErr != nil:
		return nil, c.parseErr
	case c.thrown != nil:
		return nil, c.thrown
	}
	return jsValue(v), nil
}

func (c *yamlComposer) failed() bool { return c.parseErr != nil || c.thrown != nil }

// fail records a parse error at n: at its content (skipProps, where
// eemeli/yaml places errors about keys), or at its start, underlining
// width characters.
func (c *yamlComposer) fail(n *yaml.Node, msg string, skipProps bool, width int) {
	if c.parseErr == nil {
		line := n.Line + c.line
		c.parseErr = c.src.parseError(msg, line, c.src.column(n, line, skipProps), width)
	}
}

func (c *yamlComposer) throw(name, msg string) {
	if c.thrown == nil {
		c.thrown = &YAMLError{Name: name, Message: msg}
	}
}

// node converts n at nesting depth depth. It returns the value (numbers as
// jsNumber), its size in value nodes and its depth.
func (c *yamlComposer) node(n *yaml.Node, depth int) (v any, size, vdepth int) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, 1, 0
		}
		return c.node(n.Content[0], depth)
	case yaml.ScalarNode:
		v, size = c.scalar(n)
	case yaml.AliasNode:
		v, size, vdepth = c.alias(n, depth)
	case yaml.MappingNode, yaml.SequenceNode:
		if depth >= maxNestingDepth {
			c.fail(n, msgStackExceeded, false, 1)
			return nil, 1, 0
		}
		if n.Kind == yaml.MappingNode {
			v, size, vdepth = c.mapping(n, depth)
		} else {
			v, size, vdepth = c.sequence(n, depth)
		}
	default:
		return nil, 1, 0
	}
	if n.Anchor != "" && !c.failed() {
		if c.anchors == nil {
			c.anchors = map[*yaml.Node]*anchorState{}
		}
		c.anchors[n] = &anchorState{count: 1, value: v, size: size, depth: vdepth}
	}
	return v, size, vdepth
}

func (c *yamlComposer) scalar(n *yaml.Node) (any, int) {
	size := 1 + len(n.Value)/64
	switch {
	case n.Style&yaml.TaggedStyle != 0:
		v, errMsg := resolveTagged(n.Tag, n.Value)
		if errMsg != "" {
			// At the tag, which yaml.v3 gives as the node's start.
			c.fail(n, errMsg, false, len(utf16.Encode([]rune(tagSource(n.Tag)))))
		}
		return v, size
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return n.Value, size
	}
	return resolvePlain(n.Value), size
}

// alias dereferences n the way eemeli/yaml's Alias.resolve does, then
// copies the anchored value (Backstage shares it; a copy keeps later edits
// of one place from showing in another).
func (c *yamlComposer) alias(n *yaml.Node, depth int) (any, int, int) {
	if c.failed() {
		return nil, 1, 0
	}
	st := c.anchors[n.Alias]
	if st == nil {
		// yaml.v3 also finds anchors of earlier documents; eemeli/yaml
		// only those before the alias in its own document.
		c.throw("ReferenceError", "Unresolved alias (the anchor must be set before the alias): "+n.Value)
		return nil, 1, 0
	}
	st.count++
	if st.aliasCount == 0 {
		st.aliasCount = c.aliasCount(n.Alias)
	}
	if st.count*st.aliasCount > maxAliasCount || st.size > *c.budget {
		c.throw("ReferenceError", msgExcessiveAlias)
		return nil, 1, 0
	}
	if depth+st.depth > maxValueDepth {
		c.throw("RangeError", msgStackExceeded)
		return nil, 1, 0
	}
	*c.budget -= st.size
	return Clone(st.value), st.size, st.depth
}

// aliasCount is eemeli/yaml's getAliasCount: how many times the aliases
// inside n have been dereferenced, at most, or 1 for a scalar.
func (c *yamlComposer) aliasCount(n *yaml.Node) int {
	switch n.Kind {
	case yaml.AliasNode:
		if st := c.anchors[n.Alias]; st != nil {
			return st.count * st.aliasCount
		}
		return 0
	case yaml.MappingNode, yaml.SequenceNode:
		m := 0
		for _, item := range n.Content {
			m = max(m, c.aliasCount(item))
		}
		return m
	}
	return 1
}

func (c *yamlComposer) sequence(n *yaml.Node, depth int) (any, int, int) {
	if n.Tag == "!!omap" && n.Style&yaml.TaggedStyle != 0 {
		// An ordered map becomes a JavaScript Map, which serialises as {}.
		return c.discard(n, depth)
	}
	arr := make([]any, len(n.Content))
	size, vdepth := 1, 0
	for i, item := range n.Content {
		v, s, d := c.node(item, depth+1)
		arr[i] = jsValue(v)
		size += s
		vdepth = max(vdepth, d+1)
	}
	return arr, size, vdepth
}

// discard checks a collection whose value Backstage loses (a Set or Map
// serialises as {}) and returns {}.
func (c *yamlComposer) discard(n *yaml.Node, depth int) (any, int, int) {
	size := 1
	for _, item := range n.Content {
		_, s, _ := c.node(item, depth+1)
		size += s
	}
	return &Object{}, size, 1
}

// scalarKey identifies a scalar key for the duplicate check: eemeli/yaml
// compares keys by their resolved value (1 and 1.0 are the same key, 1
// and "1" are not); other keys never compare equal.
type scalarKey struct {
	kind byte // 's' string, 'n' number, 'b' bool, 'z' null
	s    string
	f    float64
}

func keyIdentity(kn *yaml.Node, v any) (scalarKey, bool) {
	if kn.Kind != yaml.ScalarNode || (kn.Style&yaml.TaggedStyle != 0 && kn.Tag == "!!timestamp") {
		return scalarKey{}, false // a Date equals no other key
	}
	switch t := v.(type) {
	case string:
		return scalarKey{kind: 's', s: t}, true
	case jsNumber:
		return scalarKey{kind: 'n', f: float64(t)}, true // NaN never equals NaN, as in JavaScript
	case bool:
		return scalarKey{kind: 'b', s: strconv.FormatBool(t)}, true
	case nil:
		return scalarKey{kind: 'z'}, true
	}
	return scalarKey{}, false // !!binary: a Buffer, never equal
}

func (c *yamlComposer) mapping(n *yaml.Node, depth int) (any, int, int) {
	if n.Tag == "!!set" && n.Style&yaml.TaggedStyle != 0 {
		// A set becomes a JavaScript Set, which serialises as {}.
		return c.discard(n, depth)
	}
	o := &Object{Members: make([]Member, 0, len(n.Content)/2)}
	var seenBuf [16]scalarKey
	seen := seenBuf[:0]
	var seenSet map[scalarKey]bool
	var index map[string]int
	size, vdepth := 1, 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		k, ks, _ := c.node(kn, depth+1)
		if id, ok := keyIdentity(kn, k); ok {
			dup := false
			if seenSet != nil {
				dup = seenSet[id]
				seenSet[id] = true
			} else {
				for _, s := range seen {
					if s == id {
						dup = true
						break
					}
				}
				seen = append(seen, id)
				if len(seen) == len(seenBuf) {
					seenSet = make(map[scalarKey]bool, len(n.Content)/2)
					for _, s := range seen {
						seenSet[s] = true
					}
				}
			}
			if dup {
				c.fail(kn, msgDuplicateKey, true, 1)
			}
		}
		v, vs, vd := c.node(vn, depth+1)
		size += ks + vs
		vdepth = max(vdepth, vd+1)
		if c.failed() {
			continue
		}
		index = setJS(o, c.keyString(kn, k), jsValue(v), index)
	}
	return o, size, vdepth
}

// keyString is the object key a YAML key becomes: String(value) for a
// scalar, and for a collection its YAML text in flow style (eemeli/yaml
// stringifies such keys; an alias to a collection gives "*name").
func (c *yamlComposer) keyString(kn *yaml.Node, k any) string {
	switch kn.Kind {
	case yaml.ScalarNode:
		return jsKey(k)
	case yaml.AliasNode:
		if t := kn.Alias; t != nil && t.Kind == yaml.ScalarNode {
			return jsKey(k)
		}
		return "*" + kn.Value
	}
	var b strings.Builder
	flowText(&b, kn)
	return b.String()
}

// flowText writes n in YAML flow style the way eemeli/yaml writes a
// collection used as a key (for plain scalars; other scalars are quoted).
func flowText(b *strings.Builder, n *yaml.Node) {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		open, end := "[", "]"
		step := 1
		if n.Kind == yaml.MappingNode {
			open, end, step = "{", "}", 2
		}
		if len(n.Content) == 0 {
			b.WriteString(open + end)
			return
		}
		b.WriteString(open + " ")
		for i := 0; i+step-1 < len(n.Content); i += step {
			if i > 0 {
				b.WriteString(", ")
			}
			flowText(b, n.Content[i])
			if step == 2 {
				b.WriteString(": ")
				flowText(b, n.Content[i+1])
			}
		}
		b.WriteString(" " + end)
	case yaml.AliasNode:
		b.WriteString("*" + n.Value)
	default:
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			b.Write(quoteJSON(n.Value))
			return
		}
		b.WriteString(n.Value)
	}
}

func quoteJSON(s string) []byte {
	b, _ := Marshal(s)
	return b
}

// setJS sets key on o as assignment to a JavaScript object does: an
// existing key keeps its place, and keys that are array indices come
// before all others, in ascending order. index maps keys to positions
// once the object is large enough for a scan to cost more.
func setJS(o *Object, key string, v any, index map[string]int) map[string]int {
	if index != nil {
		if i, ok := index[key]; ok {
			o.Members[i].Value = v
			return index
		}
	} else {
		for i := range o.Members {
			if o.Members[i].Key == key {
				o.Members[i].Value = v
				return nil
			}
		}
	}
	at := len(o.Members)
	if idx, ok := arrayIndex(key); ok {
		// After the index keys smaller than this one.
		at = 0
		for at < len(o.Members) {
			j, isIdx := arrayIndex(o.Members[at].Key)
			if !isIdx || j > idx {
				break
			}
			at++
		}
	}
	if at == len(o.Members) {
		o.Members = append(o.Members, Member{key, v})
		if index != nil {
			index[key] = at
		} else if len(o.Members) > 32 {
			index = make(map[string]int, len(o.Members)*2)
			for i, m := range o.Members {
				index[m.Key] = i
			}
		}
		return index
	}
	o.Members = append(o.Members, Member{})
	copy(o.Members[at+1:], o.Members[at:])
	o.Members[at] = Member{key, v}
	if index != nil {
		for i := at; i < len(o.Members); i++ {
			index[o.Members[i].Key] = i
		}
	}
	return index
}

// arrayIndex reports whether key is a canonical array index (0 to
// 2^32-2), which JavaScript objects order first.
func arrayIndex(key string) (uint64, bool) {
	if key == "" || len(key) > 10 || (len(key) > 1 && key[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(key); i++ {
		if key[i] < '0' || key[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(key, 10, 64)
	if err != nil || n >= 1<<32-1 {
		return 0, false
	}
	return n, true
}

// tagSource is how a tag yaml.v3 shortened was most likely written.
func tagSource(tag string) string {
	if strings.HasPrefix(tag, "tag:yaml.org,2002:") {
		return "!!" + strings.TrimPrefix(tag, "tag:yaml.org,2002:")
	}
	return tag
}
