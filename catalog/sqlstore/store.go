// Package sqlstore keeps the catalog in SQL: refresh state, relations, the
// stitched entities and their search index, on SQLite (the default) or
// PostgreSQL.
//
// Everything that differs between the two databases is behind the dialect
// interface (dialect.go); the rest is plain SQL both understand. Nothing
// outside this package sees a bun or database/sql type: callers hold a
// catalog.Store. The behaviour both dialects must share is pinned by
// catalog/storetest, which runs the same cases against each.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/database"
)

// Store is the SQL implementation of catalog.Store.
type Store struct {
	db     *database.DB
	w, r   *sql.DB // write handle (single connection on SQLite) and read pool
	d      dialect
	logger *slog.Logger

	cacheMu    sync.Mutex
	cacheGen   int64
	cache      map[string]any
	cacheBytes int // see cachedSized

	// ownGen: only this store can write the database (in-memory SQLite, on
	// which the catalog plugin opens one store), so the generation that
	// keys the cache is counted here (gen, moved by endTx) instead of read
	// from catalog_generation on every cached read.
	ownGen bool
	gen    atomic.Int64

	keyMu    sync.Mutex
	keyCache map[string]int64 // search key → interned id (see keyIDs)

	txMu sync.Mutex
	txs  map[*sql.Tx]*txNotes // of the open transactions (see endTx)

	// refsDropped: a write of this store that dropped a reference to an
	// entity committed since ReferencesDropped last said so.
	refsDropped atomic.Bool

	statsMu      sync.Mutex // see noteWritten
	sinceAnalyze int64
	analyzedRows int64
	analyzing    bool
	lastWrite    time.Time // of the last stitched change

	selfVacuum      bool // PostgreSQL with autovacuum off: see vacuum.go
	vacuuming       bool
	vacuumEvery     time.Duration
	vacuumCheckedAt time.Time

	// stage: bulk appends go through a staging table (appendRows).
	stage bool

	stmts *stmtCache // prepared reads on SQLite, nil on PostgreSQL

	// onRead, set only by tests, sees each read query (as sent) and its
	// arguments before it runs.
	onRead func(query string, args []any)
	// onTxRead, set only by tests, sees each read query run inside a
	// write transaction (processing, stitching).
	onTxRead func(query string, args []any)
}

// New migrates the catalog tables and returns a store over db. The caller
// keeps ownership of db; Close does not close it.
func New(ctx context.Context, db *database.DB, logger *slog.Logger) (*Store, error) {
	if logger == nil {
		logger = slog.Default()
	}
	var d dialect
	switch db.Dialect() {
	case database.DialectSQLite:
		d = sqliteDialect{}
	case database.DialectPostgres:
		d = postgresDialect{}
	default:
		return nil, fmt.Errorf("sqlstore: unsupported dialect %q", db.Dialect())
	}
	s := &Store{db: db, w: db.Write.DB, r: db.Read.DB, d: d, logger: logger, cache: map[string]any{}, keyCache: map[string]int64{}, txs: map[*sql.Tx]*txNotes{}, vacuumEvery: vacuumCheckEvery}
	s.refsDropped.Store(true) // of earlier runs, for all this one knows
	// An in-memory SQLite database (one handle for both roles) journals in
	// memory at the cost of a copy, less than the staging table's.
	s.stage = d.jsonBatches() && db.Write != db.Read
	s.ownGen = db.Write == db.Read && db.Dialect() == database.DialectSQLite
	if _, ok := d.(sqliteDialect); ok {
		s.stmts = newStmtCache(s.r)
	}
	if err := migrate(ctx, db); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	if err := s.checkAutovacuum(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	return s, nil
}

// Close closes the store's prepared statements; the database belongs to the
// caller.
func (s *Store) Close() error {
	if s.stmts != nil {
		s.stmts.close()
	}
	return nil
}

// queryer is a *sql.DB or *sql.Tx.
type queryer interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction. The transaction holds a connection
// of its own, which appendRows reaches for the database's bulk load.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	s.noteTx(tx, func(n *txNotes) { n.conn = conn })
	if q := s.d.beginSQL(); q != "" {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			s.endTx(tx, false)
			return fmt.Errorf("begin: %w", err)
		}
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		s.endTx(tx, false)
		return err
	}
	if err := tx.Commit(); err != nil {
		s.endTx(tx, false)
		return fmt.Errorf("commit: %w", err)
	}
	s.endTx(tx, true)
	return nil
}

// txNotes is what an open transaction leaves for after its end.
type txNotes struct {
	keys    map[string]int64 // search-key ids it interned or read (see internKeys)
	bumped  bool             // it moved the catalog generation (see ownGen)
	dropped bool             // it dropped a reference to an entity (see ReferencesDropped)
	conn    *sql.Conn        // its connection (see inTx)
}

// noteTx changes tx's notes.
func (s *Store) noteTx(tx *sql.Tx, change func(*txNotes)) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	n := s.txs[tx]
	if n == nil {
		n = &txNotes{}
		s.txs[tx] = n
	}
	change(n)
}

// txConn returns the connection tx runs on (nil outside inTx).
func (s *Store) txConn(tx *sql.Tx) *sql.Conn {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if n := s.txs[tx]; n != nil {
		return n.conn
	}
	return nil
}

// endTx forgets tx's notes and, if it committed, acts on them: its key ids
// are cached and the generation it moved is counted.
func (s *Store) endTx(tx *sql.Tx, committed bool) {
	s.txMu.Lock()
	n := s.txs[tx]
	delete(s.txs, tx)
	s.txMu.Unlock()
	if n == nil || !committed {
		return
	}
	s.cacheKeys(n.keys)
	if n.bumped && s.ownGen {
		s.gen.Add(1)
	}
	if n.dropped {
		s.refsDropped.Store(true)
	}
}

// noteDroppedRef records that tx drops a reference to an entity, which may
// leave it an orphan.
func (s *Store) noteDroppedRef(tx *sql.Tx) {
	s.noteTx(tx, func(n *txNotes) { n.dropped = true })
}

// ReferencesDropped reports whether a write of this store that dropped a
// reference to an entity (a location or a provider no longer emitting it,
// its parent deleted) has committed since the last call, and true on the
// first. Only such a write makes orphans, and looking for them reads every
// entity (about 200 ms at 100,000 on PostgreSQL).
func (s *Store) ReferencesDropped() bool { return s.refsDropped.Swap(false) }

func (s *Store) exec(ctx context.Context, q queryer, query string, args ...any) error {
	if _, err := q.ExecContext(ctx, s.d.rebind(query), args...); err != nil {
		return fmt.Errorf("%w [%s]", err, firstLine(query))
	}
	return nil
}

func (s *Store) query(ctx context.Context, q queryer, query string, args ...any) (*sql.Rows, error) {
	if s.onRead != nil && q == s.r {
		s.onRead(s.d.rebind(query), args)
	}
	if s.onTxRead != nil && q != s.r {
		s.onTxRead(s.d.rebind(query), args)
	}
	var rows *sql.Rows
	var err error
	if q == s.r && s.stmts != nil {
		rows, err = s.stmts.query(ctx, s.d.rebind(query), args...)
	} else {
		rows, err = q.QueryContext(ctx, s.d.rebind(query), args...)
	}
	if err != nil {
		return nil, fmt.Errorf("%w [%s]", err, firstLine(query))
	}
	return rows, nil
}

// queryRow runs a one-row read on the read pool.
func (s *Store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.onRead != nil {
		s.onRead(s.d.rebind(query), args)
	}
	return s.readRow(ctx, s.d.rebind(query), args...)
}

// readRow runs a one-row read as sent on the read pool, through its
// prepared statement where the store keeps them.
func (s *Store) readRow(ctx context.Context, query string, args ...any) *sql.Row {
	if s.stmts != nil {
		return s.stmts.queryRow(ctx, query, args...)
	}
	return s.r.QueryRowContext(ctx, query, args...)
}

func firstLine(q string) string {
	q = strings.TrimSpace(q)
	if i := strings.IndexByte(q, '\n'); i >= 0 {
		q = q[:i]
	}
	if len(q) > 80 {
		q = q[:80]
	}
	return q
}

// ConcurrentWriters says whether write transactions run side by side
// (PostgreSQL), so that processing and stitching in several transactions
// at once gain anything; on SQLite they take turns.
func (s *Store) ConcurrentWriters() bool {
	_, ok := s.d.(postgresDialect)
	return ok
}

// deferFirstStitch reports whether an entity processed for the first time
// is queued for stitching rather than stitched in the transaction that
// writes it. In a first ingest most entities are stitched again once the
// entities pointing at them are processed, so a first stitch is mostly
// wasted: queued, it is done once, by the engine's stitching at the end of
// its round (processing.maxRoundTime at most), as Backstage's stitcher does
// apart from processing. On PostgreSQL this ingested 250,000 entities in
// 214 and 222 s against 251 to 262 s, with a quarter less CPU (rounds of
// six minutes instead of two gained nothing more); on SQLite's single
// writer the stitching then no longer overlaps processing and gained
// nothing, so there entities are stitched at once. Entities processed
// before (edits, refreshes) are always stitched at once.
func (s *Store) deferFirstStitch() bool { return s.ConcurrentWriters() }

// insertRows writes rows with multi-row statements: prefix is
// "INSERT INTO t (a, b)", suffix e.g. an ON CONFLICT clause. onReturn, when
// set, receives the RETURNING rows.
func (s *Store) insertRows(ctx context.Context, q queryer, prefix, suffix string, rows [][]any, onReturn func(*sql.Rows) error) error {
	if len(rows) == 0 {
		return nil
	}
	if s.d.jsonBatches() {
		return s.insertRowsJSON(ctx, q, prefix, suffix, rows, onReturn)
	}
	if cols, ok := arrayColumns(rows); ok {
		return s.insertRowsArrays(ctx, q, prefix, suffix, len(rows), cols, onReturn)
	}
	width := len(rows[0])
	per := max(1, s.d.maxArgs()/width)
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?,", width), ",") + ")"
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(len(rows), start+per)]
		var b strings.Builder
		b.WriteString(prefix)
		b.WriteString(" VALUES ")
		args := make([]any, 0, len(chunk)*width)
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(tuple)
			args = append(args, r...)
		}
		b.WriteByte(' ')
		b.WriteString(suffix)
		if err := s.runInsert(ctx, q, b.String(), args, onReturn); err != nil {
			return err
		}
	}
	return nil
}

// arrayRows bounds the rows of one statement of insertRowsArrays, so that
// the arrays of a large batch are encoded a part at a time.
const arrayRows = 10000

// insertRowsArrays is insertRows for PostgreSQL: one array argument per
// column, unnested into rows in their order. The text of the statement
// does not depend on the number of rows, so the driver prepares it once,
// and neither side handles a parameter per value: encoding tens of
// thousands of parameters took a sixth of the catalog's own CPU in an
// ingest, and parsing them a part of the database's.
func (s *Store) insertRowsArrays(ctx context.Context, q queryer, prefix, suffix string, n int, cols []columnArray, onReturn func(*sql.Rows) error) error {
	// A column of NULLs alone is written as NULL, which takes the type of
	// its table column (an array would need one).
	var sel, from strings.Builder
	var names []string
	for i, c := range cols {
		if i > 0 {
			sel.WriteString(", ")
		}
		if c.values == nil {
			sel.WriteString("NULL")
			continue
		}
		name := "c" + strconv.Itoa(i)
		sel.WriteString("u." + name)
		if len(names) > 0 {
			from.WriteString(", ")
		}
		from.WriteString("?::" + c.cast)
		names = append(names, name)
	}
	query := prefix + " SELECT " + sel.String() + " FROM unnest(" + from.String() + ") AS u(" + strings.Join(names, ", ") + ") " + suffix
	for start := 0; start < n; start += arrayRows {
		end := min(n, start+arrayRows)
		args := make([]any, 0, len(names))
		for _, c := range cols {
			if c.values != nil {
				args = append(args, c.slice(start, end))
			}
		}
		if err := s.runInsert(ctx, q, query, args, onReturn); err != nil {
			return err
		}
	}
	return nil
}

// columnArray is one column of rows as a typed slice the driver encodes
// as an array ([]int64, []*int64, []string or []*string), and its cast;
// values is nil for a column of NULLs alone.
type columnArray struct {
	cast   string
	values any
}

func (c columnArray) slice(start, end int) any {
	switch v := c.values.(type) {
	case []int64:
		return v[start:end]
	case []*int64:
		return v[start:end]
	case []string:
		return v[start:end]
	default:
		return v.([]*string)[start:end]
	}
}

// arrayColumns splits rows into typed columns, or says the rows hold
// values it does not type (insertRows then sends them as parameters). A
// column of integers is bigint, one of strings (or string pointers) text;
// nil is NULL in either.
func arrayColumns(rows [][]any) ([]columnArray, bool) {
	width := len(rows[0])
	cols := make([]columnArray, width)
	typed := false
	for j := range width {
		isInt, isText, hasNull := false, false, false
		for _, r := range rows {
			if len(r) != width {
				return nil, false
			}
			switch v := r[j].(type) {
			case nil:
				hasNull = true
			case int64, int:
				isInt = true
			case string:
				isText = true
			case *string:
				isText = true
				hasNull = hasNull || v == nil
			default:
				return nil, false
			}
		}
		switch {
		case isInt && isText:
			return nil, false
		case isInt:
			cols[j] = columnArray{"bigint[]", intColumn(rows, j, hasNull)}
		case isText:
			cols[j] = columnArray{"text[]", textColumn(rows, j, hasNull)}
		default:
			continue
		}
		typed = true
	}
	return cols, typed
}

// intColumn is column j of rows, integers or nil, as []int64 or, with
// NULLs, []*int64.
func intColumn(rows [][]any, j int, hasNull bool) any {
	num := func(v any) int64 {
		if n, ok := v.(int); ok {
			return int64(n)
		}
		return v.(int64)
	}
	if !hasNull {
		out := make([]int64, len(rows))
		for i, r := range rows {
			out[i] = num(r[j])
		}
		return out
	}
	out := make([]*int64, len(rows))
	for i, r := range rows {
		if r[j] != nil {
			n := num(r[j])
			out[i] = &n
		}
	}
	return out
}

// textColumn is column j of rows, strings, string pointers or nil, as
// []string or, with NULLs, []*string.
func textColumn(rows [][]any, j int, hasNull bool) any {
	if !hasNull {
		out := make([]string, len(rows))
		for i, r := range rows {
			if p, ok := r[j].(*string); ok {
				out[i] = *p
			} else {
				out[i] = r[j].(string)
			}
		}
		return out
	}
	out := make([]*string, len(rows))
	for i, r := range rows {
		switch v := r[j].(type) {
		case string:
			out[i] = &v
		case *string:
			out[i] = v
		}
	}
	return out
}

// jsonChunkBytes bounds the JSON argument of one SQLite bulk statement, so
// that the encoded batch and SQLite's parse of it stay small in memory.
const jsonChunkBytes = 4 << 20

// insertRowsJSON is insertRows for SQLite: all rows travel as one JSON array
// of arrays in a single argument and are unpacked by json_each. Binding one
// argument is cheap, and one statement per table and batch means SQLite
// copies each touched page into its statement journal once instead of once
// per small statement.
func (s *Store) insertRowsJSON(ctx context.Context, q queryer, prefix, suffix string, rows [][]any, onReturn func(*sql.Rows) error) error {
	return s.sendJSONRows(ctx, q, s.jsonInsert(prefix, suffix, len(rows[0])), rows, onReturn)
}

// jsonInsert is the statement insertRowsJSON runs: prefix fed from the
// rows of one JSON array argument.
func (s *Store) jsonInsert(prefix, suffix string, width int) string {
	var sel strings.Builder
	sel.WriteString(prefix)
	sel.WriteString(" SELECT ")
	for i := range width {
		if i > 0 {
			sel.WriteByte(',')
		}
		fmt.Fprintf(&sel, "value->>%d", i)
	}
	// jsonb_each hands each row over as a JSONB blob, which ->> reads
	// without parsing text again. "WHERE true" keeps ON CONFLICT from parsing as a join constraint.
	sel.WriteString(" FROM jsonb_each(?) WHERE true ")
	sel.WriteString(suffix)
	return sel.String()
}

// stageWidth is the number of columns of the staging table.
const stageWidth = 8

// appendRows is insertRows for large appends to a table without foreign
// keys (search, relations) in a transaction of inTx.
//
// On PostgreSQL the rows go through COPY: the server then writes the new
// table rows a page at a time, one log record per page instead of one per
// row (index entries still go one by one), and nothing is encoded as
// arrays and unnested.
//
// On a SQLite file, a statement that may fail half-way in a transaction
// first copies every page it is about to change into a statement journal,
// so that it can be undone alone; a statement calling any function (->>
// here) counts as one. Into a big index, that copy was a quarter of ingest
// time at 100,000 entities. The rows are therefore unpacked into a
// temporary table first, and moved from there by an INSERT that calls no
// function and, with OR ROLLBACK, undoes the whole transaction on a
// violated constraint instead of only itself: SQLite then journals nothing
// but the small staging table. Callers run in inTx, which rolls back on
// any error anyway.
func (s *Store) appendRows(ctx context.Context, tx *sql.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if conn := s.txConn(tx); conn != nil {
		copied, err := s.d.copyRows(ctx, conn, table, cols, rows)
		if err != nil {
			return fmt.Errorf("copy into %s: %w", table, err)
		}
		if copied {
			return nil
		}
	}
	if !s.stage || len(cols) > stageWidth {
		return s.insertRows(ctx, tx, "INSERT INTO "+table+" ("+strings.Join(cols, ", ")+")", "", rows, nil)
	}
	stage := make([]string, len(cols))
	for i := range cols {
		stage[i] = "c" + strconv.Itoa(i)
	}
	if err := s.exec(ctx, tx, "CREATE TEMP TABLE IF NOT EXISTS bulk_stage (c0, c1, c2, c3, c4, c5, c6, c7)"); err != nil {
		return err
	}
	fill := s.jsonInsert("INSERT INTO temp.bulk_stage ("+strings.Join(stage, ", ")+")", "", len(cols))
	if err := s.sendJSONRows(ctx, tx, fill, rows, nil); err != nil {
		return err
	}
	if err := s.exec(ctx, tx, "INSERT OR ROLLBACK INTO "+table+" ("+strings.Join(cols, ", ")+") SELECT "+strings.Join(stage, ", ")+" FROM temp.bulk_stage ORDER BY rowid"); err != nil {
		return err
	}
	return s.exec(ctx, tx, "DELETE FROM temp.bulk_stage")
}

// sendJSONRows runs query, whose one argument is a JSON array of rows, for
// rows in chunks of about jsonChunkBytes.
func (s *Store) sendJSONRows(ctx context.Context, q queryer, query string, rows [][]any, onReturn func(*sql.Rows) error) error {
	// Encoding is Go work on independent rows; done on all cores it takes
	// less of the time this transaction holds the (only) writer. Rows are
	// encoded a group at a time so that only one group exists twice.
	const group = 1024
	parts := make([][]byte, group)
	errs := make([]error, group)
	buf := make([]byte, 0, 64<<10)
	for start := 0; start < len(rows); {
		buf = append(buf[:0], '[')
		end := start
		for end < len(rows) && (end == start || len(buf) < jsonChunkBytes) {
			n := min(group, len(rows)-end)
			parallel(n, func(i int) {
				parts[i], errs[i] = appendJSONRow(parts[i][:0], rows[end+i])
			})
			if err := errors.Join(errs[:n]...); err != nil {
				return err
			}
			for i, p := range parts[:n] {
				if end+i > start {
					buf = append(buf, ',')
				}
				buf = append(buf, p...)
			}
			end += n
		}
		buf = append(buf, ']')
		if err := s.runInsert(ctx, q, query, []any{string(buf)}, onReturn); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func (s *Store) runInsert(ctx context.Context, q queryer, query string, args []any, onReturn func(*sql.Rows) error) error {
	if onReturn == nil {
		return s.exec(ctx, q, query, args...)
	}
	rs, err := s.query(ctx, q, query, args...)
	if err != nil {
		return err
	}
	for rs.Next() {
		if err := onReturn(rs); err != nil {
			rs.Close()
			return err
		}
	}
	if err := rs.Close(); err != nil {
		return err
	}
	return rs.Err()
}

// appendJSONRow encodes one row of scalar arguments as a JSON array.
func appendJSONRow(b []byte, row []any) ([]byte, error) {
	b = append(b, '[')
	for i, v := range row {
		if i > 0 {
			b = append(b, ',')
		}
		switch v := v.(type) {
		case nil:
			b = append(b, "null"...)
		case string:
			b = appendJSONString(b, v)
		case *string:
			if v == nil {
				b = append(b, "null"...)
			} else {
				b = appendJSONString(b, *v)
			}
		case []byte:
			b = appendJSONString(b, string(v))
		case int64:
			b = strconv.AppendInt(b, v, 10)
		case int:
			b = strconv.AppendInt(b, int64(v), 10)
		case bool:
			b = strconv.AppendBool(b, v)
		default:
			return nil, fmt.Errorf("sqlstore: cannot bulk-insert %T", v)
		}
	}
	return append(b, ']'), nil
}

// appendJSONString quotes s for SQLite's JSON parser, which takes UTF-8 as is.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\t':
			b = append(b, '\\', 't')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// inList renders "(?,?,…)" for n values.
func inList(n int) string {
	return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

// in renders an IN list for vals with its arguments (dialect.inList).
func (s *Store) in(vals []string) (string, []any) { return s.d.inList(vals) }

// inInts is in for integer values (eids).
func (s *Store) inInts(vals []int64) (string, []any) { return s.d.inInts(vals) }

// chunk is how many values one IN list (from in) takes.
func (s *Store) chunk() int {
	return 10000
}

// chunks splits values so that each IN list stays well under the argument limit.
func chunks[T any](vs []T, size int) [][]T {
	var out [][]T
	for len(vs) > size {
		out = append(out, vs[:size])
		vs = vs[size:]
	}
	if len(vs) > 0 {
		out = append(out, vs)
	}
	return out
}

func anySlice[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// bumpGeneration marks that stitched data changed. Run it last in a
// transaction: on PostgreSQL the row lock is held until commit.
func (s *Store) bumpGeneration(ctx context.Context, tx *sql.Tx) error {
	if s.ownGen {
		s.noteTx(tx, func(n *txNotes) { n.bumped = true })
	}
	return s.exec(ctx, tx, `UPDATE catalog_generation SET generation = generation + 1 WHERE id = 1`)
}

// generation is the catalog generation the result cache is keyed by.
func (s *Store) generation(ctx context.Context) (int64, error) {
	if s.ownGen {
		return s.gen.Load(), nil
	}
	var gen int64
	if err := s.readRow(ctx, `SELECT generation FROM catalog_generation WHERE id = 1`).Scan(&gen); err != nil {
		return 0, fmt.Errorf("read generation: %w", err)
	}
	return gen, nil
}

// cached answers from the result cache when the catalog generation has not
// moved since the value was computed. The generation lives in the database,
// so a write by any replica invalidates every replica's cache.
func (s *Store) cached(ctx context.Context, key string, compute func() (any, error)) (any, error) {
	return s.cachedSized(ctx, key, func() (any, int, error) {
		v, err := compute()
		return v, 0, err
	})
}

// cachedSized is cached for values whose size in bytes compute reports
// besides the value (0 for small ones): the cache keeps at most
// maxCacheBytes of them.
func (s *Store) cachedSized(ctx context.Context, key string, compute func() (any, int, error)) (any, error) {
	// One large page would push out everything else.
	return s.cachedUpTo(ctx, key, maxCacheBytes/8, compute)
}

// cachedUpTo is cachedSized keeping values of at most maxEntry bytes.
func (s *Store) cachedUpTo(ctx context.Context, key string, maxEntry int, compute func() (any, int, error)) (any, error) {
	gen, err := s.generation(ctx)
	if err != nil {
		return nil, err
	}
	s.cacheMu.Lock()
	if s.cacheGen == gen {
		if v, ok := s.cache[key]; ok {
			s.cacheMu.Unlock()
			return v, nil
		}
	}
	s.cacheMu.Unlock()
	v, size, err := compute()
	if err != nil {
		return nil, err
	}
	size += len(key)
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.cacheGen != gen {
		if gen < s.cacheGen {
			return v, nil // computed from an older snapshot than the cache holds
		}
		s.cacheGen = gen
		s.cache, s.cacheBytes = map[string]any{}, 0
	}
	if size > maxEntry {
		return v, nil
	}
	if len(s.cache) >= 512 || s.cacheBytes+size > maxCacheBytes {
		s.cache, s.cacheBytes = map[string]any{}, 0 // crude bound; the working set is small
	}
	s.cache[key] = v
	s.cacheBytes += size
	return v, nil
}

// maxCacheBytes bounds the result cache's keys and reported value sizes.
const maxCacheBytes = 16 << 20

func cacheKey(kind, q string, args []any) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(0)
	b.WriteString(q)
	// Go syntax quotes strings, so that no argument can end early (the
	// key holds pages of entities that one caller's filter, a permission
	// condition among them, lets it see).
	for _, a := range args {
		fmt.Fprintf(&b, "\x00%#v", a)
	}
	return b.String()
}

var _ catalog.Store = (*Store)(nil)
