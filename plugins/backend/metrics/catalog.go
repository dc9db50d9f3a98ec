package metrics

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/understage/understage/catalog"
)

// StatsFunc reads the catalog's counts (sqlstore.Store.Stats).
type StatsFunc func(ctx context.Context) (catalog.Stats, error)

// Catalog holds the catalog's instruments:
//
//	catalog_entities_count{kind}            gauge: stitched entities by kind
//	catalog_registered_locations_count      gauge: registered locations
//	catalog_relations_count                 gauge: stored relations
//	catalog.processing.queue.length         gauge: entities due for processing (understage's own)
//	catalog.processing.queue.lag            gauge, s: how long the oldest due entity has waited (understage's own)
//	catalog.stitching.queue.length          gauge: entities waiting to be stitched
//	catalog.processed.entities.count{result} counter: processed entities, result changed, unchanged or errors
//	catalog.processing.duration{result}     histogram, s: one entity's processing
//	catalog.processors.duration{result}     histogram, s: one entity's processing steps, result ok or failed
//	catalog.processing.queue.delay          histogram, s: from an entity becoming due to its claim
//	catalog.stitched.entities.count         counter: entities stitched from the stitching queue
//	catalog.stitching.duration              histogram, s: one batch from the queue (Backstage: one entity)
//
// Backstage times its processors apart from its whole flow, which also
// writes the entity; here an entity's processing steps are its whole
// processing (results are written in batches), so both histograms time the
// same span and differ in their labels.
//
// Entities that the processing write stitches at once, without queueing
// them, are not counted here.
//
// The gauges are read from the database when scraped, at most once per
// CacheFor, so a scraper polling fast cannot load the database.
type Catalog struct {
	stats    StatsFunc
	cacheFor time.Duration

	processed      metric.Int64Counter
	processingTime metric.Float64Histogram
	processorsTime metric.Float64Histogram
	queueDelay     metric.Float64Histogram
	stitched       metric.Int64Counter
	stitchingTime  metric.Float64Histogram

	mu     sync.Mutex
	last   catalog.Stats
	lastAt time.Time
}

// statsTimeout bounds one read of the counts during a scrape.
const statsTimeout = 10 * time.Second

// NewCatalog registers the catalog's instruments on m. cacheFor <= 0 means
// 5 seconds.
func NewCatalog(m metric.Meter, stats StatsFunc, cacheFor time.Duration) (*Catalog, error) {
	if cacheFor <= 0 {
		cacheFor = 5 * time.Second
	}
	c := &Catalog{stats: stats, cacheFor: cacheFor}
	var err error
	if c.processed, err = m.Int64Counter("catalog.processed.entities.count",
		metric.WithDescription("Amount of entities processed")); err != nil {
		return nil, err
	}
	if c.processingTime, err = m.Float64Histogram("catalog.processing.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent executing the full processing flow"),
		metric.WithExplicitBucketBoundaries(FastBuckets...)); err != nil {
		return nil, err
	}
	if c.processorsTime, err = m.Float64Histogram("catalog.processors.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent executing catalog processors"),
		metric.WithExplicitBucketBoundaries(FastBuckets...)); err != nil {
		return nil, err
	}
	if c.queueDelay, err = m.Float64Histogram("catalog.processing.queue.delay", metric.WithUnit("s"),
		metric.WithDescription("The amount of delay between being scheduled for processing, and the start of actually being processed"),
		metric.WithExplicitBucketBoundaries(DelayBuckets...)); err != nil {
		return nil, err
	}
	if c.stitched, err = m.Int64Counter("catalog.stitched.entities.count",
		metric.WithDescription("Amount of entities stitched")); err != nil {
		return nil, err
	}
	if c.stitchingTime, err = m.Float64Histogram("catalog.stitching.duration", metric.WithUnit("s"),
		metric.WithDescription("Time spent stitching one batch of entities"),
		metric.WithExplicitBucketBoundaries(FastBuckets...)); err != nil {
		return nil, err
	}
	entities, err := m.Int64ObservableGauge("catalog_entities_count",
		metric.WithDescription("Total amount of entities in the catalog"))
	if err != nil {
		return nil, err
	}
	locations, err := m.Int64ObservableGauge("catalog_registered_locations_count",
		metric.WithDescription("Total amount of registered locations in the catalog"))
	if err != nil {
		return nil, err
	}
	relations, err := m.Int64ObservableGauge("catalog_relations_count",
		metric.WithDescription("Total amount of relations between entities"))
	if err != nil {
		return nil, err
	}
	procQueue, err := m.Int64ObservableGauge("catalog.processing.queue.length",
		metric.WithDescription("Number of entities due for processing"))
	if err != nil {
		return nil, err
	}
	procLag, err := m.Float64ObservableGauge("catalog.processing.queue.lag", metric.WithUnit("s"),
		metric.WithDescription("How long the longest-waiting entity due for processing has waited"))
	if err != nil {
		return nil, err
	}
	stitchQueue, err := m.Int64ObservableGauge("catalog.stitching.queue.length",
		metric.WithDescription("Number of entities currently in the stitching queue"))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		s, err := c.Stats(ctx)
		if err != nil {
			return err
		}
		for kind, n := range s.EntitiesByKind {
			o.ObserveInt64(entities, n, metric.WithAttributes(attribute.String("kind", kind)))
		}
		o.ObserveInt64(locations, s.Locations)
		o.ObserveInt64(relations, s.Relations)
		o.ObserveInt64(procQueue, s.ProcessingDue)
		lag := 0.0
		if !s.OldestDue.IsZero() {
			lag = max(0, time.Since(s.OldestDue).Seconds())
		}
		o.ObserveFloat64(procLag, lag)
		o.ObserveInt64(stitchQueue, s.StitchQueue)
		return nil
	}, entities, locations, relations, procQueue, procLag, stitchQueue)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Stats returns the catalog's counts, read at most once per cacheFor.
func (c *Catalog) Stats(ctx context.Context) (catalog.Stats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lastAt.IsZero() && time.Since(c.lastAt) < c.cacheFor {
		return c.last, nil
	}
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	s, err := c.stats(ctx)
	if err != nil {
		return s, err
	}
	c.last, c.lastAt = s, time.Now()
	return s, nil
}

// ObserveProcessing records one processed entity (processing.Options.Observe).
func (c *Catalog) ObserveProcessing(item catalog.ProcessingItem, res catalog.ProcessingResult, took time.Duration) {
	result := "changed"
	switch {
	case !res.Ok:
		result = "errors"
	case res.ResultHash == item.ResultHash:
		result = "unchanged"
	}
	attrs := metric.WithAttributes(attribute.String("result", result))
	ctx := context.Background()
	c.processed.Add(ctx, 1, attrs)
	c.processingTime.Record(ctx, took.Seconds(), attrs)
	outcome := "ok"
	if !res.Ok {
		outcome = "failed"
	}
	c.processorsTime.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("result", outcome)))
}

// Store wraps the processing store so that claims and stitching are
// measured.
func (c *Catalog) Store(s catalog.ProcessingStore) catalog.ProcessingStore {
	return storeTimer{s, c}
}

type storeTimer struct {
	catalog.ProcessingStore
	c *Catalog
}

// ClaimDue records each claimed entity's wait in the processing queue.
func (t storeTimer) ClaimDue(ctx context.Context, limit int, next func() time.Time) ([]catalog.ProcessingItem, error) {
	items, err := t.ProcessingStore.ClaimDue(ctx, limit, next)
	now := time.Now()
	for _, it := range items {
		if !it.DueAt.IsZero() {
			t.c.queueDelay.Record(ctx, max(0, now.Sub(it.DueAt).Seconds()))
		}
	}
	return items, err
}

func (t storeTimer) StitchPending(ctx context.Context, limit int) (int, error) {
	start := time.Now()
	n, err := t.ProcessingStore.StitchPending(ctx, limit)
	if n > 0 {
		t.c.stitched.Add(ctx, int64(n))
		t.c.stitchingTime.Record(ctx, time.Since(start).Seconds())
	}
	return n, err
}
