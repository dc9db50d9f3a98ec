// Package httpserver is the root HTTP router of Understage: an echo server
// that behaves like Backstage's rootHttpRouter. It reads backend.listen,
// backend.baseUrl, backend.cors, backend.csp and friends; sends helmet's
// security headers; answers the /.backstage/health/v1 probes; compresses and
// logs like the express middleware; mounts each plugin under /api/<id>; and
// turns handler errors into Backstage's error envelope with the request URL
// relative to the plugin mount.
//
// Unknown routes and methods answer 404 with an empty body, as Backstage's
// notFound middleware does. HEAD is served by GET routes, as in express.
// Its behaviour is pinned by server_test.go against a real listener.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/metric"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/lifecycle"
	"github.com/understage/understage/plugins/backend/metrics"
)

// Options configures New.
type Options struct {
	// Config is the root app-config; nil means all defaults (port 7007).
	Config *config.Config
	// Logger receives the access log and server errors; nil discards.
	Logger *slog.Logger
	// DeferReady keeps readiness at 503 after Serve starts, until SetReady.
	// Default: ready as soon as the listener serves.
	DeferReady bool
	// ShutdownTimeout is the grace in-flight requests get at shutdown
	// before they are cancelled; default 10s.
	ShutdownTimeout time.Duration
	// Meter, when set, records http.server.request.duration by route.
	Meter metric.Meter
}

// maxHeaderBytes bounds a request's line and headers to Node's default
// --max-http-header-size (16 KiB) that Backstage runs with: longer requests
// get 431, like Backstage. It also bounds every query string (filters, full
// text terms, cursors) before any handler runs. net/http reads up to 4 KiB
// beyond MaxHeaderBytes, hence the difference.
const maxHeaderBytes = 16<<10 - 4<<10

// readiness states of the root health service.
const (
	stateInit int32 = iota
	stateUp
	stateDown
)

// Server is the root router. Create it with New, mount plugins with Plugin,
// then Run it.
type Server struct {
	e        *echo.Echo
	log      *slog.Logger
	opts     Options
	set      settings
	setErr   error
	state    atomic.Int32
	mu       sync.RWMutex
	mounts   []string // "/api/<id>" prefixes, for request URLs in errors
	listener net.Listener
	metrics  *httpMetrics
}

// New builds the server. Config errors (a malformed backend.listen or
// backend.cors) are reported by Err and by Run.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	s := &Server{e: echo.New(), log: log, opts: o}
	s.set, s.setErr = readSettings(o.Config)
	if o.Meter != nil && s.setErr == nil {
		s.metrics, s.setErr = newHTTPMetrics(o.Meter, metrics.FastBuckets)
	}
	s.e.HideBanner, s.e.HidePort = true, true
	s.e.HTTPErrorHandler = s.handleError

	// Order as in Backstage's applyDefaults: helmet, cors, compression,
	// logging, then routes. Pre-middleware runs before routing, so it also
	// covers requests that match no route.
	s.e.Pre(s.logging(), headMiddleware, s.helmet())
	if s.set.cors != nil {
		s.e.Pre(s.set.cors.middleware())
	}
	s.e.Pre(compress, trimSlash, s.caseInsensitive, renderErrors)
	// After routing, as echo routes the request it was given: the request
	// may only be replaced from here on.
	s.e.Use(requestContext, expressOptions, malformedParams)

	health := func(ready bool) echo.HandlerFunc {
		return func(c echo.Context) error {
			for _, h := range s.set.healthHeaders {
				c.Response().Header().Set(h[0], h[1])
			}
			if !ready {
				return WriteJSON(c, http.StatusOK, []byte(`{"status":"ok"}`))
			}
			switch s.state.Load() {
			case stateInit:
				return WriteJSON(c, http.StatusServiceUnavailable, []byte(`{"message":"Backend has not started yet","status":"error"}`))
			case stateDown:
				return WriteJSON(c, http.StatusServiceUnavailable, []byte(`{"message":"Backend is shutting down","status":"error"}`))
			}
			return WriteJSON(c, http.StatusOK, []byte(`{"status":"ok"}`))
		}
	}
	s.e.GET("/.backstage/health/v1/readiness", health(true))
	s.e.GET("/.backstage/health/v1/liveness", health(false))
	return s
}

// Err reports a config error found by New.
func (s *Server) Err() error { return s.setErr }

// Echo exposes the underlying router, e.g. to serve the frontend at "/".
func (s *Server) Echo() *echo.Echo { return s.e }

// Handler is the server as an http.Handler (for httptest).
func (s *Server) Handler() http.Handler { return s.e }

// BaseURL is backend.baseUrl, or http://localhost:<port> when unset.
func (s *Server) BaseURL() string {
	if s.set.baseURL == "" {
		return "http://localhost:" + strconv.Itoa(s.set.listenPort)
	}
	return strings.TrimRight(s.set.baseURL, "/")
}

// ListenAddr is the configured host:port (host empty means all interfaces).
func (s *Server) ListenAddr() string { return s.set.addr() }

// Plugin mounts a router under /api/<id>. Errors from its handlers carry the
// request URL relative to that mount, like an express sub-router's req.url.
func (s *Server) Plugin(id string) *echo.Group {
	prefix := "/api/" + id
	s.mu.Lock()
	s.mounts = append(s.mounts, prefix)
	s.mu.Unlock()
	return s.e.Group(prefix)
}

// SetReady marks the backend as started: readiness answers 200.
func (s *Server) SetReady() { s.state.CompareAndSwap(stateInit, stateUp) }

// Listen opens the configured address.
func (s *Server) Listen() (net.Listener, error) {
	if s.setErr != nil {
		return nil, s.setErr
	}
	ln, err := net.Listen("tcp", s.set.addr())
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", s.set.addr(), err)
	}
	return ln, nil
}

// Run listens on the configured address and serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled, then shuts down: readiness
// turns to 503, backend.lifecycle.serverShutdownDelay is waited, the
// listener closes, and in-flight requests get up to ShutdownTimeout to
// finish. Requests still running then are cancelled (their contexts end, so
// a slow query stops) and their connections closed (so a handler reading a
// huge or trickling body gets an error); Serve waits for their handlers to
// return, at most ShutdownTimeout again. A request that outlives both
// bounds makes Serve return an error wrapping lifecycle.ErrStillRunning.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if s.setErr != nil {
		ln.Close()
		return s.setErr
	}
	// Requests do not end with ctx: they get the grace period first.
	reqCtx, cancelRequests := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRequests()
	var inflight handlers
	srv := &http.Server{
		Handler:           inflight.wrap(s.e),
		ReadHeaderTimeout: 30 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return reqCtx },
	}
	// The listener is already open, so readiness may turn green before
	// Serve's goroutine runs: early connections wait in the backlog.
	if !s.opts.DeferReady {
		s.SetReady()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.state.Store(stateDown)
	if d := s.set.shutdownDelay; d > 0 {
		s.log.Info("waiting before shutdown", "delay", d.String())
		time.Sleep(d)
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		n := inflight.count()
		s.log.Warn("cancelling requests still running after the shutdown grace period",
			"requests", n, "grace", s.opts.ShutdownTimeout.String())
		cancelRequests()
		_ = srv.Close()
		wctx, wcancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
		defer wcancel()
		if !inflight.wait(wctx) {
			return fmt.Errorf("http: %d requests: %w", inflight.count(), lifecycle.ErrStillRunning)
		}
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// handlers counts the handlers running, so that shutdown can wait for the
// ones it cancelled (http.Server.Close does not).
type handlers struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while n is 0
}

func (h *handlers) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		if h.n == 0 {
			h.idle = make(chan struct{})
		}
		h.n++
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			h.n--
			if h.n == 0 {
				close(h.idle)
				h.idle = nil
			}
			h.mu.Unlock()
		}()
		next.ServeHTTP(w, r)
	})
}

func (h *handlers) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// wait reports whether every handler returned before ctx ended.
func (h *handlers) wait(ctx context.Context) bool {
	h.mu.Lock()
	idle := h.idle
	h.mu.Unlock()
	if idle == nil {
		return true
	}
	select {
	case <-idle:
		return true
	case <-ctx.Done():
		return false
	}
}

// mountOf finds the plugin mount that path falls under.
func (s *Server) mountOf(path string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	best := ""
	for _, m := range s.mounts {
		if (path == m || strings.HasPrefix(path, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	return best
}
