package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// TestInternKeysCache checks that interned key ids are cached only once
// their transaction commits: SQLite hands the id of a rolled-back row to
// the next key inserted, so a cached id of a rolled-back key would send
// that key's rows (and filters) to another key.
func TestInternKeysCache(t *testing.T) {
	for _, k := range probeDatabases(true) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			_, s := openProbeStore(t, k.open(t))
			intern := func(fail bool, names ...string) map[string]int64 {
				t.Helper()
				keys := map[string]int64{}
				for _, n := range names {
					keys[n] = 0
				}
				boom := errors.New("boom")
				err := s.inTx(ctx, func(tx *sql.Tx) error {
					if err := s.internKeys(ctx, tx, keys); err != nil {
						return err
					}
					if fail {
						return boom
					}
					return nil
				})
				if fail != errors.Is(err, boom) {
					t.Fatalf("intern %v: %v", names, err)
				}
				return keys
			}
			stored := func(key string) int64 {
				t.Helper()
				var id int64
				err := s.w.QueryRowContext(ctx, s.d.rebind(`SELECT id FROM search_keys WHERE key = ?`), key).Scan(&id)
				if errors.Is(err, sql.ErrNoRows) {
					return 0
				}
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			// On SQLite the key goes with its transaction; where writers run
			// side by side it is committed apart from it (addKeys).
			intern(true, "spec.gone")
			if kept := stored("spec.gone") != 0; kept != s.ConcurrentWriters() {
				t.Fatalf("a rolled-back transaction's key stored: %v", kept)
			}
			got := intern(false, "spec.kept", "kind")
			for _, key := range []string{"spec.kept", "kind"} {
				if got[key] == 0 || got[key] != stored(key) {
					t.Errorf("%s: interned as %d, stored as %d", key, got[key], stored(key))
				}
			}
			// The rolled-back key, interned again, gets the id the table
			// gives it, from the cache or not; so does the committed one.
			again := intern(false, "spec.gone", "spec.kept")
			for _, key := range []string{"spec.gone", "spec.kept"} {
				if again[key] == 0 || again[key] != stored(key) {
					t.Errorf("%s: interned again as %d, stored as %d", key, again[key], stored(key))
				}
			}
			s.keyMu.Lock()
			_, gone := s.keyCache["spec.gone"]
			kept := s.keyCache["spec.kept"]
			s.keyMu.Unlock()
			s.txMu.Lock()
			open := len(s.txs)
			s.txMu.Unlock()
			if !gone || kept != stored("spec.kept") {
				t.Errorf("cache after commits: spec.gone cached %v, spec.kept %d (stored %d)", gone, kept, stored("spec.kept"))
			}
			if open != 0 {
				t.Errorf("%d transactions' keys left after they ended", open)
			}
		})
	}
}

// TestInternKeysBesideAnOpenWriter checks that a writer adding a search key
// another open write transaction has just added is not held until that one
// ends: both stitchers of a PostgreSQL ingest add keys such as
// spec.dependsOn.<ref> that are new with most entities, and one waited on
// the other's row for seconds at a time. Both get the key's one id.
func TestInternKeysBesideAnOpenWriter(t *testing.T) {
	ctx := context.Background()
	_, s := openProbeStore(t, databasetest.PG(t))
	added := make(chan map[string]int64, 1)
	second := make(chan error, 1)
	var keys map[string]int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		first := map[string]int64{"spec.dependson.component:a": 0, "metadata.tags.x": 0}
		if err := s.internKeys(ctx, tx, first); err != nil {
			return err
		}
		added <- first
		go func() {
			keys = map[string]int64{"spec.dependson.component:a": 0, "spec.other": 0}
			second <- s.inTx(ctx, func(tx *sql.Tx) error { return s.internKeys(ctx, tx, keys) })
		}()
		// This transaction stays open until the second has ended, or gives
		// up after a minute, which the second then waited for.
		select {
		case err := <-second:
			second <- err
			return nil
		case <-time.After(time.Minute):
			return errors.New("the second writer was still waiting after a minute")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	first := <-added
	if k := "spec.dependson.component:a"; keys[k] == 0 || keys[k] != first[k] {
		t.Errorf("%s: %d in the second writer, %d in the first", k, keys[k], first[k])
	}
	if keys["spec.other"] == 0 {
		t.Error("spec.other has no id")
	}
}
