package metrics

import (
	"context"
	"log/slog"
	"time"

	"github.com/understage/understage/catalog"
)

// Progress logs the catalog's ingestion progress every interval while
// there is a backlog (entities due for processing or waiting to be
// stitched) seen at two ticks in a row, so that routine refreshes that
// drain at once stay quiet:
// how many entities are in the catalog, how many are known, what is
// pending and the rate since the last line; and one line when the backlog
// is gone. An idle catalog logs nothing. The counts are whole-table
// counts that grow with the catalog: after slow ones the next line waits
// longer (progressWait).
func Progress(ctx context.Context, log *slog.Logger, stats StatsFunc, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTimer(interval)
	defer t.Stop()
	busy, backlog := false, false
	var last int64
	lastAt := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		qctx, cancel := context.WithTimeout(ctx, statsTimeout)
		asked := time.Now()
		s, err := stats(qctx)
		cancel()
		t.Reset(progressWait(interval, time.Since(asked)))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("catalog progress: reading counts failed", "err", err)
			}
			continue
		}
		stitched := total(s)
		pending := s.ProcessingDue + s.StitchQueue
		now := time.Now()
		wasBacklog := backlog
		backlog = pending > 0
		switch {
		case backlog && (wasBacklog || busy):
			rate := float64(stitched-last) / now.Sub(lastAt).Seconds()
			log.Info("catalog processing progress",
				"entities", stitched, "known", s.Entities,
				"processingDue", s.ProcessingDue, "stitchQueue", s.StitchQueue,
				"entitiesPerSecond", int64(rate))
			busy = true
		case !backlog && busy:
			log.Info("catalog processing caught up", "entities", stitched, "known", s.Entities)
			busy = false
		}
		last, lastAt = stitched, now
	}
}

func total(s catalog.Stats) int64 {
	var n int64
	for _, c := range s.EntitiesByKind {
		n += c
	}
	return n
}

// progressCost bounds the share of its time the progress line spends
// counting, to 1/progressCost (2%). At 100,000 entities on PostgreSQL the
// counts took about half a second; read every 10 s, they were 4% of the
// database's work during an ingest.
const progressCost = 50

// progressWait is how long after counts that took took the next are read:
// interval, or longer when counting took more than 1/progressCost of it.
func progressWait(interval, took time.Duration) time.Duration {
	return max(interval, progressCost*took)
}
