package sqlstore

import (
	"fmt"
	"strings"

	"github.com/understage/understage/catalog"
)

// whereFilter compiles a filter into a condition on the entity eid column
// idCol. Every leaf is a correlated EXISTS probe on search(eid, key_id,
// value): with ordered scans and small pages the planner then checks only
// the rows it returns instead of materialising whole key sets.
func whereFilter(d dialect, f catalog.Filter, idCol string) (string, []any, error) {
	w := filterWriter{idCol: idCol}
	if joinableExists(f) > maxJoinedExists {
		w.fence = d.existsFence()
	}
	if err := w.filter(f); err != nil {
		return "", nil, err
	}
	return w.b.String(), w.args, nil
}

// maxJoinedExists bounds the EXISTS probes left for the planner to join:
// PostgreSQL turns EXISTS (and NOT EXISTS) AND'ed at the top of a WHERE
// into semi-joins and searches join orders over all of them, in time that
// grows steeply with their number (8: 50 ms, 100: 9 s, 1000: hours).
// Beyond it every probe is fenced (dialect.existsFence) and stays a per-row
// probe, which costs the same for each.
const maxJoinedExists = 8

// joinableExists counts the probes of f a planner may turn into joins:
// those reached from the top through AND only, negated or not.
func joinableExists(f catalog.Filter) int {
	switch f := f.(type) {
	case catalog.AllOf:
		n := 0
		for _, sub := range f.Filters {
			n += joinableExists(sub)
		}
		return n
	case *catalog.AllOf:
		return joinableExists(*f)
	case catalog.Field, *catalog.Field:
		return 1
	case catalog.Not:
		switch f.Filter.(type) {
		case catalog.Field, *catalog.Field:
			return 1 // NOT EXISTS becomes an anti-join
		}
	case *catalog.Not:
		return joinableExists(*f)
	}
	return 0
}

type filterWriter struct {
	b     strings.Builder
	args  []any
	idCol string
	fence string // appended inside each EXISTS subquery
}

func (w *filterWriter) filter(f catalog.Filter) error {
	switch f := f.(type) {
	case nil:
		w.b.WriteString("1=1")
	case catalog.AllOf:
		return w.joined(f.Filters, " AND ", "1=1")
	case *catalog.AllOf:
		return w.joined(f.Filters, " AND ", "1=1")
	case catalog.AnyOf:
		return w.joined(f.Filters, " OR ", "1=0")
	case *catalog.AnyOf:
		return w.joined(f.Filters, " OR ", "1=0")
	case catalog.Not:
		return w.not(f.Filter)
	case *catalog.Not:
		return w.not(f.Filter)
	case catalog.Field:
		return w.field(f)
	case *catalog.Field:
		return w.field(*f)
	default:
		return fmt.Errorf("sqlstore: unknown filter %T", f)
	}
	return nil
}

// joined joins fs with AND or OR as a balanced tree of parenthesised
// halves: SQLite parses "a OR b OR c ..." one level deeper per term and
// refuses expressions over 1000 levels, while halves nest only log2(n).
func (w *filterWriter) joined(fs []catalog.Filter, sep, empty string) error {
	switch len(fs) {
	case 0:
		w.b.WriteString(empty)
		return nil
	case 1:
		w.b.WriteByte('(')
		if err := w.filter(fs[0]); err != nil {
			return err
		}
		w.b.WriteByte(')')
		return nil
	}
	mid := len(fs) / 2
	w.b.WriteByte('(')
	if err := w.joined(fs[:mid], sep, empty); err != nil {
		return err
	}
	w.b.WriteString(sep)
	if err := w.joined(fs[mid:], sep, empty); err != nil {
		return err
	}
	w.b.WriteByte(')')
	return nil
}

func (w *filterWriter) not(f catalog.Filter) error {
	w.b.WriteString("NOT (")
	if err := w.filter(f); err != nil {
		return err
	}
	w.b.WriteByte(')')
	return nil
}

func (w *filterWriter) field(f catalog.Field) error {
	w.b.WriteString("EXISTS (SELECT 1 FROM search sf WHERE sf.eid = ")
	w.b.WriteString(w.idCol)
	w.b.WriteString(" AND sf.key_id = " + keyIDOf)
	w.args = append(w.args, strings.ToLower(f.Key))
	switch f.Op {
	case catalog.OpExists:
	case catalog.OpIn:
		if len(f.Values) == 0 {
			w.b.WriteString(" AND 1=0")
			break
		}
		if len(f.Values) == 1 {
			w.b.WriteString(" AND sf.value = ?")
		} else {
			w.b.WriteString(" AND sf.value IN ")
			w.b.WriteString(inList(len(f.Values)))
		}
		for _, v := range f.Values {
			w.args = append(w.args, strings.ToLower(v))
		}
	case catalog.OpHasPrefix:
		if len(f.Values) != 1 {
			return fmt.Errorf("sqlstore: hasPrefix needs one value, got %d", len(f.Values))
		}
		w.b.WriteString(` AND sf.value LIKE ? ESCAPE '\'`)
		w.args = append(w.args, escapeLike(strings.ToLower(f.Values[0]))+"%")
	default:
		return fmt.Errorf("sqlstore: unknown field op %d", f.Op)
	}
	w.b.WriteString(w.fence)
	w.b.WriteByte(')')
	return nil
}

// keyIDOf is the interned id of the search key bound to its placeholder;
// NULL (matching nothing) for a key no entity has.
const keyIDOf = "(SELECT id FROM search_keys WHERE key = ?)"

// escapeLike makes s match literally inside a LIKE pattern (ESCAPE '\').
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
