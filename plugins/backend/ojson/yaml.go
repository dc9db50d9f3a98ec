package ojson

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// YAMLDocument is one document of a YAML stream.
type YAMLDocument struct {
	Value any        // nil for an empty document
	Line  int        // 1-based line where the document starts
	Node  *yaml.Node // the parsed document (DecodeYAMLDocumentsWithNodes only)
	// Err is a *YAMLError when the document cannot be used. When it is
	// thrown (YAMLError.Thrown), Backstage stops reading the file there.
	Err error
}

// DecodeYAMLDocuments parses a multi-document YAML stream as Backstage's
// parser does (eemeli/yaml's parseAllDocuments, then toJSON of each
// document): YAML 1.2 core schema, duplicate keys refused, anchors scoped
// to their document, aliases counted and bounded (see the limits in
// yamlcompose.go). An error in a document is that document's Err; a
// syntax error that stops yaml.v3 ends the stream and is returned, as a
// *YAMLError, after the documents before it.
//
// Large streams are split at document markers and the pieces parsed on all
// cores; the result is the same as parsing the stream in one go (which is
// what happens whenever a piece fails, so errors are reported alike).
func DecodeYAMLDocuments(data []byte) ([]YAMLDocument, error) {
	return decodeYAMLParallel(data, runtime.GOMAXPROCS(0), minYAMLPiece)
}

// decodeYAMLParallel parses data in up to n pieces of at least minPiece
// bytes.
func decodeYAMLParallel(data []byte, n, minPiece int) ([]YAMLDocument, error) {
	data = prepareYAML(data)
	budget := aliasBudget(data)
	pieces := splitYAMLStream(data, n, minPiece)
	if len(pieces) < 2 {
		r := decodeYAMLStream(data, data, 0, budget, false)
		return r.docs, r.err
	}
	parts := make([]yamlStreamResult, len(pieces))
	var wg sync.WaitGroup
	for i, p := range pieces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i] = decodeYAMLStream(data, p.data, p.line, budget, false)
		}()
	}
	wg.Wait()
	var docs []YAMLDocument
	used := 0
	for _, p := range parts {
		used += p.used
		if p.err != nil || p.stopped || used > budget {
			// Only the whole stream tells where it first fails (a piece may
			// also fail for lack of an anchor an earlier piece defines) and
			// how much aliasing it allows in total.
			r := decodeYAMLStream(data, data, 0, budget, false)
			return r.docs, r.err
		}
		docs = append(docs, p.docs...)
	}
	return docs, nil
}

// DecodeYAMLDocumentsWithNodes is DecodeYAMLDocuments keeping each
// document's yaml.v3 tree, for reporting the lines of fields.
func DecodeYAMLDocumentsWithNodes(data []byte) ([]YAMLDocument, error) {
	data = prepareYAML(data)
	r := decodeYAMLStream(data, data, 0, aliasBudget(data), true)
	return r.docs, r.err
}

// DecodeYAML parses a single-document YAML text as Backstage's YAML.parse
// does (its config loader): a stream of several documents, or a document
// with an error, is an error.
func DecodeYAML(data []byte) (any, error) {
	data = prepareYAML(data)
	r := decodeYAMLStream(data, data, 0, aliasBudget(data), true)
	if len(r.docs) == 0 {
		if r.err != nil {
			return nil, r.err
		}
		return nil, nil
	}
	// The first document's parse errors, then a second document, then
	// what converting the first throws.
	first := r.docs[0]
	var ye *YAMLError
	if errors.As(first.Err, &ye) && !ye.Thrown() {
		return nil, first.Err
	}
	if line, width := secondDocument(data); line > 0 {
		src := &yamlSource{data: data}
		return nil, src.parseError(msgMultipleDocs, line, 1, width)
	}
	if first.Err != nil {
		return nil, first.Err
	}
	return first.Value, nil
}

// prepareYAML adjusts the text for yaml.v3 where it departs from
// eemeli/yaml: a block scalar ended by the end of the text still ends with
// its line break there (a last line of spaces adds nothing), and a
// "%YAML 1.2" directive is accepted (yaml.v3 knows only 1.1; the directive
// changes nothing else here).
func prepareYAML(data []byte) []byte {
	if n := len(data); n > 0 && data[n-1] != '\n' && data[n-1] != '\r' {
		last := bytes.LastIndexAny(data, "\r\n") + 1
		if len(bytes.Trim(data[last:], " ")) == 0 {
			data = data[:last]
		} else {
			data = append(data[:n:n], '\n')
		}
	}
	if bytes.HasPrefix(data, []byte("...")) || bytes.Contains(data, []byte("\n...")) {
		data = startAfterDocumentEnd(data)
	}
	if bytes.Contains(data, []byte("%YAML 1.2")) {
		data = bytes.Clone(data)
		for i := 0; ; {
			j := bytes.Index(data[i:], []byte("%YAML 1.2"))
			if j < 0 {
				break
			}
			i += j
			if i == 0 || data[i-1] == '\n' || data[i-1] == '\r' || (i == 3 && bytes.HasPrefix(data, []byte("\ufeff"))) {
				data[i+8] = '1'
			}
			i += 9
		}
	}
	return data
}

// secondDocument finds the "---" that starts a second document: its line
// (0 if there is none) and the width eemeli/yaml underlines there, the
// whole marker when the document is empty. yaml.v3 may stop before it (at
// an alias without anchor, or a syntax error), so it is looked for in the
// text: the first document is the first "---" or content line.
func secondDocument(data []byte) (line, width int) {
	inFirst := false
	for n, off := 1, 0; off < len(data); n++ {
		next := len(data)
		if nl := bytes.IndexByte(data[off:], '\n'); nl >= 0 {
			next = off + nl + 1
		}
		text := bytes.TrimRight(data[off:next], "\r\n")
		if n == 1 {
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
		}
		trimmed := bytes.TrimLeft(text, " \t")
		switch {
		case line > 0:
			// Inside the second document: is there anything in it?
			if isMarker(text, "---") {
				return line, 3
			}
			if len(trimmed) > 0 && !isMarker(text, "...") {
				return line, 1
			}
		case isMarker(text, "---"):
			if !inFirst {
				inFirst = true
				break
			}
			if len(bytes.TrimRight(text, " \t")) > 3 {
				return n, 1
			}
			line = n
		case !inFirst && (len(trimmed) == 0 || trimmed[0] == '#' || text[0] == '%'):
		default:
			inFirst = true
		}
		off = next
	}
	if line > 0 {
		return line, 3
	}
	return 0, 0
}

// startAfterDocumentEnd turns a "..." line followed by content into "---":
// YAML 1.2 lets a document follow "..." without a marker, yaml.v3 does not,
// and "---" ends the document just as well before starting the next.
func startAfterDocumentEnd(data []byte) []byte {
	copied := false
	var end int // offset of the last "..." line not yet followed by anything
	pending := false
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if nl >= 0 {
			next = off + nl + 1
		}
		line := bytes.TrimRight(data[off:next], "\r\n")
		switch {
		case isMarker(line, "..."):
			end, pending = off, true
		case len(bytes.TrimLeft(line, " \t")) == 0 || bytes.HasPrefix(bytes.TrimLeft(line, " \t"), []byte("#")):
		case pending && !isMarker(line, "---") && !bytes.HasPrefix(line, []byte("%")):
			if !copied {
				data, copied = bytes.Clone(data), true
			}
			copy(data[end:], "---")
			pending = false
		default:
			pending = false
		}
		off = next
	}
	return data
}

// isMarker reports whether line is the document marker m, alone or
// followed by a blank.
func isMarker(line []byte, m string) bool {
	return bytes.HasPrefix(line, []byte(m)) && (len(line) == len(m) || line[len(m)] == ' ' || line[len(m)] == '\t')
}

type yamlStreamResult struct {
	docs    []YAMLDocument
	err     error // the syntax error that ended the stream
	stopped bool  // the stream ended early, with err or a thrown document error
	used    int   // alias expansion spent
}

var yamlLineRe = regexp.MustCompile(`^line (\d+): `)

// decodeYAMLStream parses text, a part of the source src starting after
// line lines of it, with budget for alias expansion.
func decodeYAMLStream(src, text []byte, line, budget int, keepNodes bool) yamlStreamResult {
	source := &yamlSource{data: src}
	dec := yaml.NewDecoder(bytes.NewReader(text))
	left := budget
	var r yamlStreamResult
	for {
		n := &yaml.Node{}
		err := dec.Decode(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), "yaml: ")
			r.stopped = true
			if a, ok := strings.CutPrefix(msg, "unknown anchor '"); ok {
				// An alias with no anchor before it: eemeli/yaml parses on
				// and throws when the document is converted.
				name, _, _ := strings.Cut(a, "' referenced")
				r.docs = append(r.docs, YAMLDocument{Err: &YAMLError{Name: "ReferenceError",
					Message: "Unresolved alias (the anchor must be set before the alias): " + name}})
				break
			}
			e := &YAMLError{Name: "YAMLParseError", Message: msg}
			errLine := 1 // yaml.v3 leaves out "line 1: " (and some others)
			if m := yamlLineRe.FindStringSubmatch(msg); m != nil {
				errLine, _ = strconv.Atoi(m[1])
				e.Line = errLine + line
			}
			// How yaml.v3 fails on an implicit key too long for eemeli/yaml.
			if strings.HasSuffix(msg, "could not find expected ':'") || strings.HasSuffix(msg, "mapping values are not allowed in this context") {
				if le := source.longKeyError(errLine + line); le != nil {
					e = le
				}
			}
			r.err = e
			break
		}
		v, err := convertDocument(source, line, &left, n)
		d := YAMLDocument{Value: v, Line: n.Line + line, Err: err}
		if keepNodes {
			d.Node = n
		}
		r.docs = append(r.docs, d)
	}
	r.used = budget - left
	return r
}

// minYAMLPiece is the smallest piece worth a goroutine of its own.
const minYAMLPiece = 64 << 10

type yamlPiece struct {
	data []byte
	line int // lines before the piece
}

// splitYAMLStream cuts data into up to n pieces of whole documents, each
// after the first starting at a "---" line. YAML 1.2 forbids such a line
// inside any scalar, so it always starts a document. Streams with
// directives (which apply to the document after them, and may look like a
// line starting with "%") or not in UTF-8 stay in one piece.
func splitYAMLStream(data []byte, n, minPiece int) []yamlPiece {
	if n < 2 || len(data) < 2*minPiece {
		return nil
	}
	if data[0] == 0xfe || data[0] == 0xff || bytes.IndexByte(data, 0) >= 0 {
		return nil // UTF-16/32
	}
	if data[0] == '%' || bytes.Contains(data, []byte("\n%")) {
		return nil
	}
	// Line numbers count '\n' only; the parser also breaks lines at a lone
	// '\r' and at NEL, LS and PS.
	if bytes.ContainsAny(data, "\u0085\u2028\u2029") || bytes.Count(data, []byte{'\r'}) != bytes.Count(data, []byte("\r\n")) {
		return nil
	}
	n = min(n, len(data)/minPiece)
	var pieces []yamlPiece
	start, line := 0, 0
	for k := 1; k < n; k++ {
		cut := docMarkerAfter(data, max(start+1, k*len(data)/n))
		if cut < 0 {
			break
		}
		pieces = append(pieces, yamlPiece{data: data[start:cut], line: line})
		line += bytes.Count(data[start:cut], []byte{'\n'})
		start = cut
	}
	return append(pieces, yamlPiece{data: data[start:], line: line})
}

// docMarkerAfter finds the first document start marker ("---" at the
// start of a line, followed by a blank or the end) on a line starting after
// offset from-1, or -1.
func docMarkerAfter(data []byte, from int) int {
	if from > 0 && data[from-1] != '\n' {
		i := bytes.IndexByte(data[from:], '\n')
		if i < 0 {
			return -1
		}
		from += i + 1
	}
	for from < len(data) {
		if bytes.HasPrefix(data[from:], []byte("---")) {
			if rest := data[from+3:]; len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r' || rest[0] == '\n' {
				return from
			}
		}
		i := bytes.IndexByte(data[from:], '\n')
		if i < 0 {
			return -1
		}
		from += i + 1
	}
	return -1
}

// ToYAML renders a value as YAML (used when writing catalog-info files).
func ToYAML(v any) ([]byte, error) {
	n := toNode(v)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func toNode(v any) *yaml.Node {
	switch t := v.(type) {
	case *Object:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if t == nil {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		}
		for _, m := range t.Members {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: m.Key}, toNode(m.Value))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range t {
			n.Content = append(n.Content, toNode(e))
		}
		return n
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}
	case Number:
		// An integer must be written as one: YAML's core schema reads
		// "!!float 200" as the string "200" (an unresolved tag).
		tag, text := "!!float", string(t)
		if _, err := strconv.ParseInt(text, 10, 64); err == nil {
			tag = "!!int"
		}
		switch t {
		case "Infinity":
			text = ".inf"
		case "-Infinity":
			text = "-.inf"
		case "NaN":
			text = ".nan"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: text}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	default:
		return toNode(FromGo(v))
	}
}
