package config

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// Decision is what understage does with a configuration key.
type Decision int

// The decisions of the key table.
const (
	// Supported keys are honoured as Backstage honours them.
	Supported Decision = iota + 1
	// Accepted keys are read by Backstage for something that has no
	// observable effect in understage (frontend-only keys, features
	// understage does not have and that change nothing it serves). They
	// are allowed, and logged at start-up with the reason.
	Accepted
	// Refused keys stop start-up with the reason.
	Refused
)

func (d Decision) String() string {
	switch d {
	case Supported:
		return "supported"
	case Accepted:
		return "accepted"
	case Refused:
		return "refused"
	}
	return "unknown"
}

// Key is one row of the key table.
type Key struct {
	// Pattern is a dotted key. "*" stands for any one key of an object
	// (a map such as backend.database.plugin.*), and "[]" after a segment
	// for the items of a list (catalog.locations[].target). A pattern names
	// a key in any of its documented forms: its children, when it has
	// any, have rows of their own unless Whole is set.
	Pattern string
	// Decision is supported, accepted or refused.
	Decision Decision
	// Reason says why a key is accepted or refused, or why the values not
	// in Only (or in Never) are refused.
	Reason string
	// Test is the test that shows a supported key honoured, as
	// "<package path> <TestName>" ("plugins/backend/httpserver TestCORS").
	Test string
	// Whole: the value is read as a whole (a duration, a connection
	// string or map, a map of headers, free-form options); nothing below
	// it is checked.
	Whole bool
	// Only lists the values understage honours (scalars, as JSON:
	// "false", "abort"); any other value is refused with Reason.
	Only []string
	// Never lists values refused with Reason; other values are honoured.
	Never []string
}

// Section says how keys under a top-level key that the table does not list
// are treated.
type Section struct {
	// Name is the top-level key.
	Name string
	// Implemented sections belong to plugins understage implements. A key
	// there that the table does not list is neither documented by Backstage
	// nor by the modules the table covers: a misspelling, or an
	// organisation's own key. Backstage ignores it; understage does too,
	// but reports it (Unknown) so that a misspelt key does not go unseen.
	// Keys of Backstage modules understage does not have are rows of the
	// table (refused).
	Implemented bool
	// Frontend sections are the served app's configuration (app,
	// organization): understage passes them on, so nothing is logged.
	Frontend bool
	// Reason is logged for a section of a plugin understage does not have
	// that is present in the config.
	Reason string
}

// Finding is a key of the checked config with its decision.
type Finding struct {
	// Key is the full key, with list indexes ("catalog.locations[0].type").
	Key      string
	Decision Decision
	Reason   string
}

// CheckResult is what Check found.
type CheckResult struct {
	// Refused keys; Check's error lists them too.
	Refused []Finding
	// Accepted keys and sections present in the config, for the start-up
	// log.
	Accepted []Finding
	// Unknown keys of implemented sections, for a start-up warning.
	Unknown []Finding
	// Unlisted top-level sections that no row or section describes: they
	// are accepted (other plugins' configuration) and logged.
	Unlisted []string
}

// Check walks cfg against the key table and the sections once, at
// start-up, and returns an error naming every refused key. Top-level keys
// that neither the table nor a section names are configuration of plugins
// understage does not have: accepted and reported in Unlisted; unlisted keys
// of implemented sections are reported in Unknown.
func Check(cfg *Config, keys []Key, sections []Section) (CheckResult, error) {
	var res CheckResult
	root, _ := cfg.Get("").(*ojson.Object)
	if root == nil {
		return res, nil
	}
	c := checker{keys: keys, res: &res}
	for _, m := range root.Members {
		sec := sectionOf(sections, m.Key)
		switch {
		case sec != nil:
			if !sec.Implemented && !sec.Frontend {
				res.Accepted = append(res.Accepted, Finding{Key: m.Key, Decision: Accepted, Reason: sec.Reason})
			}
			c.walk(m.Value, []string{m.Key}, m.Key, sec)
		case c.listed([]string{m.Key}):
			c.walk(m.Value, []string{m.Key}, m.Key, nil)
		default:
			res.Unlisted = append(res.Unlisted, m.Key)
		}
	}
	if len(res.Refused) == 0 {
		return res, nil
	}
	lines := make([]string, 0, len(res.Refused))
	for _, f := range res.Refused {
		lines = append(lines, "  - "+f.Key+": "+f.Reason)
	}
	return res, errors.New("configuration understage cannot honour (see plugins/backend/config/KEYS.md):\n" + strings.Join(lines, "\n"))
}

func sectionOf(sections []Section, name string) *Section {
	for i := range sections {
		if sections[i].Name == name {
			return &sections[i]
		}
	}
	return nil
}

type checker struct {
	keys []Key
	res  *CheckResult
}

// walk checks the member at path (pattern segments; list items are "[]"
// suffixes) whose printable key is full.
func (c checker) walk(v any, path []string, full string, sec *Section) {
	k := c.match(path)
	switch {
	case k == nil && c.listed(path):
		// A key on the way to listed keys (backend.database): its members
		// are checked.
	case k == nil:
		if sec != nil && sec.Implemented {
			c.res.Unknown = append(c.res.Unknown, Finding{Key: full, Reason: "not a key Backstage documents for " + sec.Name +
				" (misspelt?); ignored, as Backstage ignores it"})
		}
		return
	case k.Decision == Refused:
		c.refuse(full, k.Reason)
		return
	default:
		if bad, ok := valueRefused(k, v); ok {
			c.refuse(full, fmt.Sprintf("value %s: %s", bad, k.Reason))
			return
		}
		if k.Decision == Accepted {
			c.res.Accepted = append(c.res.Accepted, Finding{Key: full, Decision: Accepted, Reason: k.Reason})
		}
		if k.Whole {
			return
		}
	}
	switch t := v.(type) {
	case *ojson.Object:
		for _, m := range t.Members {
			c.walk(m.Value, append(slices.Clone(path), m.Key), full+"."+m.Key, sec)
		}
	case []any:
		for i, item := range t {
			if _, isObj := item.(*ojson.Object); !isObj {
				continue
			}
			p := slices.Clone(path)
			p[len(p)-1] += "[]"
			c.walkItem(item.(*ojson.Object), p, fmt.Sprintf("%s[%d]", full, i), sec)
		}
	}
}

// walkItem checks the members of one object in a list.
func (c checker) walkItem(o *ojson.Object, path []string, full string, sec *Section) {
	for _, m := range o.Members {
		c.walk(m.Value, append(slices.Clone(path), m.Key), full+"."+m.Key, sec)
	}
}

func (c checker) refuse(key, reason string) {
	c.res.Refused = append(c.res.Refused, Finding{Key: key, Decision: Refused, Reason: reason})
}

// listed tells whether some row lies at or below path (or below the items
// of the list at path).
func (c checker) listed(path []string) bool {
	items := slices.Clone(path)
	items[len(items)-1] += "[]"
	for i := range c.keys {
		segs := strings.Split(c.keys[i].Pattern, ".")
		if len(segs) >= len(path) && (segsMatch(segs[:len(path)], path) || segsMatch(segs[:len(path)], items)) {
			return true
		}
	}
	return false
}

// match finds the row for path: the one with the fewest wildcards among
// those that match, so that a named key wins over "*".
func (c checker) match(path []string) *Key {
	var best *Key
	bestWild := -1
	for i := range c.keys {
		segs := strings.Split(c.keys[i].Pattern, ".")
		if len(segs) != len(path) || !segsMatch(segs, path) {
			continue
		}
		w := strings.Count(c.keys[i].Pattern, "*")
		if best == nil || w < bestWild {
			best, bestWild = &c.keys[i], w
		}
	}
	return best
}

// segsMatch matches pattern segments against path segments; "*" matches
// any key and "*[]" the items of any key's list.
func segsMatch(pattern, path []string) bool {
	for i, p := range pattern {
		switch {
		case p == path[i]:
		case p == "*" && !strings.HasSuffix(path[i], "[]"):
		case p == "*[]" && strings.HasSuffix(path[i], "[]"):
		default:
			return false
		}
	}
	return true
}

// valueRefused reports a scalar value outside Only or inside Never.
func valueRefused(k *Key, v any) (string, bool) {
	if len(k.Only) == 0 && len(k.Never) == 0 {
		return "", false
	}
	s, scalar := ojson.ScalarString(v)
	if !scalar {
		if len(k.Only) > 0 {
			return "of this shape", true
		}
		return "", false
	}
	if len(k.Only) > 0 && !slices.Contains(k.Only, s) {
		return s, true
	}
	if slices.Contains(k.Never, s) {
		return s, true
	}
	return "", false
}

// KeysMarkdown renders the key table as the markdown of KEYS.md.
func KeysMarkdown(keys []Key, sections []Section) string {
	var b strings.Builder
	b.WriteString("# Configuration keys\n\n")
	b.WriteString("Generated from `plugins/backend/config/keys.go` by `UNDERSTAGE_UPDATE_KEYS=1 go test ./plugins/backend/config -run TestKeysDoc`; do not edit.\n\n")
	b.WriteString("Every key Backstage documents for the parts understage implements, and what understage does with it. At start-up the merged config is checked against this table (`config.Check`): a refused key stops start-up with the reason; an accepted key is logged with the reason.\n\n")
	b.WriteString("- **supported**: honoured as Backstage honours it; the test column names the test that shows it.\n")
	b.WriteString("- **accepted**: read by Backstage for something with no observable effect in understage.\n")
	b.WriteString("- **refused**: start-up fails, naming the key.\n\n")
	b.WriteString("`*` is any key of a map, `[]` the items of a list.\n\n")
	b.WriteString("## Sections\n\n| top-level key | keys not in the table |\n|---|---|\n")
	secs := slices.Clone(sections)
	sort.Slice(secs, func(i, j int) bool { return secs[i].Name < secs[j].Name })
	for _, s := range secs {
		switch {
		case s.Implemented:
			fmt.Fprintf(&b, "| `%s` | ignored, as Backstage ignores them, with a start-up warning naming each (a misspelling would otherwise go unseen) |\n", s.Name)
		case s.Frontend:
			fmt.Fprintf(&b, "| `%s` | accepted: the frontend's configuration, passed to the served app |\n", s.Name)
		default:
			fmt.Fprintf(&b, "| `%s` | accepted: %s |\n", s.Name, mdEscape(s.Reason))
		}
	}
	b.WriteString("| any other | accepted and logged: configuration of plugins understage does not have, which a Backstage backend without them ignores too |\n")
	b.WriteString("\n## Keys\n\n| key | decision | test or reason |\n|---|---|---|\n")
	for _, k := range keys {
		d := k.Decision.String()
		var note []string
		if len(k.Only) > 0 {
			d += " (only " + strings.Join(quoteAll(k.Only), ", ") + ")"
		}
		if len(k.Never) > 0 {
			d += " (not " + strings.Join(quoteAll(k.Never), ", ") + ")"
		}
		if k.Test != "" {
			note = append(note, "`"+k.Test+"`")
		}
		if k.Reason != "" {
			note = append(note, mdEscape(k.Reason))
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Pattern, d, strings.Join(note, "; "))
	}
	return b.String()
}

func quoteAll(l []string) []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = "`" + s + "`"
	}
	return out
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// Known tells whether the table covers key (dotted, list items as "[]"):
// a row names it, a Whole row lies above it, rows lie below it, or its
// top-level section belongs to a plugin understage does not implement. A
// key the backend reads must be known, or Check would call it unknown in
// an operator's config.
func Known(key string, keys []Key, sections []Section) bool {
	path := strings.Split(key, ".")
	if sec := sectionOf(sections, strings.TrimSuffix(path[0], "[]")); sec != nil && !sec.Implemented {
		return true
	}
	c := checker{keys: keys}
	for i := 1; i < len(path); i++ {
		// A list read as a whole covers its items: "rules" covers "rules[]".
		prefix := slices.Clone(path[:i])
		prefix[i-1] = strings.TrimSuffix(prefix[i-1], "[]")
		if k := c.match(prefix); k != nil && k.Whole {
			return true
		}
	}
	return c.match(path) != nil || c.listed(path)
}

// KeyKnown is Known over understage's key table.
func KeyKnown(key string) bool { return Known(key, keyTable, keySections) }
