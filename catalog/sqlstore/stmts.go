package sqlstore

import (
	"context"
	"database/sql"
	"sync"
)

// maxStmts bounds the prepared statements a stmtCache keeps: filters shape
// the SQL of reads, so the texts are not a fixed set.
const maxStmts = 256

// stmtCache keeps the read pool's statements prepared on SQLite, whose
// driver otherwise parses and plans every query again, a large part of a
// cached or small read. (pgx keeps its own statement cache on PostgreSQL.)
type stmtCache struct {
	db *sql.DB
	// mu is held for reading from a lookup until the query has started,
	// after which database/sql keeps a closed statement alive for its rows;
	// a reset takes it for writing to close the statements.
	mu    sync.RWMutex
	stmts map[string]*sql.Stmt
	add   sync.Mutex // serialises preparing and adding
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}}
}

// query runs query on the read pool through its prepared statement.
func (c *stmtCache) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.acquire(ctx, query)
	if err != nil {
		return nil, err
	}
	defer c.mu.RUnlock()
	return st.QueryContext(ctx, args...)
}

// queryRow is query for one row.
func (c *stmtCache) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.acquire(ctx, query)
	if err != nil {
		// A failed prepare reports its error through the row, as
		// QueryRowContext would.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	defer c.mu.RUnlock()
	return st.QueryRowContext(ctx, args...)
}

// acquire returns query's statement with mu read-locked.
func (c *stmtCache) acquire(ctx context.Context, query string) (*sql.Stmt, error) {
	for {
		c.mu.RLock()
		if st, ok := c.stmts[query]; ok {
			return st, nil
		}
		c.mu.RUnlock()
		if err := c.prepare(ctx, query); err != nil {
			return nil, err
		}
		// Look again: a reset may have come between adding and locking.
	}
}

func (c *stmtCache) prepare(ctx context.Context, query string) error {
	c.add.Lock()
	defer c.add.Unlock()
	c.mu.RLock()
	_, ok := c.stmts[query]
	c.mu.RUnlock()
	if ok {
		return nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.stmts) >= maxStmts {
		c.closeLocked()
	}
	c.stmts[query] = st
	return nil
}

func (c *stmtCache) closeLocked() {
	for _, st := range c.stmts {
		_ = st.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
}

// close closes every statement.
func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked()
}
