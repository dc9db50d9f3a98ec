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
