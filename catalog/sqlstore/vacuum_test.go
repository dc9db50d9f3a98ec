package sqlstore_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// TestSelfVacuum: on a PostgreSQL whose autovacuum is off, processing and
// stitching leave dead rows in refresh_state and the stitch queue that the
// store itself vacuums away; without that, every claim walks them again.
func TestSelfVacuum(t *testing.T) {
	ctx := context.Background()
	o := databasetest.PG(t)
	o.PluginID, o.Logger = "catalog", quietLogger()
	pg, err := database.Open(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	st, err := sqlstore.New(ctx, pg, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	check := sqlstore.ForceSelfVacuum(st)
	var ds []catalog.DeferredEntity
	for i := range 300 {
		ds = append(ds, catalog.DeferredEntity{Entity: storetest.Entity("Component", fmt.Sprintf("c%d", i), nil), LocationKey: "url:https://example.com/a.yaml"})
	}
	if err := st.ApplyFullMutation(ctx, storetest.Provider, ds); err != nil {
		t.Fatal(err)
	}
	storetest.Process(t, st, nil, nil)
	db := pg.Read.DB
	vacuumed := func(table string) (bool, int64) {
		var last sql.NullTime
		var dead int64
		if err := db.QueryRowContext(ctx, `SELECT last_vacuum, n_dead_tup FROM pg_stat_user_tables WHERE relname = $1 AND schemaname = current_schema()`, table).Scan(&last, &dead); err != nil {
			t.Fatal(err)
		}
		return last.Valid, dead
	}
	// The table statistics reach pg_stat_user_tables a little after the
	// writes commit; the check runs until they show and the store acts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		check(ctx)
		rs, _ := vacuumed("refresh_state")
		sq, _ := vacuumed("stitch_queue")
		if rs && sq {
			break
		}
		if time.Now().After(deadline) {
			_, rsDead := vacuumed("refresh_state")
			_, sqDead := vacuumed("stitch_queue")
			t.Fatalf("not vacuumed after 30 s: refresh_state %v (%d dead rows), stitch_queue %v (%d dead rows)", rs, rsDead, sq, sqDead)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if _, dead := vacuumed("stitch_queue"); dead > 50 {
		t.Errorf("stitch_queue still has %d dead rows after its vacuum", dead)
	}
}
