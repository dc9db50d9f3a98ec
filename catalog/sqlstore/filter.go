package sqlstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/understage/understage/catalog"
)

// whereFilter compiles a filter into a condition on the entity eid column
// idCol. Every leaf probes search(eid, key_id, value). A filter of a few
// leaves probes per row with correlated EXISTS: with ordered scans and small
// pages the planner then checks only the rows it returns instead of
// materialising whole key sets. A wider filter probes as the dialect says
// (dialect.wideProbe), since per-row probes then cost rows × leaves.
//
// Search keys are resolved to their interned ids beforehand (keys) and
// written as literals: the planner then knows which key each probe reads
// and estimates it from the key's own statistics, in custom and generic
// plans alike, where a subquery per key left it guessing.
func whereFilter(d dialect, keys keyIDs, f catalog.Filter, idCol string) (string, []any, error) {
	w := filterWriter{open: "EXISTS (SELECT 1 FROM search sf WHERE sf.eid = " + idCol, close: ")", keys: keys}
	if countProbes(f) > maxCorrelatedProbes {
		w.open, w.close = d.wideProbe(idCol)
	}
	if err := w.filter(f); err != nil {
		return "", nil, err
	}
	return w.b.String(), w.args, nil
}

// maxCorrelatedProbes is the widest filter probed per row with plain
// correlated EXISTS. Beyond it both databases degrade steeply: SQLite
// evaluates every probe for every row (1000 OR'ed probes over 10,000
// entities: minutes), and PostgreSQL turns AND'ed probes into semi-joins
// whose join order it searches (100 probes: 9 s of planning).
const maxCorrelatedProbes = 8

// countProbes counts the leaves (search probes) of f.
func countProbes(f catalog.Filter) int {
	switch f := f.(type) {
	case catalog.AllOf:
		return countList(f.Filters)
	case *catalog.AllOf:
		return countList(f.Filters)
	case catalog.AnyOf:
		return countList(f.Filters)
	case *catalog.AnyOf:
		return countList(f.Filters)
	case catalog.Not:
		return countProbes(f.Filter)
	case *catalog.Not:
		return countProbes(f.Filter)
	case catalog.Field, *catalog.Field:
		return 1
	}
	return 0
}

func countList(fs []catalog.Filter) int {
	n := 0
	for _, f := range fs {
		n += countProbes(f)
	}
	return n
}

type filterWriter struct {
	b           strings.Builder
	args        []any
	open, close string // around each probe's " AND sf...." conditions
	keys        keyIDs
	alias       string // of the probed search rows; "" is sf
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
	a := w.alias
	if a == "" {
		a = "sf"
	}
	w.b.WriteString(w.open)
	w.b.WriteString(" AND " + a + ".key_id = " + w.keys.literal(f.Key))
	switch f.Op {
	case catalog.OpExists:
	case catalog.OpIn:
		if len(f.Values) == 0 {
			w.b.WriteString(" AND 1=0")
			break
		}
		if len(f.Values) == 1 {
			w.b.WriteString(" AND " + a + ".value = ?")
		} else {
			w.b.WriteString(" AND " + a + ".value IN ")
			w.b.WriteString(inList(len(f.Values)))
		}
		for _, v := range f.Values {
			w.args = append(w.args, strings.ToLower(v))
		}
	case catalog.OpHasPrefix:
		if len(f.Values) != 1 {
			return fmt.Errorf("sqlstore: hasPrefix needs one value, got %d", len(f.Values))
		}
		w.b.WriteString(" AND " + a + `.value LIKE ? ESCAPE '\'`)
		w.args = append(w.args, escapeLike(strings.ToLower(f.Values[0]))+"%")
	default:
		return fmt.Errorf("sqlstore: unknown field op %d", f.Op)
	}
	w.b.WriteString(w.close)
	return nil
}

// keyIDs maps lowercased search keys to their interned ids.
type keyIDs map[string]int64

// literal is the id of key as SQL: 0, which no key has (ids start at 1),
// for a key no entity has, so that it matches nothing.
func (k keyIDs) literal(key string) string {
	return strconv.FormatInt(k[strings.ToLower(key)], 10)
}

// filterKeys appends the lowercased keys f reads to dst.
func filterKeys(dst []string, f catalog.Filter) []string {
	switch f := f.(type) {
	case catalog.AllOf:
		return filterKeysList(dst, f.Filters)
	case *catalog.AllOf:
		return filterKeysList(dst, f.Filters)
	case catalog.AnyOf:
		return filterKeysList(dst, f.Filters)
	case *catalog.AnyOf:
		return filterKeysList(dst, f.Filters)
	case catalog.Not:
		return filterKeys(dst, f.Filter)
	case *catalog.Not:
		return filterKeys(dst, f.Filter)
	case catalog.Field:
		return append(dst, strings.ToLower(f.Key))
	case *catalog.Field:
		return append(dst, strings.ToLower(f.Key))
	}
	return dst
}

func filterKeysList(dst []string, fs []catalog.Filter) []string {
	for _, f := range fs {
		dst = filterKeys(dst, f)
	}
	return dst
}

// keyIDs resolves the keys of f and the extra keys to their ids. Ids are
// never reassigned (search_keys rows are only ever added), so found ones
// are kept for the life of the store; a key not found is asked again next
// time, since another replica may intern it meanwhile.
func (s *Store) keyIDs(ctx context.Context, f catalog.Filter, extra ...string) (keyIDs, error) {
	keys := filterKeys(nil, f)
	for _, k := range extra {
		keys = append(keys, strings.ToLower(k))
	}
	out := make(keyIDs, len(keys))
	var missing []string
	s.keyMu.Lock()
	for _, k := range keys {
		if id, ok := s.keyCache[k]; ok {
			out[k] = id
		} else if _, dup := out[k]; !dup {
			out[k] = 0
			missing = append(missing, k)
		}
	}
	s.keyMu.Unlock()
	for _, chunk := range chunks(missing, s.chunk()) {
		in, args := s.in(chunk)
		rows, err := s.query(ctx, s.r, "SELECT id, key FROM search_keys WHERE key IN "+in, args...)
		if err != nil {
			return nil, fmt.Errorf("search keys: %w", err)
		}
		found := map[string]int64{}
		for rows.Next() {
			var id int64
			var k string
			if err := rows.Scan(&id, &k); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search keys: %w", err)
			}
			found[k] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("search keys: %w", err)
		}
		s.keyMu.Lock()
		for k, id := range found {
			out[k] = id
			if len(s.keyCache) < maxCachedKeys {
				s.keyCache[k] = id
			}
		}
		s.keyMu.Unlock()
	}
	return out, nil
}

// maxCachedKeys bounds the key cache: keys come from catalog files
// (array values and annotations make keys of their own), so their number
// is the catalog's to decide.
const maxCachedKeys = 100000

// escapeLike makes s match literally inside a LIKE pattern (ESCAPE '\').
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}
