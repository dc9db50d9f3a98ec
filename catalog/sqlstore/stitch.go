package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend/ojson"
)

// stitchLease is how long a claimed stitch_queue row stays invisible to
// other stitchers; a crashed stitcher's rows come back after it.
const stitchLease = time.Minute

type stitchSource struct {
	eid       int64
	id        string
	ref       string
	processed []byte
	obj       *ojson.Object // processed entity when the caller had it at hand
	errors    []byte
	relations []catalog.Relation
	orphan    bool
	oldHash   string
}

// StitchPending stitches up to limit queued entities in one transaction.
func (s *Store) StitchPending(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, stitched := 0, 0
	// An entity another replica deletes meanwhile is not written: the
	// stitch locks the rows it reads (see lockRows).
	err := s.inTxRetried(ctx, func(tx *sql.Tx) error {
		n, stitched = 0, 0
		return s.stitchPendingTx(ctx, tx, limit, &n, &stitched)
	})
	if err != nil {
		return 0, fmt.Errorf("stitch: %w", err)
	}
	s.noteWritten(ctx, stitched)
	return n, nil
}

// stitchPendingTx is one attempt of StitchPending: it claims up to limit
// queued refs and stitches them, counting the refs in n and the final
// entities written in stitched.
func (s *Store) stitchPendingTx(ctx context.Context, tx *sql.Tx, limit int, n, stitched *int) error {
	now := time.Now()
	ticket := uuid.NewString()
	refs, err := s.selectStringsRaw(ctx, tx, s.d.claimStitchSQL(), now.Add(stitchLease).UnixMilli(), ticket, now.UnixMilli(), limit)
	if err != nil {
		return fmt.Errorf("claim: %w", err)
	}
	if len(refs) == 0 {
		return nil
	}
	*n = len(refs)
	written, facets, err := s.stitchRefs(ctx, tx, refs, nil, nil, now.UnixMilli())
	if err != nil {
		return err
	}
	*stitched = written
	// Rows requeued meanwhile got a new ticket and stay.
	for _, chunk := range chunks(refs, s.chunk()) {
		in, args := s.in(chunk)
		if err := s.exec(ctx, tx, `DELETE FROM stitch_queue WHERE stitch_ticket = ? AND entity_ref IN `+in, append([]any{ticket}, args...)...); err != nil {
			return err
		}
	}
	if err := s.applyFacetDeltas(ctx, tx, facets); err != nil {
		return err
	}
	if written > 0 {
		return s.bumpGeneration(ctx, tx)
	}
	return nil
}

// stitchRefs writes the final entities and search rows of refs and returns
// how many changed. known holds processed entities the caller has in hand
// (by ref), which are then not read back; pre (may be nil) holds entities
// stitched ahead, used where their assumptions hold.
func (s *Store) stitchRefs(ctx context.Context, tx *sql.Tx, refs []string, known map[string]*ojson.Object, pre map[string]*preStitched, now int64) (int, facetDeltas, error) {
	srcs, err := s.loadStitchSources(ctx, tx, refs, known)
	if err != nil {
		return 0, nil, err
	}
	type out struct {
		body []byte
		hash string
		rows []model.SearchRow
		err  error
	}
	outs := make([]out, len(srcs))
	// Stitching is pure CPU work on independent entities: spread it over
	// the cores while this transaction waits anyway.
	parallel(len(srcs), func(i int) {
		o := &outs[i]
		if p := pre[srcs[i].ref]; p != nil && p.matches(srcs[i]) {
			o.body, o.hash, o.rows = p.body, p.hash, p.rows
			return
		}
		o.body, o.hash, o.rows, o.err = stitchOne(srcs[i])
	})
	var finals [][]any
	var eids []int64
	type entityRows struct {
		eid  int64
		rows []model.SearchRow
	}
	var fresh []entityRows
	keys := map[string]int64{}
	for i, src := range srcs {
		o := outs[i]
		if o.err != nil {
			s.logger.Error("stitch failed", "entityRef", src.ref, "err", o.err)
			continue
		}
		if o.hash == src.oldHash {
			continue
		}
		finals = append(finals, []any{src.eid, src.id, src.ref, o.hash, string(o.body), now})
		eids = append(eids, src.eid)
		if _, pg := s.d.(postgresDialect); pg {
			o.rows = storableRows(o.rows)
		}
		for _, r := range o.rows {
			keys[r.Key] = 0
		}
		fresh = append(fresh, entityRows{src.eid, o.rows})
	}
	if len(finals) == 0 {
		return 0, nil, nil
	}
	if err := s.insertRows(ctx, tx, `INSERT INTO final_entities (eid, entity_id, entity_ref, hash, final_entity, last_updated_at)`,
		`ON CONFLICT (eid) DO UPDATE SET hash = excluded.hash, final_entity = excluded.final_entity, last_updated_at = excluded.last_updated_at`, finals, nil); err != nil {
		return 0, nil, err
	}
	// The facet keys' ids too (migration 0008 interned them), so that
	// every counted row's key has its id here.
	for _, k := range facetKeys {
		if _, ok := keys[k]; !ok {
			keys[k] = 0
		}
	}
	if err := s.internKeys(ctx, tx, keys); err != nil {
		return 0, nil, err
	}
	counted := make(map[int64]bool, len(facetKeys))
	for _, k := range facetKeys {
		counted[keys[k]] = true
	}
	kindID := keys["kind"]
	facets := facetDeltas{}
	// A restitched entity usually differs from its stored form in a few
	// rows (a relation added by a peer): only those are deleted and
	// inserted, since writing the search index is most of stitching's cost.
	// The rows are read after the final_entities write above, which waits
	// for another replica's transaction stitching the same entity to end:
	// on PostgreSQL they are then that transaction's rows. Entities
	// stitched for the first time are read too, for the same reason.
	old, err := s.loadSearchRows(ctx, tx, eids)
	if err != nil {
		return 0, nil, err
	}
	var search, gone [][]any
	// The rows' cells share one backing array, and an entity's id and each
	// key's id are boxed once: a cell per value was three allocations per
	// search row, a third of a stitch's.
	n := 0
	for _, e := range fresh {
		n += len(e.rows)
	}
	cells := make([]any, 0, 5*n)
	boxedKeys := make(map[int64]any, len(keys))
	for _, e := range fresh {
		prev := old[e.eid]
		seq := prev.maxSeq + 1
		eid := any(e.eid)
		// Facet counts follow the rows written and deleted below, under the
		// entity's kind. The kind is part of the entity's ref, so rows kept
		// as they are keep theirs.
		var newKind, oldKind string
		for _, r := range e.rows {
			if r.Key == "kind" && r.Value != nil {
				newKind = *r.Value
				break
			}
		}
		for _, st := range prev.seqs {
			if st.keyID == kindID && st.hasValue {
				oldKind = st.value
				break
			}
		}
		for _, r := range e.rows {
			// original_value is stored only where it differs: most values
			// are lowercase already, and readers take COALESCE(original_value, value).
			orig := r.OriginalValue
			if orig != nil && r.Value != nil && *orig == *r.Value {
				orig = nil
			}
			k := searchRowKey{keyID: keys[r.Key], value: r.Value, orig: orig}.comparable()
			if _, ok := prev.seqs[k]; ok {
				delete(prev.seqs, k)
				continue
			}
			keyID, ok := boxedKeys[k.keyID]
			if !ok {
				keyID = k.keyID
				boxedKeys[k.keyID] = keyID
			}
			cells = append(cells, eid, keyID, seq, r.Value, orig)
			search = append(search, cells[len(cells)-5:len(cells):len(cells)])
			seq++
			if counted[k.keyID] && r.Value != nil {
				facets.add(k.keyID, newKind, shownValue(r.Value, orig), 1)
			}
		}
		for _, q := range prev.seqs {
			gone = append(gone, []any{e.eid, q.keyID, q.seq})
			if counted[q.keyID] && q.hasValue {
				facets.add(q.keyID, oldKind, q.shown, -1)
			}
		}
	}
	if err := s.deleteSearchRows(ctx, tx, gone); err != nil {
		return 0, nil, err
	}
	// In the order of the (key_id, value) index, so that consecutive rows
	// land on the same index pages instead of all over it.
	slices.SortFunc(search, func(a, b []any) int {
		if c := cmp.Compare(a[1].(int64), b[1].(int64)); c != 0 {
			return c
		}
		av, bv := a[3].(*string), b[3].(*string)
		switch {
		case av == nil || bv == nil:
			if c := cmp.Compare(boolInt(av != nil), boolInt(bv != nil)); c != 0 {
				return c
			}
		default:
			if c := strings.Compare(*av, *bv); c != 0 {
				return c
			}
		}
		return cmp.Compare(a[0].(int64), b[0].(int64))
	})
	if err := s.appendRows(ctx, tx, "search", []string{"eid", "key_id", "seq", "value", "original_value"}, search); err != nil {
		return 0, nil, err
	}
	return len(finals), facets, nil
}

// shownValue is the value a facet shows for a search row: its original
// case where it has one.
func shownValue(value, orig *string) string {
	if orig != nil {
		return *orig
	}
	return *value
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// searchRowKey identifies a search row of an entity by content; seq only
// keeps rows with one key apart.
type searchRowKey struct {
	keyID       int64
	value, orig *string
}

// comparableRow is searchRowKey as a map key (nil and "" kept apart).
type comparableRow struct {
	keyID             int64
	value, orig       string
	hasValue, hasOrig bool
}

func (k searchRowKey) comparable() comparableRow {
	c := comparableRow{keyID: k.keyID}
	if k.value != nil {
		c.value, c.hasValue = *k.value, true
	}
	if k.orig != nil {
		c.orig, c.hasOrig = *k.orig, true
	}
	return c
}

// storedRows are an entity's search rows as stored: each row's seq by
// content, and the largest seq.
type storedRows struct {
	seqs   map[comparableRow]storedSeq
	maxSeq int64
}

type storedSeq struct {
	keyID, seq int64
	// value (lowercased) and shown (original case) of a row whose value is
	// not NULL (hasValue), for facet counts.
	value, shown string
	hasValue     bool
}

// loadSearchRows reads the stored search rows of eids.
func (s *Store) loadSearchRows(ctx context.Context, tx *sql.Tx, eids []int64) (map[int64]storedRows, error) {
	out := make(map[int64]storedRows, len(eids))
	for _, chunk := range chunks(eids, s.chunk()) {
		in, args := s.inInts(chunk)
		rows, err := s.query(ctx, tx, `SELECT eid, key_id, seq, value, original_value FROM search WHERE eid IN `+in, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var eid, keyID, seq int64
			var value, orig sql.NullString
			if err := rows.Scan(&eid, &keyID, &seq, &value, &orig); err != nil {
				rows.Close()
				return nil, err
			}
			e := out[eid]
			if e.seqs == nil {
				e.seqs = map[comparableRow]storedSeq{}
			}
			k := comparableRow{keyID: keyID, value: value.String, hasValue: value.Valid, orig: orig.String, hasOrig: orig.Valid}
			if _, dup := e.seqs[k]; dup {
				// Not written by stitchRefs; deleted with the rest.
				k.keyID, k.value = -seq-1, ""
			}
			st := storedSeq{keyID: keyID, seq: seq, value: value.String, shown: value.String, hasValue: value.Valid}
			if orig.Valid {
				st.shown = orig.String
			}
			e.seqs[k] = st
			e.maxSeq = max(e.maxSeq, seq)
			out[eid] = e
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// deleteSearchRows deletes search rows by (eid, key_id, seq).
func (s *Store) deleteSearchRows(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	const per = 300
	for _, chunk := range chunks(rows, per) {
		var b strings.Builder
		args := make([]any, 0, 3*len(chunk))
		b.WriteString(`DELETE FROM search WHERE `)
		for i, r := range chunk {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(eid = ? AND key_id = ? AND seq = ?)")
			args = append(args, r...)
		}
		if err := s.exec(ctx, tx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) selectStringsRaw(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// loadStitchSources reads what stitching needs for refs; entities not yet
// processed (or gone) are left out. Processed entities found in known are
// not read back.
func (s *Store) loadStitchSources(ctx context.Context, tx *sql.Tx, refs []string, known map[string]*ojson.Object) ([]*stitchSource, error) {
	byRef := map[string]*stitchSource{}
	var order []*stitchSource
	for _, chunk := range chunks(refs, s.chunk()) {
		start := len(order)
		in, args := s.in(chunk)
		// The OFFSET keeps PostgreSQL from turning the orphan check into a
		// hash of every reference in the catalog, built for each batch:
		// each entity's references are looked up in their index instead.
		rows, err := s.query(ctx, tx, `SELECT rs.eid, rs.entity_id, rs.entity_ref, CASE WHEN ? THEN NULL ELSE rs.processed_entity END, rs.errors, fe.hash,
  NOT EXISTS (SELECT 1 FROM refresh_state_references r WHERE r.target_entity_ref = rs.entity_ref LIMIT `+s.d.noLimit()+` OFFSET 0)
FROM refresh_state rs LEFT JOIN final_entities fe ON fe.eid = rs.eid
WHERE rs.processed_entity IS NOT NULL AND rs.entity_ref IN `+in+s.d.lockRows("rs", "KEY SHARE"), append([]any{known != nil}, args...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var src stitchSource
			var processed sql.NullString
			var errs string
			var hash sql.NullString
			if err := rows.Scan(&src.eid, &src.id, &src.ref, &processed, &errs, &hash, &src.orphan); err != nil {
				rows.Close()
				return nil, err
			}
			src.obj = known[src.ref]
			if src.obj == nil && !processed.Valid {
				// Only callers that hold every processed entity skip the column.
				rows.Close()
				return nil, fmt.Errorf("stitch %s: processed entity not at hand", src.ref)
			}
			src.processed, src.errors, src.oldHash = []byte(processed.String), []byte(errs), hash.String
			byRef[src.ref] = &src
			order = append(order, &src)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		// Relations only of the refs found: queued refs are often relation
		// targets that have no entity (yet), and their incoming rows can be
		// many (every component of a team).
		found := make([]string, 0, len(order)-start)
		for _, src := range order[start:] {
			found = append(found, src.ref)
		}
		if len(found) == 0 {
			continue
		}
		in, args = s.in(found)
		rows, err = s.query(ctx, tx, `SELECT source_entity_ref, type, target_entity_ref FROM relations WHERE source_entity_ref IN `+in+
			` ORDER BY source_entity_ref, type, target_entity_ref`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r catalog.Relation
			if err := rows.Scan(&r.Source, &r.Type, &r.Target); err != nil {
				rows.Close()
				return nil, err
			}
			if src := byRef[r.Source]; src != nil {
				// Several originators may emit the same row.
				if k := len(src.relations); k == 0 || src.relations[k-1] != r {
					src.relations = append(src.relations, r)
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// stitchOne builds the final entity and its search rows.
func stitchOne(src *stitchSource) ([]byte, string, []model.SearchRow, error) {
	processed := src.obj
	if processed == nil {
		var err error
		if processed, err = ojson.DecodeObject(src.processed); err != nil {
			return nil, "", nil, fmt.Errorf("decode processed entity: %w", err)
		}
	}
	var errs []catalog.SerializedError
	if len(src.errors) > 0 {
		if err := json.Unmarshal(src.errors, &errs); err != nil {
			return nil, "", nil, fmt.Errorf("decode errors: %w", err)
		}
	}
	final, _ := model.Stitch(model.StitchInput{Processed: processed, UID: src.id, Relations: src.relations, Errors: errs, Orphan: src.orphan})
	if final == nil {
		return nil, "", nil, errors.New("model.Stitch returned no entity")
	}
	body, err := ojson.Marshal(final)
	if err != nil {
		return nil, "", nil, err
	}
	rows, err := model.SearchRows(final)
	if err != nil {
		return nil, "", nil, fmt.Errorf("search rows: %w", err)
	}
	return body, hashBytes(body), rows, nil
}

// internKeys fills in the search_keys id of every key in keys, adding the
// keys not seen before. Ids known to be committed come from the store's
// key cache; the others are cached only once tx commits (endTx): an id
// handed out by a transaction that rolls back may be reused for another key.
func (s *Store) internKeys(ctx context.Context, tx *sql.Tx, keys map[string]int64) error {
	if len(keys) == 0 {
		return nil
	}
	s.keyMu.Lock()
	uncached := 0
	for k, id := range keys {
		if id == 0 {
			if c, ok := s.keyCache[k]; ok {
				keys[k] = c
			} else {
				uncached++
			}
		}
	}
	s.keyMu.Unlock()
	if uncached == 0 {
		return nil
	}
	defer s.noteTx(tx, func(n *txNotes) {
		if n.keys == nil {
			n.keys = map[string]int64{}
		}
		for k, id := range keys {
			if id != 0 {
				n.keys[k] = id
			}
		}
	})
	lookup := func() ([]string, error) {
		var missing []string
		for k, id := range keys {
			if id == 0 {
				missing = append(missing, k)
			}
		}
		for _, chunk := range chunks(missing, s.chunk()) {
			in, args := s.in(chunk)
			rows, err := s.query(ctx, tx, `SELECT id, key FROM search_keys WHERE key IN `+in, args...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var id int64
				var k string
				if err := rows.Scan(&id, &k); err != nil {
					rows.Close()
					return nil, err
				}
				keys[k] = id
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, err
			}
		}
		missing = missing[:0]
		for k, id := range keys {
			if id == 0 {
				missing = append(missing, k)
			}
		}
		return missing, nil
	}
	missing, err := lookup()
	if err != nil || len(missing) == 0 {
		return err
	}
	slices.Sort(missing)
	vals := make([][]any, len(missing))
	for i, k := range missing {
		vals[i] = []any{k}
	}
	if err := s.addKeys(ctx, tx, vals); err != nil {
		return fmt.Errorf("intern search keys: %w", err)
	}
	if missing, err = lookup(); err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("intern search keys: %d keys still missing", len(missing))
	}
	return nil
}

// addKeys adds keys to search_keys; another replica may add the same key
// meanwhile, and its row then wins. Where writers run side by side, they are
// added and committed at once, outside tx: added in tx, a key another
// writer also needs holds that writer on its row until tx commits, seconds
// later (one stitcher in two waited so, 4% of a 100,000-entity ingest on
// PostgreSQL, since keys such as spec.dependsOn.<ref> are new with most
// entities). A key added for a transaction that then rolls back stays,
// unused, as keys do. The pool may hold no more connections than there are
// writers, each holding one: without a free one soon, the keys go in tx.
func (s *Store) addKeys(ctx context.Context, tx *sql.Tx, vals [][]any) error {
	const insert, conflict = `INSERT INTO search_keys (key)`, `ON CONFLICT (key) DO NOTHING`
	if s.ConcurrentWriters() {
		wait, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		conn, err := s.w.Conn(wait)
		cancel()
		if err == nil {
			defer conn.Close()
			return s.insertRows(ctx, conn, insert, conflict, vals, nil)
		}
	}
	return s.insertRows(ctx, tx, insert, conflict, vals, nil)
}

// cacheKeys adds committed key ids to the key cache, up to its bound.
func (s *Store) cacheKeys(keys map[string]int64) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	for k, id := range keys {
		if _, ok := s.keyCache[k]; ok {
			continue
		}
		if len(s.keyCache) >= maxCachedKeys {
			return
		}
		s.keyCache[k] = id
	}
}

// preStitched is an entity stitched before its transaction read what
// stitching needs, on the assumption that its relations are exactly those
// it emitted itself, that it is not an orphan, and that its errors are the
// ones just written. Nearly always true in a batch; checked by matches.
type preStitched struct {
	errors    []byte
	relations []catalog.Relation
	body      []byte
	hash      string
	rows      []model.SearchRow
	err       error
}

func (p *preStitched) matches(src *stitchSource) bool {
	return p.err == nil && p.body != nil && !src.orphan && slices.Equal(p.relations, src.relations) && string(p.errors) == string(src.errors)
}

// startPreStitch stitches rs into pre in the background; the returned
// function waits for it (and may be called more than once).
func startPreStitch(rs []catalog.ProcessingResult, pre map[string]*preStitched) func() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		parallel(len(rs), func(i int) {
			r := rs[i]
			p := pre[r.EntityRef]
			if p == nil {
				return
			}
			// The relations as loadStitchSources reads them back: this
			// entity's outgoing rows, lowercased, ordered, without repeats.
			self := strings.ToLower(r.EntityRef)
			for _, rel := range r.Relations {
				rel = catalog.Relation{Source: strings.ToLower(rel.Source), Type: rel.Type, Target: strings.ToLower(rel.Target)}
				if rel.Source == self {
					p.relations = append(p.relations, rel)
				}
			}
			slices.SortFunc(p.relations, func(a, b catalog.Relation) int {
				if c := strings.Compare(a.Source, b.Source); c != 0 {
					return c
				}
				if c := strings.Compare(a.Type, b.Type); c != 0 {
					return c
				}
				return strings.Compare(a.Target, b.Target)
			})
			p.relations = slices.Compact(p.relations)
			p.body, p.hash, p.rows, p.err = stitchOne(&stitchSource{id: r.EntityID, ref: r.EntityRef, obj: r.Processed, errors: p.errors, relations: p.relations})
		})
	}()
	return func() { <-done }
}

// parallel runs fn(0..n-1) on all cores.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), max(1, n/64))
	if workers == 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				fn(i)
			}
		}()
	}
	wg.Wait()
}
