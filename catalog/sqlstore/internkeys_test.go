package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"testing"
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
			intern(true, "spec.gone")
			if stored("spec.gone") != 0 {
				t.Fatal("a rolled-back key is stored")
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
