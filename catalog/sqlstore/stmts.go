package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the prepared statements a stmtCache keeps: filters shape
// the SQL of reads, so the texts are not a fixed set.
const maxStmts = 256

// maxSeen bounds the texts a stmtCache remembers having run once.
const maxSeen = 1024

// stmtCache keeps the read pool's statements prepared on SQLite, whose
// driver otherwise parses and plans every query again, a large part of a
// cached or small read. (pgx keeps its own statement cache on PostgreSQL.)
//
// No lock is held while a query waits for a connection: a statement in use
// counts its users, and one dropped from the cache is closed by its last
// user once its query has started (database/sql then keeps it alive for
// the rows).
//
// A text is prepared the second time it runs: one that runs once (an IN
// list of an unusual length) would cost a prepare on top of its query.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*cachedStmt
	seen  map[string]bool // texts run once, unprepared
}

type cachedStmt struct {
	st      *sql.Stmt
	users   int  // guarded by stmtCache.mu
	dropped bool // no longer in the cache: the last user closes it
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*cachedStmt{}, seen: map[string]bool{}}
}

// query runs query on the read pool through its prepared statement.
func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	cs, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.db.QueryContext(ctx, query, args...)
	}
	defer c.release(cs)
	return cs.st.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	cs, err := c.acquire(ctx, query)
	if err != nil || cs == nil {
		// A failed prepare reports its error through the row, as
		// QueryRowContext would.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	defer c.release(cs)
	return cs.st.QueryRowContext(ctx, args...)
}

// acquire returns query's statement, prepared if it was not, counted as
// used until release; nil the first time a text runs.
func (c *stmtCache) acquire(ctx context.Context, query string) (*cachedStmt, error) {
	c.mu.Lock()
	if cs, ok := c.stmts[query]; ok {
		cs.users++
		c.mu.Unlock()
		return cs, nil
	}
	if !c.seen[query] {
		if len(c.seen) >= maxSeen {
			c.seen = map[string]bool{}
		}
		c.seen[query] = true
		c.mu.Unlock()
		return nil, nil
	}
	c.mu.Unlock()
	// Prepared outside the lock: two callers may prepare the same text,
	// and the second keeps the first's.
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cs, ok := c.stmts[query]; ok {
		_ = st.Close()
		cs.users++
		return cs, nil
	}
	if len(c.stmts) >= maxStmts {
		c.dropAllLocked()
	}
	cs := &cachedStmt{st: st, users: 1}
	c.stmts[query] = cs
	delete(c.seen, query)
	return cs, nil
}

func (c *stmtCache) release(cs *cachedStmt) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs.users--
	if cs.dropped && cs.users == 0 {
		_ = cs.st.Close()
	}
}

func (c *stmtCache) dropAllLocked() {
	for _, cs := range c.stmts {
		cs.dropped = true
		if cs.users == 0 {
			_ = cs.st.Close()
		}
	}
	c.stmts = map[string]*cachedStmt{}
}

// close closes every statement not in use, and the others when their
// queries have started.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropAllLocked()
}
