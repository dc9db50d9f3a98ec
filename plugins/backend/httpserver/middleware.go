package httpserver

import (
	"bufio"
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// ctxOrigMethod holds the method the client sent, when headMiddleware
// rewrote HEAD to GET; ctxRequestID the request's id.
const (
	ctxOrigMethod = "httpserver.method"
	ctxRequestID  = "httpserver.requestId"
)

// RequestID is the id of the request c serves: 20 hex digits, the shape of
// Backstage's logId. It names the request in the access log and in the log
// line of a failed request, and is the logId an internal error's message
// shows; Backstage sends no request-id header, so neither does Understage.
func RequestID(c echo.Context) string {
	if id, ok := c.Get(ctxRequestID).(string); ok {
		return id
	}
	id := newRequestID()
	c.Set(ctxRequestID, id)
	return id
}

func newRequestID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// requestMethod is the method as the client sent it.
func requestMethod(c echo.Context) string {
	if m, ok := c.Get(ctxOrigMethod).(string); ok {
		return m
	}
	return c.Request().Method
}

// logging writes one access-log line per request in the shape of Backstage's
// incomingRequest log. Errors are rendered here so the line has the final
// status.
func (s *Server) logging() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			start := time.Now()
			id := RequestID(c)
			req := c.Request()
			method, uri := req.Method, req.RequestURI
			if err := next(c); err != nil {
				c.Error(err)
			}
			if s.metrics != nil {
				s.metrics.record(c, method, time.Since(start))
			}
			if !s.log.Enabled(req.Context(), slog.LevelInfo) {
				return nil
			}
			res := c.Response()
			ref := req.Header.Get("Referer")
			ua := req.Header.Get("User-Agent")
			version := fmt.Sprintf("%d.%d", req.ProtoMajor, req.ProtoMinor)
			attrs := []any{
				"type", "incomingRequest",
				"method", method,
				"url", uri,
				"status", res.Status,
				"httpVersion", version,
				"contentLength", res.Size,
				"requestId", id,
			}
			if ua != "" {
				attrs = append(attrs, "userAgent", ua)
			}
			if ref != "" {
				attrs = append(attrs, "referrer", ref)
			}
			s.log.Info(fmt.Sprintf("[%s] %q %d %d %q %q",
				time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
				method+" "+uri+" HTTP/"+version, res.Status, res.Size, orDash(ref), orDash(ua)),
				attrs...)
			return nil
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// headMiddleware serves HEAD with GET routes, as express does. Echo routes
// on the request's own Method field, so it is switched to GET in place and
// the body the GET handler writes is dropped here.
func headMiddleware(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Method != http.MethodHead {
			return next(c)
		}
		c.Set(ctxOrigMethod, http.MethodHead)
		r.Method = http.MethodGet
		res := c.Response()
		orig := res.Writer
		res.Writer = headWriter{orig}
		defer func() {
			r.Method = http.MethodHead
			res.Writer = orig
		}()
		if err := next(c); err != nil {
			c.Error(err)
		}
		return nil
	}
}

type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(b []byte) (int, error) { return len(b), nil }

func (w headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// helmet sets the security headers Backstage's helmet configuration sends.
func (s *Server) helmet() echo.MiddlewareFunc {
	csp, referrer := s.set.csp, s.set.referrer
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			h := c.Response().Header()
			if csp != "" {
				h.Set("Content-Security-Policy", csp)
			}
			if referrer != "" {
				h.Set("Referrer-Policy", referrer)
			}
			h.Set("Strict-Transport-Security", "max-age=15552000; includeSubDomains")
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("X-DNS-Prefetch-Control", "off")
			h.Set("X-Download-Options", "noopen")
			h.Set("X-Frame-Options", "SAMEORIGIN")
			h.Set("X-Permitted-Cross-Domain-Policies", "none")
			h.Set("X-XSS-Protection", "0")
			return next(c)
		}
	}
}

// trimSlash lets /api/x/entities/ reach the /entities route, as express's
// non-strict routing does. Only API paths are touched.
func trimSlash(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") && strings.HasPrefix(p, "/api/") {
			u := *r.URL
			u.Path = strings.TrimRight(p, "/")
			if u.RawPath != "" {
				u.RawPath = strings.TrimRight(u.RawPath, "/")
			}
			if u.Path == "" {
				u.Path = "/"
			}
			r.URL = &u
		}
		return next(c)
	}
}

// caseInsensitive lets /API/Catalog/Entities reach /api/catalog/entities,
// as express routes ignore case. Only when the path matches no route as
// written is it matched again in lower case; static segments then take the
// route's spelling while parameters keep the client's.
func (s *Server) caseInsensitive(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		path := echo.GetPath(r)
		if _, ok := s.route(r.Method, path); ok {
			return next(c)
		}
		lower := strings.ToLower(path)
		if lower == path {
			return next(c)
		}
		template, ok := s.route(r.Method, lower)
		if !ok {
			return next(c)
		}
		if fixed, ok := respell(template, path); ok {
			u := *r.URL
			u.Path, u.RawPath = fixed, ""
			if unescaped, err := url.PathUnescape(fixed); err == nil && unescaped != fixed {
				u.Path, u.RawPath = unescaped, fixed
			}
			r.URL = &u
		}
		return next(c)
	}
}

// route finds the route template that serves method and path; ok is false
// when only a not-found or method-not-allowed fallback would answer.
func (s *Server) route(method, path string) (string, bool) {
	c := s.e.NewContext(nil, nil)
	s.e.Router().Find(method, path, c)
	if _, ok := c.Get(echo.ContextKeyHeaderAllow).(string); ok {
		return "", false
	}
	if h := c.Handler(); h == nil || reflect.ValueOf(h).Pointer() == reflect.ValueOf(echo.NotFoundHandler).Pointer() {
		return "", false
	}
	tpl := c.Path()
	if strings.HasSuffix(tpl, "*") || s.mountOf(tpl) == tpl {
		// Groups with middleware register not-found routes here.
		for _, rt := range s.e.Routes() {
			if rt.Path == tpl && rt.Method == echo.RouteNotFound {
				return "", false
			}
		}
	}
	return tpl, true
}

// respell rebuilds path with the static segments of the route template.
func respell(template, path string) (string, bool) {
	ts := strings.Split(template, "/")
	ps := strings.Split(path, "/")
	out := make([]string, 0, len(ps))
	for i, t := range ts {
		if i >= len(ps) {
			return "", false
		}
		switch {
		case strings.HasPrefix(t, "*"):
			return strings.Join(append(out, ps[i:]...), "/"), true
		case strings.HasPrefix(t, ":"):
			out = append(out, ps[i])
		default:
			out = append(out, t)
		}
	}
	if len(ps) != len(ts) {
		return "", false
	}
	return strings.Join(out, "/"), true
}

// expressOptions answers OPTIONS on a path that has routes but no OPTIONS
// handler the way express's router does: 200 with the methods in Allow and
// in the body.
func expressOptions(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		allow, ok := c.Get(echo.ContextKeyHeaderAllow).(string)
		if !ok || c.Request().Method != http.MethodOptions {
			return next(c)
		}
		have := map[string]bool{}
		for _, m := range strings.Split(allow, ",") {
			have[strings.TrimSpace(m)] = true
		}
		if have[http.MethodGet] {
			have[http.MethodHead] = true
		}
		var list []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if have[m] {
				list = append(list, m)
			}
		}
		body := strings.Join(list, ",")
		c.Response().Header().Set(echo.HeaderAllow, body)
		return write(c, http.StatusOK, "text/html; charset=utf-8", []byte(body))
	}
}

// compressThreshold is the compression package's default threshold.
const compressThreshold = 1024

// compress gzips responses of compressible types that declare a length of
// at least 1 KiB, as Backstage's compression middleware does for its JSON
// bodies; streams without a length pass through untouched.
func compress(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		res := c.Response()
		gw := &gzipWriter{ResponseWriter: res.Writer, method: requestMethod(c), accept: c.Request().Header.Get(echo.HeaderAcceptEncoding)}
		res.Writer = gw
		defer func() {
			gw.close()
			res.Writer = gw.ResponseWriter
		}()
		return next(c)
	}
}

type gzipWriter struct {
	http.ResponseWriter
	method      string
	accept      string
	gz          *gzip.Writer
	wroteHeader bool
}

func (w *gzipWriter) WriteHeader(code int) {
	if w.wroteHeader {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.wroteHeader = true
	h := w.Header()
	if compressible(h.Get(echo.HeaderContentType)) && !strings.Contains(h.Get("Cache-Control"), "no-transform") {
		addVary(h, echo.HeaderAcceptEncoding)
		n, err := strconv.Atoi(h.Get(echo.HeaderContentLength))
		if err == nil && n >= compressThreshold && h.Get("Content-Encoding") == "" &&
			w.method != http.MethodHead && code != http.StatusNoContent && code != http.StatusNotModified &&
			acceptsGzip(w.accept) {
			h.Set("Content-Encoding", "gzip")
			h.Del(echo.HeaderContentLength)
			w.gz = gzip.NewWriter(w.ResponseWriter)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *gzipWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.gz != nil {
		return w.gz.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *gzipWriter) Flush() {
	if w.gz != nil {
		_ = w.gz.Flush()
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *gzipWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := w.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijacking is not supported")
}

func (w *gzipWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *gzipWriter) close() {
	if w.gz != nil {
		_ = w.gz.Close()
	}
}

func compressible(ct string) bool {
	ct = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	switch {
	case ct == "":
		return false
	case strings.HasPrefix(ct, "text/"),
		strings.HasSuffix(ct, "+json"), strings.HasSuffix(ct, "+xml"),
		ct == "application/json", ct == "application/javascript", ct == "application/xml",
		ct == "application/x-yaml", ct == "application/yaml", ct == "image/svg+xml":
		return true
	}
	return false
}

// acceptsGzip reads Accept-Encoding, honouring q=0.
func acceptsGzip(ae string) bool {
	for _, part := range strings.Split(ae, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "*" {
			continue
		}
		if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
				continue
			}
		}
		return true
	}
	return false
}

// renderErrors turns a returned error into a response while the response
// writer still has every wrapper (compression) in place. A panicking
// handler is an internal error like any other: the client gets the
// envelope and the panic value with its stack goes to the log.
func renderErrors(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			r := recover()
			if r == nil {
				return
			}
			if r == http.ErrAbortHandler {
				panic(r)
			}
			c.Error(fmt.Errorf("panic: %v\n%s", r, debug.Stack()))
		}()
		if err := next(c); err != nil {
			c.Error(err)
		}
		return nil
	}
}
