package ojson

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// YAMLDocument is one document of a YAML stream.
type YAMLDocument struct {
	Value any // nil for an empty document
	Line  int // 1-based line where the document starts
	Err   error
}

// DecodeYAMLDocuments parses a multi-document YAML stream. A syntax error ends
// the stream with one document carrying Err, as Backstage reports a file
// that does not parse.
//
// Large streams are split at document markers and the pieces parsed on all
// cores; the result is the same as parsing the stream in one go (which is
// what happens whenever a piece fails, so errors are reported alike).
func DecodeYAMLDocuments(data []byte) ([]YAMLDocument, error) {
	pieces := splitYAMLStream(data, runtime.GOMAXPROCS(0))
	if len(pieces) < 2 {
		return decodeYAMLStream(data, 0)
	}
	type part struct {
		docs []YAMLDocument
		err  error
	}
	parts := make([]part, len(pieces))
	var wg sync.WaitGroup
	for i, p := range pieces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			parts[i].docs, parts[i].err = decodeYAMLStream(p.data, p.line)
		}()
	}
	wg.Wait()
	var docs []YAMLDocument
	for _, p := range parts {
		if p.err != nil {
			// Only the whole stream tells where it first fails (a piece may
			// also fail for lack of an anchor an earlier piece defines).
			return decodeYAMLStream(data, 0)
		}
		docs = append(docs, p.docs...)
	}
	return docs, nil
}

// decodeYAMLStream parses a stream whose first line is line+1 of the file.
func decodeYAMLStream(data []byte, line int) ([]YAMLDocument, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []YAMLDocument
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return docs, fmt.Errorf("YAML error, %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		v, err := FromYAMLNode(&n)
		docs = append(docs, YAMLDocument{Value: v, Line: n.Line + line, Err: err})
	}
	return docs, nil
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
func splitYAMLStream(data []byte, n int) []yamlPiece {
	if n < 2 || len(data) < 2*minYAMLPiece {
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
	n = min(n, len(data)/minYAMLPiece)
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

// DecodeYAML parses a single YAML document.
func DecodeYAML(data []byte) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		return nil, err
	}
	return FromYAMLNode(&n)
}

// FromYAMLNode converts a yaml.v3 node into ojson values.
func FromYAMLNode(n *yaml.Node) (any, error) {
	return fromNode(n, 0)
}

func fromNode(n *yaml.Node, depth int) (any, error) {
	if depth > 1000 {
		return nil, fmt.Errorf("YAML nesting too deep")
	}
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return fromNode(n.Content[0], depth+1)
	case yaml.AliasNode:
		if n.Alias == nil {
			return nil, nil
		}
		return fromNode(n.Alias, depth+1)
	case yaml.MappingNode:
		o := &Object{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			// "<<" is an ordinary key: Backstage parses YAML 1.2 without merge keys.
			kv, err := fromNode(kn, depth+1)
			if err != nil {
				return nil, err
			}
			key := keyString(kv)
			v, err := fromNode(vn, depth+1)
			if err != nil {
				return nil, err
			}
			o.Set(key, v)
		}
		return o, nil
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromNode(c, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("unsupported YAML node kind %d", n.Kind)
}

func keyString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case nil:
		return ""
	case bool:
		if t {
			return "true"
		}
		return "false"
	case Number:
		return string(t)
	default:
		b, _ := Marshal(v)
		return string(b)
	}
}

func scalar(n *yaml.Node) (any, error) {
	v := n.Value
	switch n.ShortTag() {
	case "!!str", "!!timestamp", "!!binary":
		return v, nil
	case "!!null":
		return nil, nil
	case "!!bool":
		switch strings.ToLower(v) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return v, nil
	case "!!int":
		return parseInt(v), nil
	case "!!float":
		return parseFloat(v), nil
	}
	return v, nil
}

func parseInt(s string) any {
	clean := strings.ReplaceAll(s, "_", "")
	neg := false
	body := clean
	if strings.HasPrefix(body, "-") || strings.HasPrefix(body, "+") {
		neg = body[0] == '-'
		body = body[1:]
	}
	base := 10
	switch {
	case strings.HasPrefix(body, "0x"):
		base, body = 16, body[2:]
	case strings.HasPrefix(body, "0o"):
		base, body = 8, body[2:]
	case strings.HasPrefix(body, "0b"):
		// YAML 1.2 core has no binary ints; keep the text.
		return s
	}
	u, err := strconv.ParseUint(body, base, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(clean, 64)
		if ferr != nil {
			return s
		}
		return NumberFromFloat(f)
	}
	f := float64(u)
	if neg {
		f = -f
	}
	return NumberFromFloat(f)
}

func parseFloat(s string) any {
	l := strings.ToLower(s)
	switch l {
	case ".inf", "+.inf":
		return NumberFromFloat(math.Inf(1))
	case "-.inf":
		return NumberFromFloat(math.Inf(-1))
	case ".nan":
		return NumberFromFloat(math.NaN())
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, "_", ""), 64)
	if err != nil {
		return s
	}
	return NumberFromFloat(f)
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
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: string(t)}
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
	default:
		return toNode(FromGo(v))
	}
}
