package scaffolder

import (
	"sort"
	"strings"
	"sync"

	"github.com/understage/understage/plugins/backend/ojson"
)

// redactor replaces secret values (and strings derived from them) with
// "***" in log lines, as Backstage's task logger does: values are trimmed,
// values of one character are ignored, the longest match wins at each
// position and overlapping matches merge.
type redactor struct {
	mu   sync.RWMutex
	set  map[string]bool
	list []string // longest first
}

func newRedactor() *redactor { return &redactor{set: map[string]bool{}} }

func (r *redactor) add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) <= 1 || r.set[v] {
			continue
		}
		r.set[v] = true
		r.list = append(r.list, v)
		added = true
	}
	if added {
		sort.SliceStable(r.list, func(i, j int) bool { return len(r.list[i]) > len(r.list[j]) })
	}
}

func (r *redactor) redact(s string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(r.list) == 0 {
		return s
	}
	type rng struct{ start, end int }
	var ranges []rng
	for i := 0; i < len(s); i++ {
		for _, v := range r.list {
			if strings.HasPrefix(s[i:], v) {
				if n := len(ranges); n > 0 && i < ranges[n-1].end {
					ranges[n-1].end = max(ranges[n-1].end, i+len(v))
				} else {
					ranges = append(ranges, rng{i, i + len(v)})
				}
				break
			}
		}
	}
	if len(ranges) == 0 {
		return s
	}
	var b strings.Builder
	cur := 0
	for _, g := range ranges {
		b.WriteString(s[cur:g.start])
		b.WriteString("***")
		cur = g.end
	}
	b.WriteString(s[cur:])
	return b.String()
}

// collectSecretRedactions compares a value rendered with secrets against the
// same value rendered without them: every string that differs was derived
// from a secret and must be redacted too.
func collectSecretRedactions(with, without any) []string {
	switch w := with.(type) {
	case string:
		if o, ok := without.(string); !ok || o != w {
			return []string{w}
		}
		return nil
	case []any:
		other, _ := without.([]any)
		var out []string
		for i, v := range w {
			var o any
			if i < len(other) {
				o = other[i]
			}
			out = append(out, collectSecretRedactions(v, o)...)
		}
		return out
	case *ojson.Object:
		other, _ := without.(*ojson.Object)
		var out []string
		for i, m := range w.Members {
			if other == nil || i >= len(other.Members) {
				out = append(out, m.Key)
				out = append(out, extractStringValues(m.Value)...)
				continue
			}
			om := other.Members[i]
			if om.Key != m.Key {
				out = append(out, m.Key)
			}
			out = append(out, collectSecretRedactions(m.Value, om.Value)...)
		}
		return out
	}
	return nil
}

func extractStringValues(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, extractStringValues(e)...)
		}
		return out
	case *ojson.Object:
		var out []string
		for _, m := range x.Members {
			out = append(out, m.Key)
			out = append(out, extractStringValues(m.Value)...)
		}
		return out
	}
	return nil
}
