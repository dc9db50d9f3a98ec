// Package ojson holds JSON values whose objects keep their key order.
//
// Backstage serves entities in the order their YAML was written, with the
// catalog's own additions appended; a Go map would shuffle them. Values are
// nil, bool, Number, string, []any and *Object. YAML decoding follows the
// YAML 1.2 core schema that Backstage's parser uses (timestamps stay strings).
package ojson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Number is a JSON number kept as its canonical text, as JavaScript's
// String(n) prints it: "Infinity", "-Infinity" and "NaN" included, since
// JSON.parse reads 1e400 as Infinity and YAML has .inf and .nan. Writers
// turn those three into null, as JSON.stringify does.
type Number string

// Float returns the number as a float64.
func (n Number) Float() float64 { f, _ := strconv.ParseFloat(string(n), 64); return f }

// Finite reports whether n is neither infinite nor NaN (JavaScript's
// Number.isFinite).
func (n Number) Finite() bool {
	switch n {
	case "Infinity", "-Infinity", "NaN":
		return false
	}
	return true
}

// JSON is the number as JSON.stringify writes it.
func (n Number) JSON() string {
	if !n.Finite() {
		return "null"
	}
	return string(n)
}

// NumberFromFloat formats f the way JavaScript's String(f) does.
func NumberFromFloat(f float64) Number {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	if f == 0 {
		return "0" // also -0, as JavaScript writes it
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	abs := math.Abs(f)
	if abs >= 1e21 || abs < 1e-6 {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Go writes e+21 / e-07; JavaScript writes e+21 / e-7.
		if i := strings.IndexByte(s, 'e'); i >= 0 {
			mant, exp := s[:i], s[i+1:]
			sign := exp[0]
			digits := strings.TrimLeft(exp[1:], "0")
			if digits == "" {
				digits = "0"
			}
			s = mant + "e" + string(sign) + digits
		}
		return Number(s)
	}
	return Number(strconv.FormatFloat(f, 'f', -1, 64))
}

// Member is one key/value pair of an Object.
type Member struct {
	Key   string
	Value any
}

// Object is a JSON object that remembers insertion order.
type Object struct {
	Members []Member
}

// NewObject builds an object from alternating keys and values.
func NewObject(kv ...any) *Object {
	o := &Object{}
	for i := 0; i+1 < len(kv); i += 2 {
		o.Set(kv[i].(string), kv[i+1])
	}
	return o
}

// Len is the number of keys.
func (o *Object) Len() int {
	if o == nil {
		return 0
	}
	return len(o.Members)
}

func (o *Object) index(key string) int {
	if o == nil {
		return -1
	}
	for i := range o.Members {
		if o.Members[i].Key == key {
			return i
		}
	}
	return -1
}

// Get returns the value of key and whether it exists.
func (o *Object) Get(key string) (any, bool) {
	i := o.index(key)
	if i < 0 {
		return nil, false
	}
	return o.Members[i].Value, true
}

// Has tells whether key exists.
func (o *Object) Has(key string) bool { return o.index(key) >= 0 }

// String returns the string value of key, or "" when absent or not a string.
func (o *Object) String(key string) string {
	v, _ := o.Get(key)
	s, _ := v.(string)
	return s
}

// Object returns the object value of key, or nil.
func (o *Object) Object(key string) *Object {
	v, _ := o.Get(key)
	m, _ := v.(*Object)
	return m
}

// Set replaces the value of key in place, or appends it.
func (o *Object) Set(key string, v any) {
	if i := o.index(key); i >= 0 {
		o.Members[i].Value = v
		return
	}
	o.Members = append(o.Members, Member{key, v})
}

// Delete removes key.
func (o *Object) Delete(key string) {
	if i := o.index(key); i >= 0 {
		o.Members = append(o.Members[:i], o.Members[i+1:]...)
	}
}

// Keys lists the keys in order.
func (o *Object) Keys() []string {
	if o == nil {
		return nil
	}
	ks := make([]string, len(o.Members))
	for i, m := range o.Members {
		ks[i] = m.Key
	}
	return ks
}

// EnsureObject returns the object at key, creating (or replacing a non-object) when needed.
func (o *Object) EnsureObject(key string) *Object {
	if m := o.Object(key); m != nil {
		return m
	}
	m := &Object{}
	o.Set(key, m)
	return m
}

// Clone deep-copies a value.
func Clone(v any) any {
	switch t := v.(type) {
	case *Object:
		if t == nil {
			return (*Object)(nil)
		}
		c := &Object{Members: make([]Member, len(t.Members))}
		for i, m := range t.Members {
			c.Members[i] = Member{m.Key, Clone(m.Value)}
		}
		return c
	case []any:
		c := make([]any, len(t))
		for i, e := range t {
			c[i] = Clone(e)
		}
		return c
	default:
		return v
	}
}

// CloneObject deep-copies an object.
func (o *Object) Clone() *Object { return Clone(o).(*Object) }

// MarshalJSON writes the object with its keys in order.
func (o *Object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b, o, false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// UnmarshalJSON reads an object keeping key order.
func (o *Object) UnmarshalJSON(data []byte) error {
	v, err := Decode(data)
	if err != nil {
		return err
	}
	m, ok := v.(*Object)
	if !ok {
		return fmt.Errorf("ojson: not an object")
	}
	*o = *m
	return nil
}

// Marshal encodes any value (ojson values, or plain Go values via encoding/json).
func Marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b, v, false); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MarshalSorted encodes v with object keys sorted, for stable hashing.
func MarshalSorted(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := write(&b, v, true); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// MustMarshal is Marshal for values known to encode.
func MustMarshal(v any) []byte {
	b, err := Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// WriteString writes s to b as a JSON string, escaped as JSON.stringify
// escapes it.
func WriteString(b *bytes.Buffer, s string) { writeString(b, s) }

func writeString(b *bytes.Buffer, s string) {
	// Backstage (JSON.stringify) escapes only what JSON requires; do the same
	// so that bodies compare byte for byte (no \u003c for '<').
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b.WriteString(s[start:i])
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			fmt.Fprintf(b, `\u%04x`, c)
		}
		start = i + 1
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

func write(b *bytes.Buffer, v any, sorted bool) error {
	switch t := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		if t {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case string:
		writeString(b, t)
	case Number:
		b.WriteString(t.JSON())
	case json.Number:
		b.WriteString(NumberFromFloat(Number(t).Float()).JSON())
	case float64:
		b.WriteString(NumberFromFloat(t).JSON())
	case int:
		b.WriteString(strconv.Itoa(t))
	case int64:
		b.WriteString(strconv.FormatInt(t, 10))
	case *Object:
		if t == nil {
			b.WriteString("null")
			return nil
		}
		b.WriteByte('{')
		members := t.Members
		if sorted {
			members = append([]Member(nil), members...)
			sort.SliceStable(members, func(i, j int) bool { return members[i].Key < members[j].Key })
		}
		first := true
		for _, m := range members {
			if _, undef := m.Value.(UndefinedType); undef {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			writeString(b, m.Key)
			b.WriteByte(':')
			if err := write(b, m.Value, sorted); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			if _, undef := e.(UndefinedType); undef {
				b.WriteString("null")
				continue
			}
			if err := write(b, e, sorted); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, e)
		}
		b.WriteByte(']')
	case json.RawMessage:
		b.Write(t)
	case map[string]any:
		o := &Object{}
		for k, e := range t {
			o.Members = append(o.Members, Member{k, e})
		}
		sort.Slice(o.Members, func(i, j int) bool { return o.Members[i].Key < o.Members[j].Key })
		return write(b, o, sorted)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if sorted || bytes.ContainsAny(raw, "<>&") {
			// Re-decode to get canonical escaping and (when asked) sorted keys.
			d, err := Decode(raw)
			if err != nil {
				return err
			}
			return write(b, d, sorted)
		}
		b.Write(raw)
	}
	return nil
}

// UndefinedType is the type of Undefined, for type switches.
type UndefinedType struct{}

// Undefined is JavaScript's undefined, the one sentinel of the tree: a
// missing property, a template that renders to nothing, a schema value
// that is absent. Marshal leaves it out of objects and writes null for it
// in arrays, as JSON.stringify does.
var Undefined any = UndefinedType{}

// IsUndefined reports whether v is Undefined.
func IsUndefined(v any) bool {
	_, ok := v.(UndefinedType)
	return ok
}

// decodeTokens is Decode through encoding/json's tokens.
func decodeTokens(data []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	v, err := decodeValue(d)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("ojson: trailing data after JSON value")
	}
	return v, nil
}

// DecodeObject parses a JSON object.
func DecodeObject(data []byte) (*Object, error) {
	v, err := Decode(data)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*Object)
	if !ok {
		return nil, fmt.Errorf("ojson: expected a JSON object")
	}
	return o, nil
}

func decodeValue(d *json.Decoder) (any, error) {
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	return decodeFrom(d, tok)
}

func decodeFrom(d *json.Decoder, tok json.Token) (any, error) {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := &Object{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("ojson: bad object key")
				}
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				// JSON.parse keeps the last duplicate at the first position.
				o.Set(k, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			arr := []any{}
			for d.More() {
				v, err := decodeValue(d)
				if err != nil {
					return nil, err
				}
				arr = append(arr, v)
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return arr, nil
		}
		return nil, fmt.Errorf("ojson: unexpected delimiter %v", t)
	case json.Number:
		// Out of range is ±Infinity, as JSON.parse reads it.
		f, _ := strconv.ParseFloat(string(t), 64)
		return NumberFromFloat(f), nil
	default:
		return t, nil // string, bool, nil
	}
}

// FromGo converts plain Go values (maps, slices, numbers) into ojson values.
// Map keys are sorted, since Go maps carry no order.
func FromGo(v any) any {
	switch t := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		o := &Object{}
		for _, k := range keys {
			o.Set(k, FromGo(t[k]))
		}
		return o
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = FromGo(e)
		}
		return out
	case []string:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = e
		}
		return out
	case float64:
		return NumberFromFloat(t)
	case int:
		return Number(strconv.Itoa(t))
	case int64:
		return Number(strconv.FormatInt(t, 10))
	case json.Number:
		return NumberFromFloat(Number(t).Float())
	default:
		return v
	}
}

// ToGo converts ojson values into plain Go values (map[string]any, []any,
// float64), e.g. for JSON Schema validation.
func ToGo(v any) any {
	switch t := v.(type) {
	case *Object:
		if t == nil {
			return nil
		}
		m := make(map[string]any, len(t.Members))
		for _, mem := range t.Members {
			if _, undef := mem.Value.(UndefinedType); undef {
				continue
			}
			m[mem.Key] = ToGo(mem.Value)
		}
		return m
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = ToGo(e)
		}
		return out
	case Number:
		return t.Float()
	default:
		return v
	}
}

// ScalarString is the text of a string, boolean or number value (a
// number's as the Number keeps it); null, objects and arrays have none.
func ScalarString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case bool:
		if t {
			return "true", true
		}
		return "false", true
	case Number:
		return string(t), true
	}
	return "", false
}
