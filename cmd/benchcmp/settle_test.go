package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestSettle: the reads wait while understage's gauges show work due or
// queued, and not at all for a server without them (the oracle) or
// without /metrics.
func TestSettle(t *testing.T) {
	for _, c := range []struct {
		name  string
		pages []string // /metrics bodies, in order; the last repeats
		asked int      // /metrics requests settle makes
	}{
		{"settled", []string{"catalog_processing_queue_length 0\ncatalog_stitching_queue_length 0\n"}, 1},
		{"stitching, then settled", []string{
			"catalog_processing_queue_length 0\ncatalog_stitching_queue_length 12\n",
			"catalog_processing_queue_length 3\ncatalog_stitching_queue_length 0\n",
			"# HELP x\ncatalog_processing_queue_length 0\ncatalog_stitching_queue_length 0\n",
		}, 3},
		{"no gauges", []string{"process_cpu_seconds_total 3\n"}, 1},
		{"no metrics", nil, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			var asked atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(asked.Add(1))
				if r.URL.Path != "/metrics" || c.pages == nil {
					http.NotFound(w, r)
					return
				}
				fmt.Fprint(w, c.pages[min(n, len(c.pages))-1])
			}))
			defer srv.Close()
			settle(srv.URL, time.Minute)
			if got := int(asked.Load()); got != c.asked {
				t.Errorf("/metrics asked %d times, want %d", got, c.asked)
			}
		})
	}
}

// TestSettleGivesUp: a server whose queue never empties is measured after
// the limit.
func TestSettleGivesUp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "catalog_processing_queue_length 5\ncatalog_stitching_queue_length 0\n")
	}))
	defer srv.Close()
	done := make(chan struct{})
	go func() {
		settle(srv.URL, 1500*time.Millisecond)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("settle did not give up after its limit")
	}
}

// TestWorkWatch: the ingest ends at the last scrape that saw understage's
// counters move, reported only once they have stood still for the quiet
// time and the gauges show nothing left; a server without them (the
// oracle) is never reported idle by it.
func TestWorkWatch(t *testing.T) {
	var scrapes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(w, r)
			return
		}
		n := min(int(scrapes.Add(1)), 4) // the counters move for four scrapes
		queued := 0
		if n < 4 {
			queued = 7
		}
		fmt.Fprintf(w, "# TYPE x counter\ncatalog_processed_entities_count_total{result=\"changed\"} %d\ncatalog_processed_entities_count_total{result=\"unchanged\"} 1\ncatalog_stitched_entities_count_total %d\ncatalog_processing_queue_length 0\ncatalog_stitching_queue_length %d\n", 10*n, n, queued)
	}))
	defer srv.Close()
	w := workWatch{quiet: time.Second}
	var before, after time.Time // around the scrape with the last move
	for i := 0; i < 4; i++ {
		before = time.Now()
		w.poll(srv.URL, 0)
		after = time.Now()
		if _, ok := w.idleSince(); ok && i < 3 {
			t.Fatalf("scrape %d: idle while the counters move", i+1)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		w.poll(srv.URL, 0)
		if m, ok := w.idleSince(); ok {
			if m.at.Before(before) || m.at.After(after) {
				t.Fatalf("ingest ended at %s, not at the last move (between %s and %s)", m.at, before, after)
			}
			if since := time.Since(m.at); since < w.quiet {
				t.Fatalf("reported idle %s after the last move, before the quiet time", since)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never reported idle")
		}
		time.Sleep(50 * time.Millisecond)
	}

	oracle := httptest.NewServer(http.NotFoundHandler())
	defer oracle.Close()
	var o workWatch
	o.poll(oracle.URL, 0)
	if _, ok := o.idleSince(); ok || o.seen {
		t.Fatal("a server without the counters was watched")
	}
}
