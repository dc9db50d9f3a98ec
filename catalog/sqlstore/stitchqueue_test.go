package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/storetest"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestQueueStitchRewritesOnlyClaimedRows checks the stitch queue's upsert:
// a ref queued again while it waits is left as it is (in a first ingest
// every batch queues the same owners again, and each rewrite was a new row
// version with its index entries), while a ref queued again during a
// stitch in flight gets a fresh ticket and comes due, so that the stitch's
// delete by its own ticket leaves it queued.
func TestQueueStitchRewritesOnlyClaimedRows(t *testing.T) {
	for _, k := range probeDatabases(true) {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			_, s := openProbeStore(t, k.open(t))
			const ref = "group:default/owners"
			queue := func(now int64) {
				t.Helper()
				if err := s.inTx(ctx, func(tx *sql.Tx) error {
					return s.queueStitch(ctx, tx, map[string]bool{ref: true}, now)
				}); err != nil {
					t.Fatal(err)
				}
			}
			row := func() (ticket string, at int64, found bool) {
				t.Helper()
				err := s.w.QueryRowContext(ctx, s.d.rebind(`SELECT stitch_ticket, next_stitch_at FROM stitch_queue WHERE entity_ref = ?`), ref).Scan(&ticket, &at)
				if err == sql.ErrNoRows {
					return "", 0, false
				}
				if err != nil {
					t.Fatal(err)
				}
				return ticket, at, true
			}
			now := time.Now().UnixMilli()
			queue(now)
			first, firstAt, _ := row()
			queue(now + 1000)
			if ticket, at, _ := row(); ticket != first || at != firstAt {
				t.Errorf("a waiting row queued again was rewritten: ticket %s at %d, was %s at %d", ticket, at, first, firstAt)
			}
			// A stitch claims it: its lease is in the future.
			var claimed []string
			if err := s.inTx(ctx, func(tx *sql.Tx) (err error) {
				claimed, err = s.selectStringsRaw(ctx, tx, s.d.claimStitchSQL(), now+60_000, "in-flight", now+2000, 10)
				return err
			}); err != nil || len(claimed) != 1 {
				t.Fatalf("claim: %v %v", claimed, err)
			}
			queue(now + 3000)
			ticket, at, _ := row()
			if ticket == "in-flight" || at != now+3000 {
				t.Errorf("a claimed row queued again: ticket %s at %d, want a fresh ticket at %d", ticket, at, now+3000)
			}
			// The stitch ends and deletes its rows by its ticket.
			if err := s.inTx(ctx, func(tx *sql.Tx) error {
				return s.exec(ctx, tx, `DELETE FROM stitch_queue WHERE stitch_ticket = ? AND entity_ref = ?`, "in-flight", ref)
			}); err != nil {
				t.Fatal(err)
			}
			if _, _, found := row(); !found {
				t.Error("a ref queued again during its stitch left the queue with it")
			}
		})
	}
}

// TestInlineStitchKeepsRequeuedRow checks the other side on PostgreSQL: an
// entity stitched in the transaction that writes its processing result
// first claims its waiting queue row, so that another writer queueing it
// again meanwhile (a peer changed after the stitch read its inputs) leaves
// it queued instead of having its request dropped with the row.
func TestInlineStitchKeepsRequeuedRow(t *testing.T) {
	ctx := context.Background()
	_, s := openProbeStore(t, databasetest.PG(t))
	const ref = "component:default/svc"
	storetest.Seed(t, s, storetest.Entity("Component", "svc", ojson.NewObject("type", "service", "owner", "group:default/team")))
	queue := func() error {
		return s.inTx(ctx, func(tx *sql.Tx) error {
			return s.queueStitch(ctx, tx, map[string]bool{ref: true}, time.Now().UnixMilli())
		})
	}
	// A peer's earlier write queued it; then it is refreshed and processed.
	if err := queue(); err != nil {
		t.Fatal(err)
	}
	if err := s.RequestRefresh(ctx, ref); err != nil {
		t.Fatal(err)
	}
	items, err := s.ClaimDue(ctx, 10, func() time.Time { return time.Now().Add(time.Hour) })
	if err != nil || len(items) != 1 {
		t.Fatalf("claim: %d items, %v", len(items), err)
	}
	e, err := ojson.DecodeObject(items[0].Unprocessed)
	if err != nil {
		t.Fatal(err)
	}
	e.Object("metadata").Set("description", "changed")
	res := catalog.ProcessingResult{EntityID: items[0].EntityID, EntityRef: ref, Ok: true, Processed: e, ResultHash: "changed"}
	// Once the write has taken the queue row, another writer queues the
	// entity again; the write goes on when that one has ended, or after
	// two seconds if it waits for the write.
	var took, requeued bool
	second := make(chan error, 1)
	SetTxReadHook(s, func(q string, _ []any) {
		switch {
		case !took && strings.Contains(q, "stitch_queue") && strings.Contains(q, "stitch_ticket") && !strings.HasPrefix(q, "DELETE") && !strings.HasPrefix(q, "INSERT"):
			took = true
		case took && !requeued:
			requeued = true
			go func() { second <- queue() }()
			select {
			case err := <-second:
				second <- err
			case <-time.After(2 * time.Second):
			}
		}
	})
	if err := s.CompleteProcessing(ctx, []catalog.ProcessingResult{res}); err != nil {
		t.Fatal(err)
	}
	SetTxReadHook(s, nil)
	if !requeued {
		t.Fatal("the write read nothing after taking the queue row")
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.w.QueryRowContext(ctx, s.d.rebind(`SELECT count(*) FROM stitch_queue WHERE entity_ref = ?`), ref).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Error("the entity, queued again during its stitch, is no longer queued")
	}
}
