package system

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/metrics"
)

// opsConfig is the operations part of the config: understage's own keys
// under backend.metrics.
type opsConfig struct {
	metricsEnabled bool
	// metricsListen, when set, serves /metrics on a listener of its own
	// (as Backstage's Prometheus exporter does on :9464) and not on the
	// backend's.
	metricsListen string
	// metricsToken, when set, is the bearer token a scrape must send.
	metricsToken string
}

func readOpsConfig(cfg *config.Config) (opsConfig, error) {
	o := opsConfig{metricsEnabled: true}
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
	return o, nil
}

// observability is the metrics service (nil when backend.metrics.enabled
// is false) and how /metrics is served.
type observability struct {
	cfg     opsConfig
	service *metrics.Service
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
