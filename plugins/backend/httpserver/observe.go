package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/understage/understage/plugins/backend"
)

// requestIDKey holds the request's id in its context.
type requestIDKey struct{}

// WithRequestID returns ctx carrying a request id, for log lines written
// under it (see LogHandler).
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestIDFrom is the id of the request ctx belongs to, if any.
func RequestIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(requestIDKey{}).(string)
	return id, ok
}

// malformedParams answers 400 when a route's path parameter decodes to
// bytes that are not UTF-8 (%FF), as express does when it decodes route
// parameters, with the same message; a request no route matches stays a 404.
func malformedParams(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		values := c.ParamValues()
		for i, name := range c.ParamNames() {
			if name != "*" && i < len(values) && !utf8.ValidString(values[i]) {
				return backend.Input("malformed uri'")
			}
		}
		return next(c)
	}
}

// requestContext puts the request's id in its context, so that handlers
// logging with it write lines that carry the id (LogHandler).
func requestContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		c.SetRequest(r.WithContext(WithRequestID(r.Context(), RequestID(c))))
		return next(c)
	}
}

// LogHandler wraps h so that every record logged with a request's context
// (InfoContext, ErrorContext, ...) carries that request's requestId, the id
// of its access-log line.
func LogHandler(h slog.Handler) slog.Handler { return requestIDHandler{h} }

type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := RequestIDFrom(ctx); ok {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "requestId"
			return !has
		})
		if !has {
			r = r.Clone()
			r.AddAttrs(slog.String("requestId", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(as)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}

// httpMetrics records the stable OpenTelemetry HTTP server instrument,
// http.server.request.duration (Prometheus:
// http_server_request_duration_seconds), by method, route template and
// status. The route is the template the request matched, never the path it
// asked for, so clients cannot mint series.
type httpMetrics struct {
	duration metric.Float64Histogram
}

func newHTTPMetrics(m metric.Meter, buckets []float64) (*httpMetrics, error) {
	h, err := m.Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(buckets...))
	if err != nil {
		return nil, err
	}
	return &httpMetrics{duration: h}, nil
}

// knownMethods are recorded as sent; any other method is "_OTHER", as the
// convention asks, so made-up methods cannot mint series either.
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
	http.MethodConnect: true, http.MethodTrace: true,
}

func (m *httpMetrics) record(c echo.Context, method string, took time.Duration) {
	if !knownMethods[method] {
		method = "_OTHER"
	}
	route := c.Path()
	if route == "" {
		route = "unmatched"
	}
	m.duration.Record(c.Request().Context(), took.Seconds(), metric.WithAttributes(
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", c.Response().Status),
	))
}
