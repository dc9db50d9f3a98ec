// Package metrics is understage's metrics service: OpenTelemetry
// instruments exported in Prometheus' text format, as a Backstage backend
// set up with the OpenTelemetry Prometheus exporter publishes them. The
// instrument names are Backstage's where Backstage has one (the catalog's
// catalog.* and the scaffolder's scaffolder.*, which Prometheus shows with
// dots as underscores, seconds as a _seconds suffix and counters with
// _total), plus the stable HTTP server convention for request latency.
//
// Nothing recorded here carries a secret or a client-chosen string: labels
// are route templates, methods, status codes, entity kinds, template refs
// and step ids from the catalog, provider ids from config.
package metrics

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// Bucket boundaries in seconds. The SDK's defaults are meant for
// milliseconds (up to 10,000), which would put every request in the first
// bucket.
var (
	// FastBuckets suit requests, processing and stitching.
	FastBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}
	// DelayBuckets suit waits in the processing queue: none under load-free
	// polling, up to the processing interval and beyond when behind.
	DelayBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	// SlowBuckets suit scaffolder tasks and steps and provider runs.
	SlowBuckets = []float64{0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
)

// Service owns the meter provider and the Prometheus registry it exports to.
type Service struct {
	provider *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// New builds the service. Go runtime and process metrics (memory, CPU, open
// files) are exported too, as prom-client's defaults are in Backstage.
func New() (*Service, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	// Scope labels would add otel_scope_* to every series; names already
	// say which plugin a metric belongs to.
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("metrics: prometheus exporter: %w", err)
	}
	return &Service{provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)), registry: reg}, nil
}

// Meter returns the meter of one plugin ("catalog", "scaffolder", ...).
func (s *Service) Meter(plugin string) metric.Meter {
	return s.provider.Meter("backstage-plugin-" + plugin)
}

// Handler serves the metrics in Prometheus' text (or protobuf) format.
// Observable instruments are read during the request, so a slow database
// slows the scrape, never the backend.
func (s *Service) Handler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Shutdown stops the meter provider.
func (s *Service) Shutdown(ctx context.Context) error {
	return s.provider.Shutdown(ctx)
}
