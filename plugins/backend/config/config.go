// Package config reads Backstage app-config files: several YAML files merged
// in order, with ${VAR} substitution and $env/$file/$include directives, read
// through typed getters that take dotted keys ("backend.listen.port").
//
// The semantics follow @backstage/config-loader and @backstage/config: later
// files win, objects merge key by key, arrays are replaced whole, null hides
// a value from earlier files, a string whose variable is unset disappears.
// Getters convert the way ConfigReader does (numeric strings are numbers,
// "yes"/"on"/"1" are booleans) and report a wrong type as an error naming the
// key and the file, with Backstage's wording.
package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/understage/understage/plugins/backend/ojson"
)

// Config is a read-only view of a config tree, or of one subtree of it. The
// zero value and nil are both valid empty configs: every getter reports the
// key as absent, so chains like cfg.Sub("a").Sub("b").String("c") are safe.
type Config struct {
	root   *node
	prefix string // full dotted key of root, for error messages
	file   string // file of root, kept for empty subtrees
	reads  *readLog
}

// readLog records the full keys read through a config and its subtrees
// (TrackReads), so a test can hold every key the backend reads against the
// key table.
type readLog struct {
	mu   sync.Mutex
	keys map[string]struct{}
}

// TrackReads starts recording the keys read through c and the subtrees
// taken from it from now on; the returned function lists them, sorted, with
// list indexes written "[]" (catalog.locations[].target).
func (c *Config) TrackReads() func() []string {
	l := &readLog{keys: map[string]struct{}{}}
	c.reads = l
	return func() []string {
		l.mu.Lock()
		defer l.mu.Unlock()
		return slices.Sorted(maps.Keys(l.keys))
	}
}

var listIndex = regexp.MustCompile(`\[\d+\]`)

func (c *Config) recordRead(key string) {
	if c.reads == nil || key == "" {
		return
	}
	k := listIndex.ReplaceAllString(c.fullKey(key), "[]")
	c.reads.mu.Lock()
	c.reads.keys[k] = struct{}{}
	c.reads.mu.Unlock()
}

// keyPart is the shape Backstage allows for each dotted key segment.
var keyPart = regexp.MustCompile(`(?i)^[a-z][a-z0-9]*(?:[-_:][a-z0-9]+)*$`)

// FromValue builds a config from ojson values or plain Go values
// (map[string]any, []any, string, bool, numbers). It is meant for tests and
// for config assembled in code; file names the origin used by BaseDir.
func FromValue(v any, file string) *Config {
	n := stripNulls(fromValue(v, file))
	if n.kind != kindObject {
		n = newObject(file)
	}
	return &Config{root: n, file: file}
}

// lookup walks key from c's root. A segment that is not an object ends the
// walk with an error, like ConfigReader.readValue.
func (c *Config) lookup(key string) (*node, error) {
	if c == nil {
		return nil, nil
	}
	c.recordRead(key)
	if c.root == nil {
		return nil, nil
	}
	if key == "" {
		return c.root, nil
	}
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if !keyPart.MatchString(p) {
			return nil, fmt.Errorf("invalid config key '%s'", key)
		}
	}
	n := c.root
	for i, p := range parts {
		if n.kind != kindObject {
			return nil, c.typeError(strings.Join(parts[:i], "."), n, "object")
		}
		n = n.fields[p]
		if n == nil {
			return nil, nil
		}
	}
	if n.kind == kindNull {
		return nil, nil
	}
	return n, nil
}

func (c *Config) readsOf() *readLog {
	if c == nil {
		return nil
	}
	return c.reads
}

func (c *Config) fullKey(key string) string {
	switch {
	case c == nil || c.prefix == "":
		return key
	case key == "":
		return c.prefix
	}
	return c.prefix + "." + key
}

func (c *Config) typeError(key string, n *node, want string) error {
	return fmt.Errorf("invalid type in config for key '%s' in '%s', got %s, wanted %s",
		c.fullKey(key), filepath.Base(n.file), typeName(n), want)
}

func (c *Config) convertError(key string, n *node, want string) error {
	return fmt.Errorf("unable to convert config value for key '%s' in '%s' to a %s",
		c.fullKey(key), filepath.Base(n.file), want)
}

// Has tells whether key holds a value (null counts as absent).
func (c *Config) Has(key string) bool {
	n, err := c.lookup(key)
	return err == nil && n != nil
}

// Keys lists the keys of the object at c, in file order (later files'
// new keys first, as Backstage's merged view does).
func (c *Config) Keys() []string {
	if c == nil || c.root == nil || c.root.kind != kindObject {
		return nil
	}
	return slices.Clone(c.root.keys)
}

// Get returns the value at key as ojson values (nil, bool, ojson.Number,
// string, []any, *ojson.Object), or nil when absent. Key "" is the whole
// config. The result is a copy.
func (c *Config) Get(key string) any {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return nil
	}
	return n.value()
}

// Sub returns the object at key as a Config. It returns an empty Config when
// key is absent or not an object; use ReadSub to tell those apart.
func (c *Config) Sub(key string) *Config {
	s, _, _ := c.ReadSub(key)
	return s
}

// ReadSub returns the object at key; ok is false when absent, err is set when
// the value is not an object.
func (c *Config) ReadSub(key string) (sub *Config, ok bool, err error) {
	n, err := c.lookup(key)
	empty := &Config{prefix: c.fullKey(key), file: c.File(), reads: c.readsOf()}
	if err != nil {
		return empty, false, err
	}
	if n == nil {
		return empty, false, nil
	}
	if n.kind != kindObject {
		return empty, false, c.typeError(key, n, "object")
	}
	return &Config{root: n, prefix: c.fullKey(key), file: n.file, reads: c.reads}, true, nil
}

// List returns the array of objects at key, or nil when absent or malformed;
// use ReadList to see the error.
func (c *Config) List(key string) []*Config {
	l, _, _ := c.ReadList(key)
	return l
}

// ReadList returns the array of objects at key. Every element must be an
// object (Backstage's getConfigArray).
func (c *Config) ReadList(key string) ([]*Config, bool, error) {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return nil, false, err
	}
	if n.kind != kindArray {
		return nil, false, c.typeError(key, n, "object-array")
	}
	out := make([]*Config, 0, len(n.items))
	for i, it := range n.items {
		k := fmt.Sprintf("%s[%d]", key, i)
		if it.kind != kindObject {
			return nil, false, c.typeError(k, it, "object-array")
		}
		out = append(out, &Config{root: it, prefix: c.fullKey(k), file: it.file, reads: c.reads})
	}
	return out, true, nil
}

// String returns the non-empty string at key; ok is false when absent or not
// a non-empty string.
func (c *Config) String(key string) (string, bool) {
	s, ok, err := c.ReadString(key)
	return s, ok && err == nil
}

// OptionalString returns the string at key, or "" when absent or invalid.
func (c *Config) OptionalString(key string) string {
	s, _ := c.String(key)
	return s
}

// ReadString returns the string at key. Like Backstage, an empty string or
// a non-string value is a type error (numbers are not converted).
func (c *Config) ReadString(key string) (string, bool, error) {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return "", false, err
	}
	if n.kind != kindString || n.scalar.(string) == "" {
		return "", false, c.typeError(key, n, "string")
	}
	return n.scalar.(string), true, nil
}

// StringList returns the array of non-empty strings at key.
func (c *Config) StringList(key string) ([]string, bool) {
	l, ok, err := c.ReadStringList(key)
	return l, ok && err == nil
}

// ReadStringList returns the array of non-empty strings at key.
func (c *Config) ReadStringList(key string) ([]string, bool, error) {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return nil, false, err
	}
	if n.kind != kindArray {
		return nil, false, c.typeError(key, n, "string-array")
	}
	out := make([]string, 0, len(n.items))
	for i, it := range n.items {
		if it.kind != kindString || it.scalar.(string) == "" {
			return nil, false, c.typeError(fmt.Sprintf("%s[%d]", key, i), it, "string-array")
		}
		out = append(out, it.scalar.(string))
	}
	return out, true, nil
}

// Bool returns the boolean at key; ok is false when absent or unconvertible.
func (c *Config) Bool(key string) (bool, bool) {
	b, ok, err := c.ReadBool(key)
	return b, ok && err == nil
}

var (
	truthy = regexp.MustCompile(`(?i)^(?:y|yes|true|1|on)$`)
	falsy  = regexp.MustCompile(`(?i)^(?:n|no|false|0|off)$`)
)

// ReadBool returns the boolean at key, converting numbers and strings such
// as "yes", "on", "0" as Backstage's getOptionalBoolean does.
func (c *Config) ReadBool(key string) (bool, bool, error) {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return false, false, err
	}
	var s string
	switch n.kind {
	case kindBool:
		return n.scalar.(bool), true, nil
	case kindNumber:
		s = string(n.scalar.(ojson.Number))
	case kindString:
		s = strings.TrimSpace(n.scalar.(string))
	default:
		return false, false, c.typeError(key, n, "boolean")
	}
	switch {
	case truthy.MatchString(s):
		return true, true, nil
	case falsy.MatchString(s):
		return false, true, nil
	}
	return false, false, c.convertError(key, n, "boolean")
}

// Float returns the number at key; numeric strings are converted.
func (c *Config) Float(key string) (float64, bool) {
	f, ok, err := c.ReadFloat(key)
	return f, ok && err == nil
}

// ReadFloat returns the number at key, converting numeric strings as
// Backstage's getOptionalNumber does.
func (c *Config) ReadFloat(key string) (float64, bool, error) {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return 0, false, err
	}
	switch n.kind {
	case kindNumber:
		return n.scalar.(ojson.Number).Float(), true, nil
	case kindString:
		f, err := strconv.ParseFloat(strings.TrimSpace(n.scalar.(string)), 64)
		if err != nil || f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308 {
			return 0, false, c.convertError(key, n, "number")
		}
		return f, true, nil
	}
	return 0, false, c.typeError(key, n, "number")
}

// Int returns the integral number at key.
func (c *Config) Int(key string) (int, bool) {
	i, ok, err := c.ReadInt(key)
	return i, ok && err == nil
}

// ReadInt is ReadFloat for values that must be whole numbers.
func (c *Config) ReadInt(key string) (int, bool, error) {
	f, ok, err := c.ReadFloat(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	if f != float64(int(f)) {
		n, _ := c.lookup(key)
		return 0, false, c.convertError(key, n, "integer")
	}
	return int(f), true, nil
}

// File is the absolute path of the file c's root value came from (the last
// file that defined it, or the included file for $include), "" for config
// built in code without a file.
func (c *Config) File() string {
	if c == nil {
		return ""
	}
	if c.root != nil {
		return c.root.file
	}
	return c.file
}

// FileOf is the file the value at key came from, or "" when absent.
func (c *Config) FileOf(key string) string {
	n, err := c.lookup(key)
	if err != nil || n == nil {
		return ""
	}
	return n.file
}

// BaseDir is the folder of File(), for resolving paths written relative to
// the config file. Backstage resolves catalog.locations targets against the
// working directory instead; callers choose.
func (c *Config) BaseDir() string {
	f := c.File()
	if f == "" {
		return ""
	}
	return filepath.Dir(f)
}

// Key is the full dotted key of c within the root config ("" at the root).
func (c *Config) Key() string {
	if c == nil {
		return ""
	}
	return c.prefix
}

func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
