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
func whereFilter(f catalog.Filter, idCol string) (string, []any, error) {
	var b strings.Builder
	var args []any
	if err := writeFilter(&b, &args, f, idCol); err != nil {
		return "", nil, err
	}
	return b.String(), args, nil
}

func writeFilter(b *strings.Builder, args *[]any, f catalog.Filter, idCol string) error {
	switch f := f.(type) {
	case nil:
		b.WriteString("1=1")
	case catalog.AllOf:
		return writeJoined(b, args, f.Filters, " AND ", "1=1", idCol)
	case *catalog.AllOf:
		return writeJoined(b, args, f.Filters, " AND ", "1=1", idCol)
	case catalog.AnyOf:
		return writeJoined(b, args, f.Filters, " OR ", "1=0", idCol)
	case *catalog.AnyOf:
		return writeJoined(b, args, f.Filters, " OR ", "1=0", idCol)
	case catalog.Not:
		return writeNot(b, args, f.Filter, idCol)
	case *catalog.Not:
		return writeNot(b, args, f.Filter, idCol)
	case catalog.Field:
		return writeField(b, args, f, idCol)
	case *catalog.Field:
		return writeField(b, args, *f, idCol)
	default:
		return fmt.Errorf("sqlstore: unknown filter %T", f)
	}
	return nil
}

func writeJoined(b *strings.Builder, args *[]any, fs []catalog.Filter, sep, empty, idCol string) error {
	if len(fs) == 0 {
		b.WriteString(empty)
		return nil
	}
	b.WriteByte('(')
	for i, f := range fs {
		if i > 0 {
			b.WriteString(sep)
		}
		if err := writeFilter(b, args, f, idCol); err != nil {
			return err
		}
	}
	b.WriteByte(')')
	return nil
}

func writeNot(b *strings.Builder, args *[]any, f catalog.Filter, idCol string) error {
	b.WriteString("NOT (")
	if err := writeFilter(b, args, f, idCol); err != nil {
		return err
	}
	b.WriteByte(')')
	return nil
}

func writeField(b *strings.Builder, args *[]any, f catalog.Field, idCol string) error {
	b.WriteString("EXISTS (SELECT 1 FROM search sf WHERE sf.eid = ")
	b.WriteString(idCol)
	b.WriteString(" AND sf.key_id = " + keyIDOf)
	*args = append(*args, strings.ToLower(f.Key))
	switch f.Op {
	case catalog.OpExists:
	case catalog.OpIn:
		if len(f.Values) == 0 {
			b.WriteString(" AND 1=0")
			break
		}
		if len(f.Values) == 1 {
			b.WriteString(" AND sf.value = ?")
		} else {
			b.WriteString(" AND sf.value IN ")
			b.WriteString(inList(len(f.Values)))
		}
		for _, v := range f.Values {
			*args = append(*args, strings.ToLower(v))
		}
	case catalog.OpHasPrefix:
		if len(f.Values) != 1 {
			return fmt.Errorf("sqlstore: hasPrefix needs one value, got %d", len(f.Values))
		}
		b.WriteString(` AND sf.value LIKE ? ESCAPE '\'`)
		*args = append(*args, escapeLike(strings.ToLower(f.Values[0]))+"%")
	default:
		return fmt.Errorf("sqlstore: unknown field op %d", f.Op)
	}
	b.WriteByte(')')
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
