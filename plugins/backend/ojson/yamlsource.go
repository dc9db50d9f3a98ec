package ojson

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// YAMLError is a YAML document that Backstage's parser (eemeli/yaml)
// refuses, in its words.
type YAMLError struct {
	// Name is the JavaScript error class. "YAMLParseError" is an error
	// Backstage's parser lists among a document's errors: the document is
	// skipped and the rest of the file still read. Any other name
	// (ReferenceError, RangeError) is thrown when the document is converted
	// to JSON, which ends Backstage's reading of the file; see Thrown.
	Name string
	// Message is the parser's message, with " at line L, column C:" and an
	// excerpt of the source where eemeli/yaml gives them.
	Message string
	Line    int // 1-based; 0 when unknown
}

func (e *YAMLError) Error() string { return e.Name + ": " + e.Message }

// Thrown reports whether Backstage throws the error while converting the
// document, rather than listing it among the document's errors.
func (e *YAMLError) Thrown() bool { return e.Name != "YAMLParseError" }

// The messages of eemeli/yaml (Backstage's YAML parser) this package
// reproduces.
const (
	msgDuplicateKey   = "Map keys must be unique"
	msgExcessiveAlias = "Excessive alias count indicates a resource exhaustion attack"
	msgStackExceeded  = "Maximum call stack size exceeded"
	msgMultipleDocs   = "Source contains multiple documents; please use YAML.parseAllDocuments()"
	msgBadTimestamp   = "!!timestamp expects a date, starting with yyyy-mm-dd"
	msgLongKey        = "The : indicator must be at most 1024 chars after the start of an implicit block mapping key"
)

// yamlSource is the text being parsed, to place errors the way eemeli/yaml
// does: lines end at '\n', columns count UTF-16 code units (as JavaScript
// strings do) and a byte order mark is a character of the first line.
type yamlSource struct {
	data       []byte
	lineStarts []int // computed on the first error
}

func (s *yamlSource) line(n int) []byte {
	if s.lineStarts == nil {
		s.lineStarts = []int{0}
		for i, c := range s.data {
			if c == '\n' {
				s.lineStarts = append(s.lineStarts, i+1)
			}
		}
	}
	if n < 1 || n > len(s.lineStarts) {
		return nil
	}
	end := len(s.data)
	if n < len(s.lineStarts) {
		end = s.lineStarts[n]
	}
	return s.data[s.lineStarts[n-1]:end]
}

// column is the 1-based UTF-16 column where eemeli/yaml places an error
// about node n, found at line of the source: where n starts or, with
// skipProps, where its content starts after any anchor or tag.
func (s *yamlSource) column(n *yaml.Node, line int, skipProps bool) int {
	text := s.line(line)
	bom := 0
	if line == 1 && bytes.HasPrefix(text, []byte("\ufeff")) {
		bom = 3 // yaml.v3 does not count the mark; JavaScript does
	}
	off := bom
	for i := 1; i < n.Column && off < len(text); i++ {
		_, w := utf8.DecodeRune(text[off:])
		off += w
	}
	if skipProps && (n.Anchor != "" || n.Style&yaml.TaggedStyle != 0) {
		// yaml.v3 starts a node at its first property; eemeli/yaml at
		// the content after them.
		for off < len(text) && (text[off] == '&' || text[off] == '!') {
			for off < len(text) && text[off] != ' ' && text[off] != '\t' && text[off] != '\n' && text[off] != '\r' {
				off++
			}
			for off < len(text) && (text[off] == ' ' || text[off] == '\t') {
				off++
			}
		}
	}
	return utf16Len(text[:off]) + 1
}

func utf16Len(b []byte) int {
	n := 0
	for _, r := range string(b) {
		n += utf16.RuneLen(r)
	}
	return n
}

func toUTF16(b []byte) []uint16 { return utf16.Encode([]rune(string(b))) }

var onlySpaces = regexp.MustCompile(`^ *$`)

// parseError is a YAMLParseError at line and column, with the excerpt
// eemeli/yaml's prettifyError adds; width is the length of the token in
// error, underlined when it fits.
func (s *yamlSource) parseError(msg string, line, col, width int) *YAMLError {
	var b strings.Builder
	fmt.Fprintf(&b, "%s at line %d, column %d", msg, line, col)
	ci := col - 1
	lineStr := toUTF16(bytes.TrimRight(s.line(line), "\r\n"))
	if ci >= 60 && len(lineStr) > 80 {
		trimStart := min(ci-39, len(lineStr)-79)
		lineStr = append([]uint16{'…'}, lineStr[trimStart:]...)
		ci -= trimStart - 1
	}
	if len(lineStr) > 80 {
		lineStr = append(lineStr[:79:79], '…')
	}
	if line > 1 && onlySpaces.MatchString(string(utf16.Decode(lineStr[:min(ci, len(lineStr))]))) {
		prev := toUTF16(s.line(line - 1))
		if len(prev) > 80 {
			prev = append(prev[:79:79], '…', '\n')
		}
		lineStr = append(prev, lineStr...)
	}
	excerpt := string(utf16.Decode(lineStr))
	if strings.Trim(excerpt, " ") != "" {
		count := max(1, min(width, 80-ci))
		fmt.Fprintf(&b, ":\n\n%s\n%s%s\n", excerpt, strings.Repeat(" ", ci), strings.Repeat("^", count))
	}
	return &YAMLError{Name: "YAMLParseError", Message: b.String(), Line: line}
}

// longKeyError words yaml.v3's "could not find expected ':'" at line as
// eemeli/yaml does when the cause is an implicit key longer than 1024
// characters, or returns nil.
func (s *yamlSource) longKeyError(line int) *YAMLError {
	text := bytes.TrimRight(s.line(line), "\r\n")
	start := len(text) - len(bytes.TrimLeft(text, " "))
	colon := -1
	for i := start; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\t') {
			colon = i
			break
		}
	}
	if colon < 0 || utf16Len(text[start:colon]) <= 1024 {
		return nil
	}
	col := utf16Len(text[:start]) + 1
	return s.parseError(msgLongKey, line, col, utf16Len(bytes.TrimRight(text[start:colon], " \t")))
}
