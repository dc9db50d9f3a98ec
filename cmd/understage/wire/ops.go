package wire

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/config"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/metrics"
)

// opsConfig is the operations part of the config: understage's own keys
// under backend.metrics and catalog.processingProgressInterval.
type opsConfig struct {
	metricsEnabled bool
	// metricsListen, when set, serves /metrics on a listener of its own
	// (as Backstage's Prometheus exporter does on :9464) and not on the
	// backend's.
	metricsListen string
	// metricsToken, when set, is the bearer token a scrape must send.
	metricsToken     string
	progressInterval time.Duration
}

func readOpsConfig(cfg *config.Config) (opsConfig, error) {
	o := opsConfig{metricsEnabled: true, progressInterval: 10 * time.Second}
	if v, ok, err := cfg.ReadBool("backend.metrics.enabled"); err != nil {
		return o, err
	} else if ok {
		o.metricsEnabled = v
	}
	var err error
	if o.metricsListen, _, err = cfg.ReadString("backend.metrics.listen"); err != nil {
		return o, err
	}
	if o.metricsListen != "" {
		if _, _, err := net.SplitHostPort(o.metricsListen); err != nil {
			return o, fmt.Errorf("backend.metrics.listen must be host:port or :port, got %q", o.metricsListen)
		}
	}
	if o.metricsToken, _, err = cfg.ReadString("backend.metrics.token"); err != nil {
		return o, err
	}
	if d, ok, err := cfg.Duration("catalog.processingProgressInterval"); err != nil {
		return o, err
	} else if ok {
		if d < 0 {
			return o, fmt.Errorf("catalog.processingProgressInterval must not be negative")
		}
		o.progressInterval = d
	}
	return o, nil
}

// observability is what the backend measures with, nil fields when
// metrics are off.
type observability struct {
	cfg        opsConfig
	service    *metrics.Service
	catalog    *metrics.Catalog
	scaffolder *metrics.Scaffolder
	taskRuns   *metrics.TaskRuns
}

func newObservability(cfg opsConfig) (*observability, error) {
	o := &observability{cfg: cfg}
	if !cfg.metricsEnabled {
		return o, nil
	}
	var err error
	if o.service, err = metrics.New(); err != nil {
		return nil, err
	}
	if o.scaffolder, err = metrics.NewScaffolder(o.service.Meter("scaffolder")); err != nil {
		return nil, fmt.Errorf("scaffolder metrics: %w", err)
	}
	if o.taskRuns, err = metrics.NewTaskRuns(o.service.Meter("scheduler")); err != nil {
		return nil, fmt.Errorf("scheduler metrics: %w", err)
	}
	return o, nil
}

// handler serves /metrics, behind the bearer token when one is set. A
// wrong or missing token gets a bare 401 that says nothing more.
func (o *observability) handler() http.Handler {
	h := o.service.Handler()
	if o.cfg.metricsToken == "" {
		return h
	}
	want := []byte("Bearer " + o.cfg.metricsToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// serveMetrics serves /metrics on backend.metrics.listen until ctx ends.
func (o *observability) serveMetrics(ctx context.Context, log *slog.Logger) error {
	ln, err := net.Listen("tcp", o.cfg.metricsListen)
	if err != nil {
		return fmt.Errorf("metrics: listen on %s: %w", o.cfg.metricsListen, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", o.handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}

// timedProvider records each run of an entity provider as a scheduled
// task run, as Backstage's scheduler does for its provider tasks.
type timedProvider struct {
	github.Provider
	runs *metrics.TaskRuns
}

func (p timedProvider) Run(ctx context.Context, store catalog.ProcessingStore) error {
	start := time.Now()
	err := p.Provider.Run(ctx, store)
	p.runs.Record(ctx, p.Name(), time.Since(start), err)
	return err
}

func (o *observability) providers(ps []github.Provider) []github.Provider {
	if o.taskRuns == nil {
		return ps
	}
	out := make([]github.Provider, len(ps))
	for i, p := range ps {
		out[i] = timedProvider{p, o.taskRuns}
	}
	return out
}
