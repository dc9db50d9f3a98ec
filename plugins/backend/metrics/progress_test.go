package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
)

// TestProgress: a backlog seen at two ticks in a row gets progress lines
// with the counts, its end one "caught up" line; a backlog drained by the
// next tick and an idle catalog log nothing.
func TestProgress(t *testing.T) {
	snap := func(stitched, known, due, stitch int64) catalog.Stats {
		return catalog.Stats{EntitiesByKind: map[string]int64{"component": stitched}, Entities: known, ProcessingDue: due, StitchQueue: stitch}
	}
	seq := []catalog.Stats{
		snap(0, 0, 0, 0),         // idle
		snap(10, 10, 5, 0),       // a blip: drained by the next tick
		snap(15, 15, 0, 0),       // idle
		snap(20, 1000, 900, 10),  // an ingestion starts
		snap(400, 1000, 500, 50), // still going: progress
		snap(900, 1000, 0, 20),   // stitching the rest: progress
		snap(1000, 1000, 0, 0),   // caught up
		snap(1000, 1000, 0, 0),   // idle
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	i := 0
	stats := func(context.Context) (catalog.Stats, error) {
		if i == len(seq) {
			cancel()
			return catalog.Stats{}, ctx.Err()
		}
		i++
		return seq[i-1], nil
	}
	var buf bytes.Buffer
	Progress(ctx, slog.New(slog.NewJSONHandler(&buf, nil)), stats, time.Millisecond)

	type line struct {
		Msg           string
		Entities      int64
		Known         int64
		ProcessingDue int64
		StitchQueue   int64
	}
	var got []line
	for _, b := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got = append(got, l)
	}
	want := []line{
		{"catalog processing progress", 400, 1000, 500, 50},
		{"catalog processing progress", 900, 1000, 0, 20},
		{"catalog processing caught up", 1000, 1000, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("lines %+v, want %+v", got, want)
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("line %d: %+v, want %+v", k, got[k], want[k])
		}
	}
}

// TestProgressWait: counts that take a fiftieth of the interval or less
// keep the interval; slower ones push the next line out to fifty times
// their time.
func TestProgressWait(t *testing.T) {
	for _, c := range []struct {
		interval, took, want time.Duration
	}{
		{10 * time.Second, 0, 10 * time.Second},
		{10 * time.Second, 20 * time.Millisecond, 10 * time.Second},
		{10 * time.Second, 200 * time.Millisecond, 10 * time.Second},
		{10 * time.Second, 500 * time.Millisecond, 25 * time.Second},
		{10 * time.Second, 2 * time.Second, 100 * time.Second},
	} {
		if got := progressWait(c.interval, c.took); got != c.want {
			t.Errorf("progressWait(%s, %s) = %s, want %s", c.interval, c.took, got, c.want)
		}
	}
}
