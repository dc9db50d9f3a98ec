package ojson

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// Decode parses JSON into ojson values. Valid JSON (checked first, which
// also bounds nesting) is parsed by a scanner over the bytes, several times
// faster than encoding/json's tokens; invalid JSON goes through the tokens
// for encoding/json's error.
func Decode(data []byte) (any, error) {
	if !json.Valid(data) {
		return decodeTokens(data)
	}
	return DecodeValid(data)
}

// DecodeValid is Decode for data that json.Valid accepts (the caller has
// checked), read without checking it again.
func DecodeValid(data []byte) (any, error) {
	p := parser{b: data}
	v := p.value()
	if p.err != nil {
		return nil, p.err
	}
	return v, nil
}

// parser reads one valid JSON value from b.
type parser struct {
	b   []byte
	i   int
	err error
}

// manyMembers is the size from which an object being parsed finds
// duplicate keys through a map instead of a scan.
const manyMembers = 16

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value() any {
	p.ws()
	switch c := p.b[p.i]; c {
	case '{':
		return p.object()
	case '[':
		p.i++
		arr := []any{}
		p.ws()
		if p.b[p.i] == ']' {
			p.i++
			return arr
		}
		for {
			arr = append(arr, p.value())
			p.ws()
			c := p.b[p.i]
			p.i++
			if c == ']' {
				return arr
			}
		}
	case '"':
		return p.str()
	case 't':
		p.i += 4
		return true
	case 'f':
		p.i += 5
		return false
	case 'n':
		p.i += 4
		return nil
	default:
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
				p.i++
				continue
			}
			break
		}
		// Valid JSON: the only error is out of range, where ParseFloat
		// gives ±Infinity as JSON.parse does.
		f, _ := strconv.ParseFloat(string(p.b[start:p.i]), 64)
		return NumberFromFloat(f)
	}
}

func (p *parser) object() any {
	p.i++
	o := &Object{}
	var index map[string]int
	p.ws()
	if p.b[p.i] == '}' {
		p.i++
		return o
	}
	for {
		p.ws()
		k := p.str()
		p.ws()
		p.i++ // ':'
		v := p.value()
		// JSON.parse keeps the last duplicate at the first position.
		if index == nil && len(o.Members) >= manyMembers {
			index = make(map[string]int, 2*len(o.Members))
			for at, m := range o.Members {
				index[m.Key] = at
			}
		}
		if index == nil {
			o.Set(k, v)
		} else if at, ok := index[k]; ok {
			o.Members[at].Value = v
		} else {
			index[k] = len(o.Members)
			o.Members = append(o.Members, Member{k, v})
		}
		p.ws()
		c := p.b[p.i]
		p.i++
		if c == '}' {
			return o
		}
	}
}

// str reads a string at p.i (its opening quote). One without escapes in
// well-formed UTF-8 is its bytes; the others are unquoted by encoding/json,
// for its handling of escapes, surrogates and invalid bytes.
func (p *parser) str() string {
	start := p.i
	p.i++
	plain, ascii := true, true
	for {
		c := p.b[p.i]
		if c == '"' {
			break
		}
		if c == '\\' {
			plain = false
			p.i += 2
			continue
		}
		if c >= utf8.RuneSelf {
			ascii = false
		}
		p.i++
	}
	p.i++
	body := p.b[start+1 : p.i-1]
	if plain && (ascii || utf8.Valid(body)) {
		return string(body)
	}
	var s string
	if err := json.Unmarshal(p.b[start:p.i], &s); err != nil && p.err == nil {
		p.err = err
	}
	return s
}
