package model

import (
	"bufio"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// stableHash is the sha1 hex of the entity serialized with sorted keys
// (fast-json-stable-stringify). It streams into the hash instead of
// building the document, since it runs for every stitch.
func stableHash(e *ojson.Object) string {
	h := sha1.New()
	w := bufio.NewWriterSize(h, 2048)
	if !writeSorted(w, e) {
		// A value that is not an ojson value: let ojson encode it.
		h.Reset()
		b, err := ojson.MarshalSorted(e)
		if err != nil {
			b = []byte(err.Error())
		}
		h.Write(b)
	} else {
		w.Flush()
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeSorted writes v as JSON with sorted keys; false for unsupported values.
func writeSorted(w *bufio.Writer, v any) bool {
	switch t := v.(type) {
	case nil:
		w.WriteString("null")
	case bool:
		if t {
			w.WriteString("true")
		} else {
			w.WriteString("false")
		}
	case string:
		writeJSONString(w, t)
	case ojson.Number:
		w.WriteString(t.JSON())
	case []any:
		w.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				w.WriteByte(',')
			}
			if e == ojson.Undefined {
				w.WriteString("null")
				continue
			}
			if !writeSorted(w, e) {
				return false
			}
		}
		w.WriteByte(']')
	case *ojson.Object:
		if t == nil {
			w.WriteString("null")
			return true
		}
		ms := make([]ojson.Member, 0, len(t.Members))
		for _, m := range t.Members {
			if m.Value != ojson.Undefined {
				ms = append(ms, m)
			}
		}
		slices.SortStableFunc(ms, func(a, b ojson.Member) int { return strings.Compare(a.Key, b.Key) })
		w.WriteByte('{')
		for i, m := range ms {
			if i > 0 {
				w.WriteByte(',')
			}
			writeJSONString(w, m.Key)
			w.WriteByte(':')
			if !writeSorted(w, m.Value) {
				return false
			}
		}
		w.WriteByte('}')
	default:
		return false
	}
	return true
}

// writeJSONString escapes like JSON.stringify (and ojson.Marshal).
func writeJSONString(w *bufio.Writer, s string) {
	w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		w.WriteString(s[start:i])
		switch c {
		case '"':
			w.WriteString(`\"`)
		case '\\':
			w.WriteString(`\\`)
		case '\n':
			w.WriteString(`\n`)
		case '\r':
			w.WriteString(`\r`)
		case '\t':
			w.WriteString(`\t`)
		case '\b':
			w.WriteString(`\b`)
		case '\f':
			w.WriteString(`\f`)
		default:
			fmt.Fprintf(w, `\u%04x`, c)
		}
		start = i + 1
	}
	w.WriteString(s[start:])
	w.WriteByte('"')
}
