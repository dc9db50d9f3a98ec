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
// is gone. An idle catalog logs nothing.
func Progress(ctx context.Context, log *slog.Logger, stats StatsFunc, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
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
		s, err := stats(qctx)
		cancel()
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
