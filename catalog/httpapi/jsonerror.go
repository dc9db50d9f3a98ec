package httpapi

import (
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/understage/understage/plugins/backend"
)

// This file reproduces the error messages a Node backend shows for text that
// is not JSON: V8's JSON.parse messages (position, line and column counted
// in UTF-16 code units, short context excerpts) and, for request bodies,
// body-parser's strict-mode rewrite of them.

// jsText is a JavaScript string: UTF-16 code units.
type jsText []uint16

// decodeUTF8JS decodes bytes like Node's Buffer#toString("utf8") (the WHATWG
// decoder): each maximal invalid subsequence becomes one U+FFFD.
func decodeUTF8JS(b []byte) jsText {
	out := make(jsText, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out = append(out, uint16(c))
			i++
			continue
		}
		// The WHATWG algorithm: a lead byte fixes how many continuation bytes
		// follow and the range the first of them must be in.
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c == 0xED:
			need, hi = 2, 0x9F
		case c >= 0xE1 && c <= 0xEF:
			need = 2
		case c == 0xF0:
			need, lo = 3, 0x90
		case c == 0xF4:
			need, hi = 3, 0x8F
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		default:
			out = append(out, utf8.RuneError)
			i++
			continue
		}
		j := i + 1
		ok := true
		for k := 0; k < need; k++ {
			if j >= len(b) || b[j] < lo || b[j] > hi {
				ok = false
				break
			}
			lo, hi = 0x80, 0xBF
			j++
		}
		if !ok {
			// The lead and the valid continuations so far are one error;
			// the offending byte is decoded afresh.
			out = append(out, utf8.RuneError)
			i = j
			continue
		}
		r, _ := utf8.DecodeRune(b[i:j])
		out = utf16.AppendRune(out, r)
		i = j
	}
	return out
}

// String renders the code units as Go text; lone surrogates become U+FFFD.
func (t jsText) String() string {
	return string(utf16.Decode(t))
}

func (t jsText) indexOf(s string) int {
	u := utf16.Encode([]rune(s))
	for i := 0; i+len(u) <= len(t); i++ {
		if equalUnits(t[i:i+len(u)], u) {
			return i
		}
	}
	return -1
}

func equalUnits(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// jsonToken classifies a character the way V8's JSON scanner does.
type jsonToken int

const (
	tokIllegal jsonToken = iota
	tokEOS
	tokString
	tokNumber
	tokWhitespace
	tokOther // structural characters and literal starts
)

func tokenOf(c int) jsonToken {
	switch {
	case c < 0:
		return tokEOS
	case c == '"':
		return tokString
	case c == '-' || (c >= '0' && c <= '9'):
		return tokNumber
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		return tokWhitespace
	case strings.ContainsRune("{}[]:,tfn", rune(c)):
		return tokOther
	}
	return tokIllegal
}

// v8Parser walks a text exactly as far as V8's JSON.parse would and
// remembers the first error.
type v8Parser struct {
	src jsText
	pos int
	msg string
}

// errStop unwinds the recursive descent after the first error.
type errStop struct{}

// v8JSONParseError returns V8's JSON.parse message for src, or "" when src
// is valid JSON.
func v8JSONParseError(src jsText) (msg string) {
	p := &v8Parser{src: src}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(errStop); !ok {
				panic(r)
			}
			msg = p.msg
		}
	}()
	p.value()
	p.skipWS()
	if p.pos < len(p.src) {
		p.fail(tokOther, "Unexpected non-whitespace character after JSON")
	}
	return ""
}

func (p *v8Parser) cur() int {
	if p.pos >= len(p.src) {
		return -1
	}
	return int(p.src[p.pos])
}

func (p *v8Parser) skipWS() {
	for tokenOf(p.cur()) == tokWhitespace {
		p.pos++
	}
}

// fail records the error at the current position. explicit is the message
// stem V8 uses for that place, or "" for the generic per-token message.
func (p *v8Parser) fail(tok jsonToken, explicit string) {
	at := func(stem string) string {
		line, col := p.lineColumn()
		return fmt.Sprintf("%s at position %d (line %d column %d)", stem, p.pos, line, col)
	}
	switch {
	case explicit != "":
		p.msg = at(explicit)
	case tok == tokEOS:
		p.msg = "Unexpected end of JSON input"
	case tok == tokNumber:
		p.msg = at("Unexpected number in JSON")
	case tok == tokString:
		p.msg = at("Unexpected string in JSON")
	default:
		p.msg = p.unexpectedTokenMessage()
	}
	panic(errStop{})
}

// failChar reports the character at the current position as unexpected.
func (p *v8Parser) failChar() {
	c := p.cur()
	tok := tokenOf(c)
	if c > 0xFF {
		tok = tokIllegal
	}
	p.fail(tok, "")
}

// lineColumn counts \n, \r and \r\n as line breaks, up to the position.
func (p *v8Parser) lineColumn() (line, col int) {
	line, start := 1, 0
	for i := 0; i < p.pos; i++ {
		c := p.src[i]
		if c == '\r' && i < p.pos-1 && p.src[i+1] == '\n' {
			i++
			c = '\n'
		}
		if c == '\r' || c == '\n' {
			line++
			start = i + 1
		}
	}
	return line, 1 + p.pos - start
}

// unexpectedTokenMessage quotes the whole text when short, else ten
// characters either side of the position.
func (p *v8Parser) unexpectedTokenMessage() string {
	whole := p.src.String()
	switch whole {
	case "NaN", "Infinity", "undefined", "[object Object]":
		return "\"" + whole + "\" is not valid JSON"
	}
	tok := jsText{p.src[p.pos]}.String()
	const ctx = 10
	n := len(p.src)
	if n < 2*ctx+1 {
		return fmt.Sprintf("Unexpected token '%s', \"%s\" is not valid JSON", tok, whole)
	}
	switch {
	case p.pos < ctx:
		return fmt.Sprintf("Unexpected token '%s', \"%s\"... is not valid JSON", tok, p.src[:p.pos+ctx].String())
	case p.pos < n-ctx:
		return fmt.Sprintf("Unexpected token '%s', ...\"%s\"... is not valid JSON", tok, p.src[p.pos-ctx:p.pos+ctx].String())
	default:
		return fmt.Sprintf("Unexpected token '%s', ...\"%s\" is not valid JSON", tok, p.src[p.pos-ctx:].String())
	}
}

func (p *v8Parser) value() {
	p.skipWS()
	switch c := p.cur(); {
	case c == '"':
		p.str()
	case tokenOf(c) == tokNumber:
		p.number()
	case c == '{':
		p.pos++
		p.skipWS()
		if p.cur() == '}' {
			p.pos++
			return
		}
		if p.cur() != '"' {
			p.fail(tokenOf(p.cur()), "Expected property name or '}' in JSON")
		}
		for {
			p.str()
			p.skipWS()
			if p.cur() != ':' {
				p.fail(tokenOf(p.cur()), "Expected ':' after property name in JSON")
			}
			p.pos++
			p.value()
			p.skipWS()
			if p.cur() != ',' {
				break
			}
			p.pos++
			p.skipWS()
			if p.cur() != '"' {
				p.fail(tokenOf(p.cur()), "Expected double-quoted property name in JSON")
			}
		}
		if p.cur() != '}' {
			p.fail(tokenOf(p.cur()), "Expected ',' or '}' after property value in JSON")
		}
		p.pos++
	case c == '[':
		p.pos++
		p.skipWS()
		if p.cur() == ']' {
			p.pos++
			return
		}
		for {
			p.value()
			p.skipWS()
			if p.cur() != ',' {
				break
			}
			p.pos++
		}
		if p.cur() != ']' {
			p.fail(tokenOf(p.cur()), "Expected ',' or ']' after array element in JSON")
		}
		p.pos++
	case c == 't':
		p.literal("true")
	case c == 'f':
		p.literal("false")
	case c == 'n':
		p.literal("null")
	default:
		p.failChar()
	}
}

// literal checks the rest of a keyword; the first mismatch is reported as
// an unexpected character, running out as the end of input.
func (p *v8Parser) literal(word string) {
	p.pos++
	for i := 1; i < len(word); i++ {
		if p.pos >= len(p.src) {
			p.fail(tokEOS, "")
		}
		if p.cur() != int(word[i]) {
			p.failChar()
		}
		p.pos++
	}
}

func isDigit(c int) bool { return c >= '0' && c <= '9' }

func (p *v8Parser) number() {
	if p.cur() == '-' {
		p.pos++
	}
	switch c := p.cur(); {
	case c == '0':
		p.pos++
		if isDigit(p.cur()) {
			p.fail(tokNumber, "")
		}
	case !isDigit(c):
		p.fail(tokIllegal, "No number after minus sign in JSON")
	default:
		p.digits()
	}
	if p.cur() == '.' {
		p.pos++
		if !isDigit(p.cur()) {
			p.fail(tokIllegal, "Unterminated fractional number in JSON")
		}
		p.digits()
	}
	if c := p.cur(); c == 'e' || c == 'E' {
		p.pos++
		if c := p.cur(); c == '+' || c == '-' {
			p.pos++
		}
		if !isDigit(p.cur()) {
			p.fail(tokIllegal, "Exponent part is missing a number in JSON")
		}
		p.digits()
	}
}

func (p *v8Parser) digits() {
	for isDigit(p.cur()) {
		p.pos++
	}
}

func isHex(c int) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// str scans a string starting at its opening quote.
func (p *v8Parser) str() {
	p.pos++
	for {
		c := p.cur()
		switch {
		case c < 0:
			p.fail(tokIllegal, "Unterminated string in JSON")
		case c == '"':
			p.pos++
			return
		case c < 0x20:
			p.fail(tokIllegal, "Bad control character in string literal in JSON")
		case c == '\\':
			p.pos++
			switch e := p.cur(); {
			case e < 0:
				p.fail(tokEOS, "")
			case strings.ContainsRune(`"\/bfnrt`, rune(e)):
				p.pos++
			case e == 'u':
				for i := 0; i < 4; i++ {
					p.pos++
					if !isHex(p.cur()) {
						p.fail(tokIllegal, "Bad Unicode escape in JSON")
					}
				}
				p.pos++
			default:
				p.fail(tokIllegal, "Bad escaped character in JSON")
			}
		default:
			p.pos++
		}
	}
}

// bodyParseError is the message express.json() (body-parser, strict mode)
// gives for a request body that is not a JSON object or array, or "" when
// the body parses. A body must start with { or [; otherwise body-parser
// parses a copy with everything from the first character on masked by '#'
// and puts the original characters back into the message.
func bodyParseError(text jsText) string {
	if len(text) == 0 {
		return "" // body-parser's empty object
	}
	i := 0
	for i < len(text) && tokenOf(int(text[i])) == tokWhitespace {
		i++
	}
	if i < len(text) && (text[i] == '{' || text[i] == '[') {
		return v8JSONParseError(text)
	}
	var masked jsText
	if i < len(text) {
		masked = append(append(masked, text[:i]...), make(jsText, len(text)-i)...)
		for k := i; k < len(masked); k++ {
			masked[k] = '#'
		}
	}
	msg := utf16.Encode([]rune(v8JSONParseError(masked)))
	var out jsText
	for k := 0; k < len(msg); {
		if msg[k] != '#' {
			out = append(out, msg[k])
			k++
			continue
		}
		run := 0
		for k+run < len(msg) && msg[k+run] == '#' {
			run++
		}
		end := min(i+run, len(text))
		out = append(out, text[i:end]...)
		k += run
	}
	return out.String()
}

// isUTF8Charset reports whether a charset parameter that charsetDecoder
// accepts means UTF-8 (absent included).
func isUTF8Charset(charset string) bool {
	return charset == "" || iconvName(charset) == "utf8"
}

// iconvName is iconv-lite's canonical name of a charset: lower case,
// alphanumerics only.
func iconvName(charset string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, strings.ToLower(charset))
}

// charsetDecoder is how body-parser (through iconv-lite) turns a body in
// the given charset into text: only "utf-" charsets are accepted, among
// them UTF-8, UTF-16 (LE, BE, or by BOM and content) and UTF-7.
func charsetDecoder(charset string) (func([]byte) jsText, error) {
	cs := strings.ToLower(charset)
	if cs == "" {
		return decodeUTF8JS, nil
	}
	unsupported := backend.Input("unsupported charset \"%s\"", strings.ToUpper(charset))
	if !strings.HasPrefix(cs, "utf-") {
		return nil, unsupported
	}
	canon := iconvName(cs)
	switch canon {
	case "utf8":
		return decodeUTF8JS, nil
	case "utf16le":
		return func(b []byte) jsText { return decodeUTF16(b, false) }, nil
	case "utf16be":
		return func(b []byte) jsText { return decodeUTF16(b, true) }, nil
	case "utf16":
		return func(b []byte) jsText { return decodeUTF16(b, utf16BigEndian(b)) }, nil
	case "utf7":
		return decodeUTF7, nil
	}
	return nil, unsupported
}

// utf16BigEndian guesses UTF-16's byte order as iconv-lite does: by BOM,
// else by which byte of the leading code units is zero (ASCII text), else
// little endian.
func utf16BigEndian(b []byte) bool {
	if len(b) >= 2 {
		switch {
		case b[0] == 0xFE && b[1] == 0xFF:
			return true
		case b[0] == 0xFF && b[1] == 0xFE:
			return false
		}
	}
	le, be := 0, 0
	for i := 0; i+1 < len(b) && i < 100; i += 2 {
		switch {
		case b[i] != 0 && b[i+1] == 0:
			le++
		case b[i] == 0 && b[i+1] != 0:
			be++
		}
	}
	return be > le
}

func decodeUTF16(b []byte, bigEndian bool) jsText {
	out := make(jsText, 0, len(b)/2+1)
	for i := 0; i+1 < len(b); i += 2 {
		if bigEndian {
			out = append(out, uint16(b[i])<<8|uint16(b[i+1]))
		} else {
			out = append(out, uint16(b[i+1])<<8|uint16(b[i]))
		}
	}
	if len(b)%2 == 1 {
		out = append(out, utf8.RuneError)
	}
	return out
}

// decodeUTF7 decodes RFC 2152 UTF-7: "+" starts modified base64 of UTF-16
// code units, ended by any other character ("-" is absorbed); "+-" is "+".
func decodeUTF7(b []byte) jsText {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	out := make(jsText, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '+' {
			out = append(out, uint16(b[i]))
			continue
		}
		j := i + 1
		bits, n := 0, 0
		for ; j < len(b); j++ {
			v := strings.IndexByte(alphabet, b[j])
			if v < 0 {
				break
			}
			bits, n = bits<<6|v, n+6
			if n >= 16 {
				n -= 16
				out = append(out, uint16(bits>>n))
				bits &= 1<<n - 1
			}
		}
		if j == i+1 && j < len(b) && b[j] == '-' {
			out = append(out, '+')
		}
		if j < len(b) && b[j] == '-' {
			i = j
		} else {
			i = j - 1
		}
	}
	return out
}
