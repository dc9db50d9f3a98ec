package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// EnvFunc looks up an environment variable, like os.LookupEnv.
type EnvFunc func(name string) (string, bool)

// Load reads the config files in order and merges them; later files win.
// env resolves ${VAR} and $env (nil means os.LookupEnv). Relative paths are
// taken from the working directory; $file and $include paths from the folder
// of the file that contains them.
func Load(ctx context.Context, paths []string, env EnvFunc) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	var merged *node
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", p, err)
		}
		data, err := os.ReadFile(abs)
		if err != nil {
			return nil, fmt.Errorf("config file %q does not exist or cannot be read: %w", abs, err)
		}
		n, err := parse(data, abs, env)
		if err != nil {
			return nil, err
		}
		if n != nil {
			merged = merge(n, merged)
		}
	}
	if merged == nil {
		return &Config{root: newObject("")}, nil
	}
	return &Config{root: stripNulls(merged), file: merged.file}, nil
}

// LoadBytes reads one config document as if it were the file at path (which
// need not exist; it anchors relative $file/$include paths).
func LoadBytes(data []byte, path string, env EnvFunc) (*Config, error) {
	if env == nil {
		env = os.LookupEnv
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	n, err := parse(data, abs, env)
	if err != nil {
		return nil, err
	}
	if n == nil {
		return &Config{root: newObject(abs), file: abs}, nil
	}
	return &Config{root: stripNulls(n), file: abs}, nil
}

// parse decodes one file and applies the transforms; nil means an empty
// document, which Backstage skips.
func parse(data []byte, file string, env EnvFunc) (*node, error) {
	v, err := ojson.DecodeYAML(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse config file at %q: %w", file, err)
	}
	if v == nil {
		return nil, nil
	}
	t := transformer{env: env}
	out, err := t.apply(fromValue(v, file), "", filepath.Dir(file))
	if err != nil {
		return nil, fmt.Errorf("failed to read config file at %q, %w", file, err)
	}
	if out == nil || out.kind != kindObject {
		return nil, fmt.Errorf("failed to read config file at %q, expected object at config root", file)
	}
	return out, nil
}

type transformer struct {
	env EnvFunc
}

// lookupEnv trims the value, as Backstage does with process.env values.
func (t transformer) lookupEnv(name string) (string, bool) {
	v, ok := t.env(name)
	if !ok {
		return "", false
	}
	return strings.TrimSpace(v), true
}

// substRef matches ${NAME}, ${NAME:-fallback} and the escaped $${...}.
var substRef = regexp.MustCompile(`\$?\$\{[^{}]*\}`)

// substitute expands references in s. ok is false when a variable is unset
// (and has no usable fallback): the whole value then counts as undefined.
func (t transformer) substitute(s string) (string, bool) {
	locs := substRef.FindAllStringIndex(s, -1)
	if locs == nil {
		return s, true
	}
	var b strings.Builder
	last := 0
	defined := true
	for _, l := range locs {
		b.WriteString(s[last:l[0]])
		last = l[1]
		ref := s[l[0]:l[1]]
		if strings.HasPrefix(ref, "$$") {
			b.WriteString(ref[1:])
			continue
		}
		inner := ref[2 : len(ref)-1]
		if i := strings.Index(inner, ":-"); i >= 0 {
			// An empty variable falls back too; an empty fallback is undefined.
			v, _ := t.lookupEnv(strings.TrimSpace(inner[:i]))
			if v == "" {
				v = strings.TrimSpace(inner[i+2:])
			}
			if v == "" {
				defined = false
			}
			b.WriteString(v)
			continue
		}
		v, ok := t.lookupEnv(strings.TrimSpace(inner))
		if !ok {
			defined = false
		}
		b.WriteString(v)
	}
	b.WriteString(s[last:])
	return b.String(), defined
}

var includeKeys = []string{"$file", "$env", "$include"}

// apply transforms n (at dotted path, relative to dir). A nil result means
// undefined: the caller drops the member or array element.
func (t transformer) apply(n *node, path, dir string) (*node, error) {
	switch n.kind {
	case kindString:
		s, ok := t.substitute(n.scalar.(string))
		if !ok {
			return nil, nil
		}
		return &node{kind: kindString, scalar: s, file: n.file}, nil
	case kindObject:
		for _, k := range includeKeys {
			if _, ok := n.fields[k]; !ok {
				continue
			}
			v, newDir, err := t.include(n, k, dir)
			if err != nil {
				return nil, fmt.Errorf("error at %s, %w", path, err)
			}
			if v == nil {
				return nil, nil
			}
			// As in Backstage, the included value itself is not transformed
			// again, but its members and elements are.
			return t.children(v, path, newDir)
		}
	}
	return t.children(n, path, dir)
}

// children transforms the members of an object or the elements of an array;
// other values are returned as they are.
func (t transformer) children(n *node, path, dir string) (*node, error) {
	switch n.kind {
	case kindArray:
		out := &node{kind: kindArray, file: n.file, items: make([]*node, 0, len(n.items))}
		for i, it := range n.items {
			v, err := t.apply(it, fmt.Sprintf("%s[%d]", path, i), dir)
			if err != nil {
				return nil, err
			}
			if v != nil {
				out.items = append(out.items, v)
			}
		}
		return out, nil
	case kindObject:
		out := newObject(n.file)
		for _, k := range n.keys {
			v, err := t.apply(n.fields[k], path+"."+k, dir)
			if err != nil {
				return nil, err
			}
			if v != nil {
				out.set(k, v)
			}
		}
		return out, nil
	}
	return n, nil
}

// include resolves a {$file|$env|$include: value} object.
func (t transformer) include(n *node, key, dir string) (*node, string, error) {
	if len(n.keys) != 1 {
		return nil, "", fmt.Errorf("include key %s should not have adjacent keys", key)
	}
	raw := n.fields[key]
	if raw.kind != kindString {
		return nil, "", fmt.Errorf("%s include value is not a string", key)
	}
	arg, ok := t.substitute(raw.scalar.(string))
	if !ok {
		return nil, "", fmt.Errorf("%s substitution value was undefined", key)
	}
	switch key {
	case "$file":
		p := resolve(dir, arg)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, "", fmt.Errorf("failed to read file %s, %w", arg, err)
		}
		s := strings.TrimRight(string(data), " \t\r\n\v\f")
		return &node{kind: kindString, scalar: s, file: n.file}, dir, nil
	case "$env":
		v, ok := t.lookupEnv(arg)
		if !ok {
			return nil, dir, nil
		}
		return &node{kind: kindString, scalar: v, file: n.file}, dir, nil
	}
	// $include: path[#dotted.path]
	filePath, pointer, _ := strings.Cut(arg, "#")
	ext := filepath.Ext(filePath)
	if ext != ".json" && ext != ".yaml" && ext != ".yml" {
		return nil, "", fmt.Errorf("no configuration parser available for included file %s", filePath)
	}
	p := resolve(dir, filePath)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("failed to include %q: %w", p, err)
	}
	var v any
	if ext == ".json" {
		v, err = ojson.Decode(data)
	} else {
		v, err = ojson.DecodeYAML(data)
	}
	if err != nil {
		return nil, "", fmt.Errorf("failed to parse included file %s, %w", filePath, err)
	}
	val := fromValue(v, p)
	if pointer != "" {
		parts := strings.Split(pointer, ".")
		for i, part := range parts {
			if val == nil {
				break
			}
			if val.kind != kindObject {
				return nil, "", fmt.Errorf("value at '%s' in included file %s is not an object",
					strings.Join(parts[:i], "."), filePath)
			}
			val = val.fields[part]
		}
	}
	newDir := filepath.Dir(p)
	if val != nil && val.kind == kindString {
		s, ok := t.substitute(val.scalar.(string))
		if !ok {
			return nil, newDir, nil
		}
		val = &node{kind: kindString, scalar: s, file: p}
	}
	return val, newDir, nil
}

func resolve(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}
