package sqlstore

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

func hashBytes(b []byte) string {
	h := sha1.Sum(b)
	return hex.EncodeToString(h[:])
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deferredRow is an unprocessed entity ready for refresh_state.
type deferredRow struct {
	ref, locationKey, hash string
	body                   []byte
}

// marshalRows turns deferred entities into refresh_state rows, in order.
// Marshalling and hashing go on all cores: a location may emit thousands
// of entities.
func marshalRows(es []catalog.DeferredEntity) ([]deferredRow, error) {
	all := make([]deferredRow, len(es))
	errs := make([]error, len(es))
	parallel(len(es), func(i int) {
		e := es[i]
		if e.JSON != nil {
			all[i] = deferredRow{ref: e.Ref, locationKey: e.LocationKey, hash: hashBytes(e.JSON), body: e.JSON}
			return
		}
		if e.Entity == nil {
			return
		}
		ref := model.EntityRef(e.Entity)
		body, err := ojson.Marshal(e.Entity)
		if err != nil {
			errs[i] = fmt.Errorf("marshal %s: %w", ref, err)
			return
		}
		all[i] = deferredRow{ref: ref, locationKey: e.LocationKey, hash: hashBytes(body), body: body}
	})
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	out := all[:0]
	for i, r := range all {
		if es[i].Present() {
			out = append(out, r)
		}
	}
	return out, nil
}

// child is an entity emitted by a parent: an entity ref, or the name of
// the provider that emitted it.
type child struct {
	parent string
	row    deferredRow
}

// pickWinners keeps one row per ref, as Backstage's writes in emission
// order leave it: a row with the location key of the first one replaces
// it (the later document wins), a row with another key loses to it (a
// conflict, which findConflicts reports). It returns the rows to write and
// the location key each ref is written with.
func pickWinners(children []child) ([]deferredRow, map[string]string) {
	rows := make([]deferredRow, 0, len(children))
	at := make(map[string]int, len(children))
	for _, c := range children {
		i, ok := at[c.row.ref]
		switch {
		case !ok:
			at[c.row.ref] = len(rows)
			rows = append(rows, c.row)
		case rows[i].locationKey == c.row.locationKey:
			rows[i] = c.row
		}
	}
	keys := make(map[string]string, len(rows))
	for _, r := range rows {
		keys[r.ref] = r.locationKey
	}
	return rows, keys
}

// providerChildren are a provider's entities as children of the provider.
func providerChildren(provider string, rows []deferredRow) []child {
	out := make([]child, len(rows))
	for i, r := range rows {
		out[i] = child{parent: provider, row: r}
	}
	return out
}

// newEntityID returns a fresh uid. Version 7 UUIDs grow with time, so every
// index keyed by entity id (final_entities, search, relations) is appended
// to at its end instead of being split at random pages.
func newEntityID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// upsertUnprocessed inserts or updates refresh_state rows and returns the
// refs it wrote, each mapped to whether it was ever processed. A row owned
// by another location key is left alone (first writer wins); a row without
// a location key is taken over. Changed input makes the row due now.
func (s *Store) upsertUnprocessed(ctx context.Context, tx *sql.Tx, rows []deferredRow, now int64) (map[string]bool, error) {
	accepted := make(map[string]bool, len(rows))
	vals := make([][]any, len(rows))
	for i, r := range rows {
		vals[i] = []any{newEntityID(), r.ref, string(r.body), r.hash, nullIfEmpty(r.locationKey), now + dueOffset(r.ref), now}
	}
	err := s.insertRows(ctx, tx,
		`INSERT INTO refresh_state (entity_id, entity_ref, unprocessed_entity, unprocessed_hash, location_key, next_update_at, last_discovery_at)`,
		`ON CONFLICT (entity_ref) DO UPDATE SET
  unprocessed_entity = excluded.unprocessed_entity,
  location_key = excluded.location_key,
  last_discovery_at = excluded.last_discovery_at,
  next_update_at = CASE WHEN refresh_state.unprocessed_hash <> excluded.unprocessed_hash THEN excluded.next_update_at ELSE refresh_state.next_update_at END,
  unprocessed_hash = excluded.unprocessed_hash
WHERE refresh_state.location_key IS NULL OR refresh_state.location_key = '' OR refresh_state.location_key = excluded.location_key
RETURNING entity_ref, processed_entity IS NOT NULL`, vals, func(rs *sql.Rows) error {
			var ref string
			var processed bool
			if err := rs.Scan(&ref, &processed); err != nil {
				return err
			}
			accepted[ref] = processed
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("upsert refresh_state: %w", err)
	}
	return accepted, nil
}

// dueOffset orders entities written together by kind, as milliseconds
// taken off their due time (none is delayed), so that they are claimed in
// the direction their relations point: locations first (they emit more),
// then components and templates (and kinds the catalog does not know),
// resources, APIs and users, systems, domains, and groups last. An entity
// stitched after those that point at it carries their relations at once;
// stitched before, it is stitched again once they are processed (a
// 10,000-entity first ingest: 2,420 restitches instead of 5,513).
func dueOffset(ref string) int64 {
	kind, _, _ := strings.Cut(ref, ":")
	switch kind {
	case "location":
		return -5
	case "resource", "api", "user":
		return -3
	case "system":
		return -2
	case "domain":
		return -1
	case "group":
		return 0
	}
	return -4
}

// nextUpdate is the next due time of a written result, as text (the form
// updateRows binds); without one it is Backstage's default interval away.
func nextUpdate(r catalog.ProcessingResult) string {
	t := r.NextUpdateAt
	if t.IsZero() {
		t = time.Now().Add(100 * time.Second)
	}
	return strconv.FormatInt(t.UnixMilli(), 10)
}

// entityConflict is an emitted entity that another location already owns.
type entityConflict struct {
	parent, ref string
	// owner is the location key that keeps the entity, key the one that
	// lost it.
	owner, key string
}

// findConflicts lists the children that lost their entity to another
// location key, in the batch (winners) or in the database.
func (s *Store) findConflicts(ctx context.Context, tx *sql.Tx, children []child, accepted map[string]bool, winners map[string]string) ([]entityConflict, error) {
	var lost []child
	var stored []string
	for _, c := range children {
		if _, ok := accepted[c.row.ref]; ok {
			if winners[c.row.ref] != c.row.locationKey {
				lost = append(lost, c)
			}
			continue
		}
		lost = append(lost, c)
		stored = append(stored, c.row.ref)
	}
	if len(lost) == 0 {
		return nil, nil
	}
	owners := map[string]string{}
	for _, chunk := range chunks(stored, s.chunk()) {
		in, args := s.in(chunk)
		rows, err := tx.QueryContext(ctx, s.d.rebind(`SELECT entity_ref, COALESCE(location_key, '') FROM refresh_state WHERE entity_ref IN `+in), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var ref, key string
			if err := rows.Scan(&ref, &key); err != nil {
				rows.Close()
				return nil, err
			}
			owners[ref] = key
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	out := make([]entityConflict, 0, len(lost))
	for _, c := range lost {
		owner, ok := owners[c.row.ref]
		if _, won := accepted[c.row.ref]; won || !ok {
			owner = winners[c.row.ref]
		}
		out = append(out, entityConflict{parent: c.parent, ref: c.row.ref, owner: owner, key: c.row.locationKey})
	}
	return out, nil
}

// message is Backstage's log line for the conflict.
func (c entityConflict) message() string {
	return fmt.Sprintf("Detected conflicting entityRef %s already referenced by %s and now also %s", c.ref, c.owner, c.key)
}

// log logs the conflict as Backstage does, naming both locations; a
// conflict already reported by the last pass of the same parent is only a
// debug line, so that a lasting conflict is not logged at every pass.
func (c entityConflict) log(logger *slog.Logger, repeated bool) {
	level := slog.LevelWarn
	if repeated {
		level = slog.LevelDebug
	}
	logger.Log(context.Background(), level, c.message(),
		"entityRef", c.ref, "existingLocationKey", c.owner, "locationKey", c.key, "emittedBy", c.parent)
}

// recordConflicts logs the conflicts and keeps each parent's for the
// unprocessed entities API (previous holds what the parents kept before).
// The parent's result hash is cleared so that its next pass writes its
// children again: the entity is taken over once its owner lets go of it,
// and the record goes away with the conflict.
func (s *Store) recordConflicts(ctx context.Context, tx *sql.Tx, conflicts []entityConflict, previous map[string]string) error {
	byParent := map[string][]catalog.SerializedError{}
	for _, c := range conflicts {
		se := catalog.SerializedError{Name: "ConflictError", Message: c.message()}
		enc, _ := json.Marshal(se.Message)
		c.log(s.logger, strings.Contains(previous[c.parent], string(enc)))
		byParent[c.parent] = append(byParent[c.parent], se)
	}
	for parent, errs := range byParent {
		enc, err := json.Marshal(errs)
		if err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `UPDATE refresh_state SET conflicts = ?, result_hash = '' WHERE entity_ref = ?`, string(enc), parent); err != nil {
			return err
		}
	}
	return nil
}

// queueStitch asks for refs to be (re)stitched now; a fresh ticket makes an
// in-flight stitch of the same ref leave the row queued.
func (s *Store) queueStitch(ctx context.Context, tx *sql.Tx, refs map[string]bool, now int64) error {
	if len(refs) == 0 {
		return nil
	}
	ticket := uuid.NewString()
	// In one order, so that transactions queueing the same refs (two
	// replicas removing entities with one owner) take the row locks in the
	// same order instead of deadlocking.
	sorted := make([]string, 0, len(refs))
	for r := range refs {
		sorted = append(sorted, r)
	}
	slices.Sort(sorted)
	vals := make([][]any, 0, len(refs))
	for _, r := range sorted {
		vals = append(vals, []any{r, ticket, now})
	}
	// A row already due is left as it is: it will be stitched from what
	// is there then, and its ticket is replaced by the claim. Only a row
	// claimed by a stitch in flight (its next_stitch_at is the claim's
	// lease, in the future) gets the fresh ticket and comes due now. In a
	// first ingest each batch queues the same owners, systems and APIs
	// again: rewritten each time, 100,000 entities made 400,000 new
	// versions of queue rows, each with its index entries, on PostgreSQL.
	return s.insertRows(ctx, tx, `INSERT INTO stitch_queue (entity_ref, stitch_ticket, next_stitch_at)`,
		`ON CONFLICT (entity_ref) DO UPDATE SET stitch_ticket = excluded.stitch_ticket, next_stitch_at = excluded.next_stitch_at
WHERE stitch_queue.next_stitch_at > excluded.next_stitch_at`, vals, nil)
}

func (s *Store) selectStrings(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	rows, err := s.query(ctx, q, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		if v.Valid {
			out = append(out, v.String)
		}
	}
	return out, rows.Err()
}

// childWrites is the outcome of writeChildren.
type childWrites struct {
	rows []deferredRow // the winning row of each ref
	// accepted maps each ref written to whether it was ever processed.
	accepted map[string]bool
	// keys maps each ref to the location key of its winning row.
	keys      map[string]string
	conflicts []entityConflict
}

// owns tells whether c's row is the one its ref was written with.
func (w childWrites) owns(c child) bool {
	_, ok := w.accepted[c.row.ref]
	return ok && w.keys[c.row.ref] == c.row.locationKey
}

// writeChildren upserts the entities emitted by parents or providers (one
// row per ref, see pickWinners) and finds the conflicts.
func (s *Store) writeChildren(ctx context.Context, tx *sql.Tx, children []child, now int64) (childWrites, error) {
	var w childWrites
	w.rows, w.keys = pickWinners(children)
	var err error
	if w.accepted, err = s.upsertUnprocessed(ctx, tx, w.rows, now); err != nil {
		return w, err
	}
	w.conflicts, err = s.findConflicts(ctx, tx, children, w.accepted, w.keys)
	return w, err
}

// ApplyFullMutation replaces everything provider emitted.
func (s *Store) ApplyFullMutation(ctx context.Context, provider string, entities []catalog.DeferredEntity) error {
	all, err := marshalRows(entities)
	if err != nil {
		return fmt.Errorf("apply full mutation: %w", err)
	}
	now := time.Now().UnixMilli()
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		old, err := s.selectStrings(ctx, tx, `SELECT target_entity_ref FROM refresh_state_references WHERE source_key = ?`, provider)
		if err != nil {
			return err
		}
		w, err := s.writeChildren(ctx, tx, providerChildren(provider, all), now)
		if err != nil {
			return err
		}
		for _, c := range w.conflicts {
			c.log(s.logger, false)
		}
		rows, accepted := w.rows, w.accepted
		oldSet := make(map[string]bool, len(old))
		for _, r := range old {
			oldSet[r] = true
		}
		stitch := map[string]bool{}
		for r := range oldSet {
			if _, ok := accepted[r]; !ok {
				stitch[r] = true // no longer emitted: may become an orphan
				s.noteDroppedRef(tx)
			}
		}
		if err := s.exec(ctx, tx, `DELETE FROM refresh_state_references WHERE source_key = ?`, provider); err != nil {
			return err
		}
		refs := make([][]any, 0, len(accepted))
		for _, r := range rows {
			if _, ok := accepted[r.ref]; ok {
				refs = append(refs, []any{provider, r.ref})
				if !oldSet[r.ref] {
					stitch[r.ref] = true // may stop being an orphan
				}
			}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO refresh_state_references (source_key, target_entity_ref)`, "", refs, nil); err != nil {
			return err
		}
		return s.queueStitch(ctx, tx, stitch, now)
	})
	if err != nil {
		return fmt.Errorf("apply full mutation: %w", err)
	}
	return nil
}

// ApplyDeltaMutation upserts added and drops the provider's references to removed.
func (s *Store) ApplyDeltaMutation(ctx context.Context, provider string, added []catalog.DeferredEntity, removed []string) error {
	all, err := marshalRows(added)
	if err != nil {
		return fmt.Errorf("apply delta mutation: %w", err)
	}
	now := time.Now().UnixMilli()
	// A deadlock with another replica's write leaves nothing behind: the
	// mutation is applied again.
	err = s.applyDelta(ctx, provider, all, removed, now)
	if err != nil {
		return fmt.Errorf("apply delta mutation: %w", err)
	}
	return nil
}

func (s *Store) applyDelta(ctx context.Context, provider string, all []deferredRow, removed []string, now int64) error {
	return s.inTxRetried(ctx, func(tx *sql.Tx) error {
		w, err := s.writeChildren(ctx, tx, providerChildren(provider, all), now)
		if err != nil {
			return err
		}
		for _, c := range w.conflicts {
			c.log(s.logger, false)
		}
		rows, accepted := w.rows, w.accepted
		stitch := map[string]bool{}
		var addRefs []string
		for _, r := range rows {
			if _, ok := accepted[r.ref]; ok {
				addRefs = append(addRefs, r.ref)
			}
		}
		var allRefs []string
		allRefs = append(allRefs, addRefs...)
		for _, r := range removed {
			allRefs = append(allRefs, strings.ToLower(r))
		}
		if len(removed) > 0 {
			s.noteDroppedRef(tx)
		}
		// Dropping and re-adding the provider's rows for these refs keeps one row each.
		for _, chunk := range chunks(allRefs, 500) {
			if err := s.exec(ctx, tx, `DELETE FROM refresh_state_references WHERE source_key = ? AND target_entity_ref IN `+inList(len(chunk)), append([]any{provider}, anySlice(chunk)...)...); err != nil {
				return err
			}
		}
		vals := make([][]any, len(addRefs))
		for i, r := range addRefs {
			vals[i] = []any{provider, r}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO refresh_state_references (source_key, target_entity_ref)`, "", vals, nil); err != nil {
			return err
		}
		for _, r := range allRefs {
			stitch[r] = true
		}
		return s.queueStitch(ctx, tx, stitch, now)
	})
}

// ClaimDue claims up to limit due rows, leasing them until next().
func (s *Store) ClaimDue(ctx context.Context, limit int, next func() time.Time) ([]catalog.ProcessingItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	var items []catalog.ProcessingItem
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		lease, now := next().UnixMilli(), time.Now().UnixMilli()
		dueAt, err := s.claimDueAt(ctx, tx, now, limit)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, s.d.claimRefreshSQL(), lease, now, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it catalog.ProcessingItem
			var unprocessed string
			var loc sql.NullString
			var processed sql.NullString
			var due sql.NullInt64
			if err := rows.Scan(&it.EntityID, &it.EntityRef, &unprocessed, &loc, &it.ResultHash, &processed, &due); err != nil {
				return err
			}
			if !due.Valid {
				due.Int64, due.Valid = dueAt[it.EntityID]
			}
			if due.Valid {
				it.DueAt = time.UnixMilli(due.Int64)
			}
			it.Unprocessed = []byte(unprocessed)
			it.LocationKey = loc.String
			if processed.Valid {
				it.Processed = []byte(processed.String)
			}
			items = append(items, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim due: %w", err)
	}
	return items, nil
}

// claimDueAt reads when the rows about to be claimed became due, where the
// claim itself cannot tell (dialect.claimDueAtSQL).
func (s *Store) claimDueAt(ctx context.Context, tx *sql.Tx, now int64, limit int) (map[string]int64, error) {
	q := s.d.claimDueAtSQL()
	if q == "" {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, q, now, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	due := map[string]int64{}
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, err
		}
		due[id] = at
	}
	return due, rows.Err()
}

// CompleteProcessing writes the results of one batch in one transaction
// and stitches the batch's own entities in it too: their processed form is
// at hand, so going through stitch_queue would only read it back. Other
// entities whose stitched form may change (relation peers, children) are
// queued for StitchPending.
func (s *Store) CompleteProcessing(ctx context.Context, results []catalog.ProcessingResult) error {
	if len(results) == 0 {
		return nil
	}
	if _, pg := s.d.(postgresDialect); pg {
		results = refuseNUL(results)
	}
	now := time.Now().UnixMilli()
	stitched := 0
	attempt := func(tx *sql.Tx) error {
		// Skip results whose hash matches what is stored: nothing changed.
		stored := make(map[string]string, len(results))
		eids := make(map[string]int64, len(results))
		// The conflicts the entities reported last time, to log only new ones.
		previous := map[string]string{}
		// Entities without a processed form yet: no relations or children
		// of theirs are stored (both are written with it).
		neverProcessed := map[string]bool{}
		ids := make([]string, len(results))
		for i, r := range results {
			ids[i] = r.EntityID
		}
		for _, chunk := range chunks(ids, s.chunk()) {
			in, args := s.in(chunk)
			// Locked: an entity deleted meanwhile is read as gone, or its
			// deletion waits for this result (see lockRows).
			rows, err := s.query(ctx, tx, `SELECT rs.eid, rs.entity_id, rs.result_hash, rs.entity_ref, CASE WHEN rs.conflicts = '[]' THEN '' ELSE rs.conflicts END,
  rs.processed_entity IS NULL
FROM refresh_state rs WHERE rs.entity_id IN `+in+s.d.lockRows("rs", "NO KEY UPDATE"), args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var eid int64
				var id, h, ref, conflicts string
				var never bool
				if err := rows.Scan(&eid, &id, &h, &ref, &conflicts, &never); err != nil {
					rows.Close()
					return err
				}
				stored[id], eids[id] = h, eid
				if never {
					neverProcessed[id] = true
				}
				if conflicts != "" {
					previous[ref] = conflicts
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		stitch := map[string]bool{}
		var okResults []catalog.ProcessingResult
		var okRows, errRows, dueRows [][]any
		var changed []catalog.ProcessingResult
		for _, r := range results {
			h, exists := stored[r.EntityID]
			if !exists {
				continue // deleted while being processed
			}
			if r.ResultHash != "" && h == r.ResultHash {
				// Unchanged: only its next due time is written.
				if !r.NextUpdateAt.IsZero() {
					dueRows = append(dueRows, []any{r.EntityID, nextUpdate(r)})
				}
				continue
			}
			changed = append(changed, r)
		}
		encoded, err := encodeResults(changed)
		if err != nil {
			return err
		}
		for i, r := range changed {
			enc := encoded[i]
			if !r.Ok {
				stitch[r.EntityRef] = true
				errRows = append(errRows, []any{r.EntityID, string(enc.errors), r.ResultHash, nextUpdate(r)})
				continue
			}
			okRows = append(okRows, []any{r.EntityID, string(enc.processed), string(enc.errors), "[]", r.ResultHash, nextUpdate(r)})
			okResults = append(okResults, r)
		}
		// The entities stitched in this transaction; on PostgreSQL, those
		// processed for the first time are queued instead (see
		// deferFirstStitch).
		var inline []catalog.ProcessingResult
		for _, r := range okResults {
			if s.deferFirstStitch() && neverProcessed[r.EntityID] {
				stitch[r.EntityRef] = true
				continue
			}
			inline = append(inline, r)
		}
		inlined := make(map[string]bool, len(inline))
		for _, r := range inline {
			inlined[r.EntityRef] = true
		}
		// Stitch the batch's entities ahead, on the other cores, while this
		// transaction writes; stitchRefs takes each result whose inputs
		// turn out as assumed (see preStitch).
		pre := make(map[string]*preStitched, len(inline))
		for i, r := range changed {
			if inlined[r.EntityRef] {
				pre[r.EntityRef] = &preStitched{errors: encoded[i].errors}
			}
		}
		preDone := startPreStitch(inline, pre)
		defer preDone()
		if err := s.updateRows(ctx, tx, "refresh_state", "entity_id", []string{"next_update_at::bigint"}, dueRows); err != nil {
			return fmt.Errorf("update refresh_state: %w", err)
		}
		if err := s.updateRows(ctx, tx, "refresh_state", "entity_id", []string{"processed_entity", "errors", "conflicts", "result_hash", "next_update_at::bigint"}, okRows); err != nil {
			return fmt.Errorf("update refresh_state: %w", err)
		}
		if err := s.updateRows(ctx, tx, "refresh_state", "entity_id", []string{"errors", "result_hash", "next_update_at::bigint"}, errRows); err != nil {
			return fmt.Errorf("update refresh_state: %w", err)
		}
		if len(okResults) == 0 {
			return s.queueStitch(ctx, tx, stitch, now)
		}
		// Those processed before, whose stored relations and children are
		// replaced (all of them in a catalog's first ingest are not).
		var okEIDs []int64
		var okRefs []string
		for _, r := range okResults {
			if !neverProcessed[r.EntityID] {
				okEIDs, okRefs = append(okEIDs, eids[r.EntityID]), append(okRefs, r.EntityRef)
			}
		}
		// Relations: an entity's stitched relations are the rows it is the
		// source of, so the sources of the rows an entity adds or drops are
		// stitched again, and no others: as in Backstage, a row emitted again
		// unchanged (an edited description) restitches none of its peers.
		oldRels := map[int64]map[catalog.Relation]bool{}
		for _, chunk := range chunks(okEIDs, s.chunk()) {
			in, args := s.inInts(chunk)
			rows, err := s.query(ctx, tx, `SELECT originating_eid, source_entity_ref, type, target_entity_ref FROM relations WHERE originating_eid IN `+in, args...)
			if err != nil {
				return err
			}
			for rows.Next() {
				var eid int64
				var rel catalog.Relation
				if err := rows.Scan(&eid, &rel.Source, &rel.Type, &rel.Target); err != nil {
					rows.Close()
					return err
				}
				if oldRels[eid] == nil {
					oldRels[eid] = map[catalog.Relation]bool{}
				}
				oldRels[eid][rel] = true
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if err := s.exec(ctx, tx, `DELETE FROM relations WHERE originating_eid IN `+in, args...); err != nil {
				return err
			}
		}
		var rels [][]any
		for _, r := range okResults {
			old := oldRels[eids[r.EntityID]]
			seen := map[catalog.Relation]bool{}
			for _, rel := range r.Relations {
				rel = catalog.Relation{Source: strings.ToLower(rel.Source), Type: rel.Type, Target: strings.ToLower(rel.Target)}
				if seen[rel] {
					continue
				}
				seen[rel] = true
				rels = append(rels, []any{eids[r.EntityID], rel.Source, rel.Type, rel.Target})
				if !old[rel] {
					stitch[rel.Source] = true
				}
			}
			for rel := range old {
				if !seen[rel] {
					stitch[rel.Source] = true
				}
			}
		}
		// No row of these entities is left to collide with: their
		// refresh_state rows are locked above, so a replica writing a result
		// for one of them at the same time waits for this transaction, then
		// reads its result hash (and skips an equal result) or deletes these
		// rows before writing its own.
		if err := s.appendRows(ctx, tx, "relations", []string{"originating_eid", "source_entity_ref", "type", "target_entity_ref"}, rels); err != nil {
			return err
		}
		// Children: upsert with the location-key check, then replace the
		// references this batch's entities hold.
		var emitted []catalog.DeferredEntity
		var parents []string
		for _, r := range okResults {
			for _, c := range r.Children {
				if c.Present() {
					emitted = append(emitted, c)
					parents = append(parents, r.EntityRef)
				}
			}
		}
		rows, err := marshalRows(emitted)
		if err != nil {
			return err
		}
		children := make([]child, 0, len(rows))
		for i, row := range rows {
			if row.ref != parents[i] {
				children = append(children, child{parent: parents[i], row: row})
			}
		}
		w, err := s.writeChildren(ctx, tx, children, now)
		if err != nil {
			return err
		}
		oldChildren := map[string]bool{}
		for _, chunk := range chunks(okRefs, s.chunk()) {
			in, args := s.in(chunk)
			olds, err := s.selectStrings(ctx, tx, `SELECT target_entity_ref FROM refresh_state_references WHERE source_entity_ref IN `+in, args...)
			if err != nil {
				return err
			}
			for _, o := range olds {
				oldChildren[o] = true
			}
			if err := s.exec(ctx, tx, `DELETE FROM refresh_state_references WHERE source_entity_ref IN `+in, args...); err != nil {
				return err
			}
		}
		var refs [][]any
		newChildren := map[string]bool{}
		seenRef := map[[2]string]bool{}
		for _, c := range children {
			// A parent that lost the entity to another location does not
			// reference it (Backstage keeps only the owner's reference).
			if !w.owns(c) || seenRef[[2]string{c.parent, c.row.ref}] {
				continue
			}
			seenRef[[2]string{c.parent, c.row.ref}] = true
			refs = append(refs, []any{c.parent, c.row.ref})
			newChildren[c.row.ref] = true
			// A child never processed has no stitched form to change yet.
			if !oldChildren[c.row.ref] && w.accepted[c.row.ref] {
				stitch[c.row.ref] = true
			}
		}
		for o := range oldChildren {
			if !newChildren[o] {
				stitch[o] = true
				s.noteDroppedRef(tx)
			}
		}
		if err := s.insertRows(ctx, tx, `INSERT INTO refresh_state_references (source_entity_ref, target_entity_ref)`, "", refs, nil); err != nil {
			return err
		}
		if err := s.recordConflicts(ctx, tx, w.conflicts, previous); err != nil {
			return err
		}
		// Everything above is written: stitch the batch's entities now.
		known := make(map[string]*ojson.Object, len(inline))
		direct := make([]string, 0, len(inline))
		for _, r := range inline {
			known[r.EntityRef] = r.Processed
			direct = append(direct, r.EntityRef)
			delete(stitch, r.EntityRef)
		}
		preDone()
		// Queue rows of these entities, left by earlier writes of their
		// peers, are claimed before the stitch reads its inputs, so the
		// stitch covers what queued them and they are dropped after it,
		// instead of stitching the entities again from the queue. A row
		// queued again meanwhile (claimed, it is rewritten: see queueStitch)
		// has another ticket and stays.
		queued, err := s.queuedTickets(ctx, tx, direct, now+stitchLease.Milliseconds())
		if err != nil {
			return err
		}
		written, facets, err := s.stitchRefs(ctx, tx, direct, known, pre, now)
		if err != nil {
			return err
		}
		for ticket, refs := range queued {
			for _, chunk := range chunks(refs, s.chunk()) {
				in, args := s.in(chunk)
				if err := s.exec(ctx, tx, `DELETE FROM stitch_queue WHERE stitch_ticket = ? AND entity_ref IN `+in, append([]any{ticket}, args...)...); err != nil {
					return err
				}
			}
		}
		stitched = written
		if err := s.queueStitch(ctx, tx, stitch, now); err != nil {
			return err
		}
		if err := s.applyFacetDeltas(ctx, tx, facets); err != nil {
			return err
		}
		if written > 0 {
			return s.bumpGeneration(ctx, tx)
		}
		return nil
	}
	// An entity another replica deletes meanwhile is not written: the read
	// above locks the batch's rows (see lockRows).
	err := s.inTxRetried(ctx, func(tx *sql.Tx) error {
		stitched = 0
		return attempt(tx)
	})
	if err != nil {
		return fmt.Errorf("complete processing: %w", err)
	}
	s.noteWritten(ctx, stitched)
	return nil
}

// queuedTickets claims the stitch_queue rows of refs until lease, as a
// stitch from the queue does, and returns their refs by ticket.
func (s *Store) queuedTickets(ctx context.Context, tx *sql.Tx, refs []string, lease int64) (map[string][]string, error) {
	out := map[string][]string{}
	for _, chunk := range chunks(refs, s.chunk()) {
		in, args := s.in(chunk)
		rows, err := s.query(ctx, tx, `UPDATE stitch_queue SET next_stitch_at = ? WHERE entity_ref IN `+in+` RETURNING entity_ref, stitch_ticket`, append([]any{lease}, args...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var ref, ticket string
			if err := rows.Scan(&ref, &ticket); err != nil {
				rows.Close()
				return nil, err
			}
			out[ticket] = append(out[ticket], ref)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// encodedResult is a processing result in its stored form.
type encodedResult struct {
	processed, errors []byte
}

// encodeResults marshals the processed entities and errors of rs on all cores.
func encodeResults(rs []catalog.ProcessingResult) ([]encodedResult, error) {
	out := make([]encodedResult, len(rs))
	errs := make([]error, len(rs))
	parallel(len(rs), func(i int) {
		r := rs[i]
		e := r.Errors
		if e == nil {
			e = []catalog.SerializedError{}
		}
		if out[i].errors, errs[i] = json.Marshal(e); errs[i] != nil || !r.Ok {
			return
		}
		if out[i].processed, errs[i] = ojson.Marshal(r.Processed); errs[i] != nil {
			errs[i] = fmt.Errorf("marshal processed %s: %w", r.EntityRef, errs[i])
		}
	})
	return out, errors.Join(errs...)
}

// updateRows sets columns of table by key: each row is the key followed by
// the values of cols. Values are text unless a column is written
// "name::type", which casts it on PostgreSQL.
func (s *Store) updateRows(ctx context.Context, tx *sql.Tx, table, key string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	var set strings.Builder
	if s.d.jsonBatches() {
		for i, c := range cols {
			if i > 0 {
				set.WriteString(", ")
			}
			c, _, _ = strings.Cut(c, "::")
			fmt.Fprintf(&set, "%s = u.value->>%d", c, i+1)
		}
		q := fmt.Sprintf("UPDATE %s SET %s FROM jsonb_each(?) AS u WHERE %s.%s = u.value->>0", table, set.String(), table, key)
		buf := []byte{'['}
		for i, r := range rows {
			if i > 0 {
				buf = append(buf, ',')
			}
			var err error
			if buf, err = appendJSONRow(buf, r); err != nil {
				return err
			}
		}
		buf = append(buf, ']')
		return s.exec(ctx, tx, q, string(buf))
	}
	width := len(cols) + 1
	names := append([]string{"k"}, make([]string, len(cols))...)
	for i, c := range cols {
		names[i+1] = "v" + strconv.Itoa(i)
		if i > 0 {
			set.WriteString(", ")
		}
		if name, typ, ok := strings.Cut(c, "::"); ok {
			fmt.Fprintf(&set, "%s = u.v%d::%s", name, i, typ)
			continue
		}
		fmt.Fprintf(&set, "%s = u.v%d", c, i)
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
	for _, chunk := range chunks(rows, max(1, s.d.maxArgs()/width)) {
		var b strings.Builder
		args := make([]any, 0, len(chunk)*width)
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
			args = append(args, r...)
		}
		q := fmt.Sprintf("UPDATE %s SET %s FROM (VALUES %s) AS u(%s) WHERE %s.%s = u.k", table, set.String(), b.String(), strings.Join(names, ", "), table, key)
		if err := s.exec(ctx, tx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// RequestRefresh makes the entity and its location ancestors due now.
func (s *Store) RequestRefresh(ctx context.Context, ref string) error {
	ref = strings.ToLower(ref)
	now := time.Now().UnixMilli()
	// Retried: a deadlock with a processing write is resolved by running
	// again, which the eid order of the locks below makes rare.
	err := s.inTxRetried(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM refresh_state WHERE entity_ref = ?`), ref).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return backend.NotFound("Entity %s not found", ref)
		}
		ancestors, err := s.selectStrings(ctx, tx, `WITH RECURSIVE anc(ref) AS (
  SELECT source_entity_ref FROM refresh_state_references WHERE target_entity_ref = ? AND source_entity_ref IS NOT NULL
  UNION
  SELECT r.source_entity_ref FROM refresh_state_references r JOIN anc ON r.target_entity_ref = anc.ref WHERE r.source_entity_ref IS NOT NULL
) SELECT ref FROM anc`, ref)
		if err != nil {
			return err
		}
		targets := []string{ref}
		for _, a := range ancestors {
			if strings.HasPrefix(a, "location:") {
				targets = append(targets, a)
			}
		}
		// Locked in eid order first, as processing locks its batch: an
		// UPDATE locks rows in the order it finds them.
		if lock := s.d.lockRows("rs", "NO KEY UPDATE"); lock != "" {
			if _, err := s.selectStrings(ctx, tx, `SELECT rs.entity_ref FROM refresh_state rs WHERE rs.entity_ref IN `+inList(len(targets))+lock, anySlice(targets)...); err != nil {
				return err
			}
		}
		return s.exec(ctx, tx, `UPDATE refresh_state SET next_update_at = ? WHERE entity_ref IN `+inList(len(targets)), append([]any{now}, anySlice(targets)...)...)
	})
	if err != nil {
		return fmt.Errorf("refresh %s: %w", ref, err)
	}
	return nil
}

// DeleteEntityByUID removes an entity; its parents forget their result hash
// so that they emit it again on their next pass, and its relation peers are
// restitched.
func (s *Store) DeleteEntityByUID(ctx context.Context, uid string) error {
	now := time.Now().UnixMilli()
	err := s.inTxRetried(ctx, func(tx *sql.Tx) error {
		var ref string
		err := tx.QueryRowContext(ctx, s.d.rebind(`SELECT entity_ref FROM refresh_state WHERE entity_id = ?`), uid).Scan(&ref)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.deleteEntities(ctx, tx, []string{uid}, []string{ref}, true, now); err != nil {
			return err
		}
		return s.bumpGeneration(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("delete entity %s: %w", uid, err)
	}
	return nil
}

// deleteEntities removes refresh_state rows and everything derived (by
// cascade, explicitly for search and relations) after queueing their
// relation peers and children for stitching; it locks the rows first (see
// lockRows). With reemit, their parents forget their result hash, so that
// their next pass writes the entities again.
func (s *Store) deleteEntities(ctx context.Context, tx *sql.Tx, ids, refs []string, reemit bool, now int64) error {
	s.noteDroppedRef(tx) // the entities' own references to their children
	for _, chunk := range chunks(ids, 500) {
		if lock := s.d.lockRows("rs", "UPDATE"); lock != "" {
			if _, err := s.selectStrings(ctx, tx, `SELECT rs.eid FROM refresh_state rs WHERE rs.entity_id IN `+inList(len(chunk))+lock, anySlice(chunk)...); err != nil {
				return err
			}
		}
	}
	stitch := map[string]bool{}
	for _, chunk := range chunks(ids, 500) {
		peers, err := s.selectStrings(ctx, tx, `SELECT target_entity_ref FROM relations WHERE originating_eid IN (SELECT eid FROM refresh_state WHERE entity_id IN `+inList(len(chunk))+`)`, anySlice(chunk)...)
		if err != nil {
			return err
		}
		for _, p := range peers {
			stitch[p] = true
		}
	}
	for _, chunk := range chunks(refs, 500) {
		args := anySlice(chunk)
		peers, err := s.selectStrings(ctx, tx, `SELECT source_entity_ref FROM relations WHERE target_entity_ref IN `+inList(len(chunk)), args...)
		if err != nil {
			return err
		}
		for _, p := range peers {
			stitch[p] = true
		}
		kids, err := s.selectStrings(ctx, tx, `SELECT target_entity_ref FROM refresh_state_references WHERE source_entity_ref IN `+inList(len(chunk)), args...)
		if err != nil {
			return err
		}
		for _, k := range kids {
			stitch[k] = true
		}
		if !reemit {
			continue
		}
		if err := s.exec(ctx, tx, `UPDATE refresh_state SET result_hash = 'child-was-deleted' WHERE entity_ref IN (SELECT source_entity_ref FROM refresh_state_references WHERE target_entity_ref IN `+inList(len(chunk))+`)`, args...); err != nil {
			return err
		}
	}
	facets, err := s.deletedFacets(ctx, tx, ids)
	if err != nil {
		return err
	}
	for _, chunk := range chunks(ids, 500) {
		args := anySlice(chunk)
		// search carries no foreign key (see the migration), nor do
		// relations (migrations 0007 and 0009).
		if err := s.exec(ctx, tx, `DELETE FROM search WHERE eid IN (SELECT eid FROM refresh_state WHERE entity_id IN `+inList(len(chunk))+`)`, args...); err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `DELETE FROM relations WHERE originating_eid IN (SELECT eid FROM refresh_state WHERE entity_id IN `+inList(len(chunk))+`)`, args...); err != nil {
			return err
		}
		if err := s.exec(ctx, tx, `DELETE FROM refresh_state WHERE entity_id IN `+inList(len(chunk)), args...); err != nil {
			return err
		}
	}
	for _, r := range refs {
		delete(stitch, r)
	}
	if err := s.queueStitch(ctx, tx, stitch, now); err != nil {
		return err
	}
	return s.applyFacetDeltas(ctx, tx, facets)
}

// DeleteOrphans removes entities nothing references, repeating until their
// children, orphaned in turn, are gone too.
func (s *Store) DeleteOrphans(ctx context.Context) (int, error) {
	var total int
	now := time.Now().UnixMilli()
	err := s.inTxRetried(ctx, func(tx *sql.Tx) error {
		total = 0
		for {
			rows, err := s.query(ctx, tx, `SELECT rs.entity_id, rs.entity_ref FROM refresh_state rs
WHERE NOT EXISTS (SELECT 1 FROM refresh_state_references r WHERE r.target_entity_ref = rs.entity_ref)`)
			if err != nil {
				return err
			}
			var ids, refs []string
			for rows.Next() {
				var id, ref string
				if err := rows.Scan(&id, &ref); err != nil {
					rows.Close()
					return err
				}
				ids, refs = append(ids, id), append(refs, ref)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(ids) == 0 {
				break
			}
			if err := s.deleteEntities(ctx, tx, ids, refs, true, now); err != nil {
				return err
			}
			total += len(ids)
		}
		if total == 0 {
			return nil
		}
		return s.bumpGeneration(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("delete orphans: %w", err)
	}
	return total, nil
}
