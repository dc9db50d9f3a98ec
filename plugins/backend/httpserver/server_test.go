package httpserver

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/lifecycle"
)

type testBundle struct {
	srv  *Server
	url  string
	logs *syncBuffer
}

// syncBuffer collects log output written by server goroutines.
type syncBuffer struct {
	mu   sync.Mutex
	cond *sync.Cond
	buf  bytes.Buffer
}

func newSyncBuffer() *syncBuffer {
	b := &syncBuffer{}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.cond.Broadcast()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitFor blocks until the log contains s: the access log is written after
// the response has gone out.
func (b *syncBuffer) waitFor(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for !strings.Contains(b.buf.String(), s) {
		b.cond.Wait()
	}
}

// setup starts a server from YAML config with a "catalog" plugin whose
// routes exercise the error paths.
func setup(t *testing.T, yamlCfg string, mod func(*Options)) *testBundle {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(yamlCfg), "app-config.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	logs := newSyncBuffer()
	o := Options{Config: cfg, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	if mod != nil {
		mod(&o)
	}
	s := New(o)
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	g := s.Plugin("catalog")
	g.GET("/entities/by-name/:kind/:ns/:name", func(c echo.Context) error {
		return backend.NotFound("No entity named '%s' found, with kind '%s' in namespace '%s'",
			c.Param("name"), c.Param("kind"), c.Param("ns"))
	})
	g.GET("/wrapped", func(c echo.Context) error {
		return fmt.Errorf("loading: %w", backend.Input("bad <input> & more"))
	})
	g.GET("/boom", func(c echo.Context) error { return errors.New("database exploded") })
	// Unclassified errors of the kinds that leaked before: driver messages
	// with SQL text, host paths, a Go panic.
	g.GET("/sql", func(c echo.Context) error {
		return fmt.Errorf("query entities: count: %w", errors.New("SQL logic error: Expression tree is too large (maximum depth 1000) (1) [SELECT fe.final_entity FROM final_entities fe WHERE (EXISTS (SELECT 1 FROM search sf]"))
	})
	g.GET("/badtext", func(c echo.Context) error {
		return fmt.Errorf("entity by uid: %w", &pgconn.PgError{Code: "22021", Message: `invalid byte sequence for encoding "UTF8": 0x00`})
	})
	g.GET("/pg", func(c echo.Context) error {
		return fmt.Errorf("list entities: %w", errors.New(`ERROR: stack depth limit exceeded (SQLSTATE 54001)`))
	})
	g.GET("/path", func(c echo.Context) error {
		return fmt.Errorf("open /root/secret/catalog.sqlite: %w", errors.New("permission denied"))
	})
	g.GET("/panic", func(c echo.Context) error { panic("runtime error: index out of range [3] with length 2") })
	g.GET("/late", func(c echo.Context) error {
		if err := WriteJSON(c, http.StatusOK, []byte(`{"items":[]}`)); err != nil {
			return err
		}
		return errors.New("scan row 3: sql: Rows are closed")
	})
	g.GET("/echo-error", func(c echo.Context) error { return echo.NewHTTPError(http.StatusBadRequest, "nope") })
	g.GET("/entities", func(c echo.Context) error { return WriteJSON(c, http.StatusOK, []byte(`{"items":[]}`)) })
	g.DELETE("/entities", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	g.GET("/big", func(c echo.Context) error {
		return JSON(c, http.StatusOK, map[string]any{"pad": strings.Repeat("x", 4000)})
	})
	g.POST("/body", func(c echo.Context) error {
		b, err := ReadBody(c, 16)
		if err != nil {
			return err
		}
		return WriteJSON(c, http.StatusOK, b)
	})
	// A plugin with its own middleware: echo then registers not-found
	// routes under its prefix, which must still answer an empty 404.
	mw := s.Plugin("mw")
	mw.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Response().Header().Set("X-Mw", "1")
			return next(c)
		}
	})
	mw.GET("/x", func(c echo.Context) error { return WriteJSON(c, http.StatusOK, []byte(`{}`)) })
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return &testBundle{srv: s, url: hs.URL, logs: logs}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, method, url string, headers map[string]string, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// Transport would add and strip gzip on its own; tests look at the wire.
	req.Header.Set("Accept-Encoding", headers["Accept-Encoding"])
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, res.Header, string(b)}
}

func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	b := setup(t, "backend: {baseUrl: http://localhost:7007}\n", nil)
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantBody           string
	}{
		{"not found kind, url relative to the mount", "GET", "/api/catalog/entities/by-name/component/default/nope?x=1", 404,
			`{"error":{"name":"NotFoundError","message":"No entity named 'nope' found, with kind 'component' in namespace 'default'"},"request":{"method":"GET","url":"/entities/by-name/component/default/nope?x=1"},"response":{"statusCode":404}}`},
		{"wrapped kind keeps its message, escaped like JSON.stringify", "GET", "/api/catalog/wrapped", 400,
			`{"error":{"name":"InputError","message":"bad <input> & more"},"request":{"method":"GET","url":"/wrapped"},"response":{"statusCode":400}}`},
		{"echo HTTPError", "GET", "/api/catalog/echo-error", 400,
			`{"error":{"name":"InputError","message":"nope"},"request":{"method":"GET","url":"/echo-error"},"response":{"statusCode":400}}`},
		{"body over the limit", "POST", "/api/catalog/body", 400,
			`{"error":{"name":"InputError","message":"request entity too large"},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`},
		{"unknown route under a plugin", "GET", "/api/catalog/nope", 404, ``},
		{"unknown plugin", "GET", "/api/nope", 404, ``},
		{"unknown route under a plugin with middleware", "GET", "/api/mw/nope", 404, ``},
		{"plugin root with middleware", "GET", "/api/mw", 404, ``},
		{"route under a plugin with middleware, any case", "GET", "/API/MW/X", 200, `{}`},
		{"unknown root path", "GET", "/nope", 404, ``},
		{"method not allowed is a plain 404", "PUT", "/api/catalog/entities", 404, ``},
		{"trailing slash reaches the route", "GET", "/api/catalog/entities/", 200, `{"items":[]}`},
		{"paths ignore case, parameters keep theirs", "GET", "/API/Catalog/Entities/By-Name/Component/Default/NoPe", 404,
			`{"error":{"name":"NotFoundError","message":"No entity named 'NoPe' found, with kind 'Component' in namespace 'Default'"},"request":{"method":"GET","url":"/Entities/By-Name/Component/Default/NoPe"},"response":{"statusCode":404}}`},
		{"upper-case static route", "GET", "/api/catalog/ENTITIES", 200, `{"items":[]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := ""
			if tc.method == "POST" {
				body = `{"much":"more than sixteen bytes"}`
			}
			r := do(t, tc.method, b.url+tc.path, nil, body)
			if r.status != tc.wantStatus || r.body != tc.wantBody {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, tc.wantStatus, tc.wantBody)
			}
			if tc.wantBody != "" {
				if ct := r.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
			} else if ct := r.header.Get("Content-Type"); ct != "" {
				t.Errorf("empty 404 has Content-Type %q", ct)
			}
			if got := r.header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
				t.Errorf("helmet headers missing: X-Frame-Options=%q", got)
			}
		})
	}
}

// TestInternalErrorsHidden: an unclassified error answers 500 with
// Backstage's generic "An internal error occurred logId=<id>" in the
// envelope, whatever the plugin; the detail is logged under the request's
// id, which the access log line carries too. No request-id header is sent,
// as Backstage sends none.
func TestInternalErrorsHidden(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	logID := regexp.MustCompile(`^An internal error occurred logId=([0-9a-f]{20})$`)
	tests := []struct {
		name, path, method, detail string
	}{
		{"plain error", "/api/catalog/boom", "GET", "database exploded"},
		{"SQLite message with SQL text", "/api/catalog/sql", "GET", "Expression tree is too large"},
		{"PostgreSQL message", "/api/catalog/pg", "GET", "SQLSTATE 54001"},
		{"host path", "/api/catalog/path", "GET", "/root/secret/catalog.sqlite"},
		{"panic", "/api/catalog/panic", "GET", "index out of range"},
		{"panic under HEAD", "/api/catalog/panic", "HEAD", "index out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, tc.method, b.url+tc.path, nil, "")
			if r.status != http.StatusInternalServerError {
				t.Fatalf("status %d, body %s", r.status, r.body)
			}
			for k := range r.header {
				if strings.Contains(strings.ToLower(k), "request-id") {
					t.Errorf("response has header %s; Backstage sends no request id", k)
				}
			}
			if tc.method == "HEAD" {
				return
			}
			var env struct {
				Error    struct{ Name, Message string }
				Request  struct{ Method, URL string }
				Response struct{ StatusCode int }
			}
			if err := json.Unmarshal([]byte(r.body), &env); err != nil {
				t.Fatalf("body is not the envelope: %v: %s", err, r.body)
			}
			m := logID.FindStringSubmatch(env.Error.Message)
			if env.Error.Name != "Error" || m == nil || env.Response.StatusCode != 500 || env.Request.URL != strings.TrimPrefix(tc.path, "/api/catalog") {
				t.Fatalf("envelope %+v", env)
			}
			for _, leak := range []string{tc.detail, "SELECT", "goroutine", ".go:", "/root/"} {
				if strings.Contains(r.body, leak) {
					t.Errorf("body leaks %q: %s", leak, r.body)
				}
			}
			// The error line and the access line carry the id of the message.
			b.logs.waitFor(`"url":"` + tc.path + `","status":500`)
			var errLine, accessLine bool
			for _, line := range strings.Split(b.logs.String(), "\n") {
				if !strings.Contains(line, `"requestId":"`+m[1]+`"`) {
					continue
				}
				errLine = errLine || (strings.Contains(line, `"msg":"Request failed with status 500"`) && strings.Contains(line, tc.detail))
				accessLine = accessLine || strings.Contains(line, `"type":"incomingRequest"`)
			}
			if !errLine || !accessLine {
				t.Errorf("log lacks the error (%v) or access (%v) line with requestId %s:\n%s", errLine, accessLine, m[1], b.logs.String())
			}
		})
	}
	t.Run("error after the response went out is only logged", func(t *testing.T) {
		r := do(t, "GET", b.url+"/api/catalog/late", nil, "")
		if r.status != 200 || r.body != `{"items":[]}` {
			t.Fatalf("got %d %s", r.status, r.body)
		}
		b.logs.waitFor("sql: Rows are closed")
	})
	t.Run("requests get distinct ids", func(t *testing.T) {
		a := do(t, "GET", b.url+"/api/catalog/boom", nil, "")
		c := do(t, "GET", b.url+"/api/catalog/boom", nil, "")
		if a.body == c.body {
			t.Errorf("two requests share a log id: %s", a.body)
		}
	})
	// Classified errors keep their message.
	if r := do(t, "GET", b.url+"/api/catalog/wrapped", nil, ""); r.status != 400 || !strings.Contains(r.body, "bad <input>") {
		t.Errorf("classified error hidden: %s", r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cfg, wantCSP, wantReferrer string
	}{
		{"defaults", "", "default-src 'self';base-uri 'self';font-src 'self' https: data:;frame-ancestors 'self';img-src 'self' data:;object-src 'none';script-src 'self' 'unsafe-eval';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';upgrade-insecure-requests", "no-referrer"},
		{"csp overrides", "backend:\n  csp:\n    imgSrc: [\"'self'\", 'https://img.example.com']\n    upgradeInsecureRequests: false\n    connect-src: [\"'self'\", 'http:', 'https:']\n  referrer:\n    policy: [same-origin]\n",
			"default-src 'self';base-uri 'self';font-src 'self' https: data:;frame-ancestors 'self';img-src 'self' https://img.example.com;object-src 'none';script-src 'self' 'unsafe-eval';script-src-attr 'none';style-src 'self' https: 'unsafe-inline';connect-src 'self' http: https:", "same-origin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t, tc.cfg, nil)
			r := do(t, "GET", b.url+"/api/catalog/nope", nil, "")
			want := map[string]string{
				"Content-Security-Policy":           tc.wantCSP,
				"Referrer-Policy":                   tc.wantReferrer,
				"Strict-Transport-Security":         "max-age=15552000; includeSubDomains",
				"X-Content-Type-Options":            "nosniff",
				"X-Dns-Prefetch-Control":            "off",
				"X-Download-Options":                "noopen",
				"X-Frame-Options":                   "SAMEORIGIN",
				"X-Permitted-Cross-Domain-Policies": "none",
				"X-Xss-Protection":                  "0",
			}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t, "backend:\n  health:\n    headers: {x-probe: yes-sir}\n", nil)
	tests := []struct {
		name       string
		ready      bool
		path       string
		wantStatus int
		wantBody   string
	}{
		{"liveness before start", false, "/.backstage/health/v1/liveness", 200, `{"status":"ok"}`},
		{"readiness before start", false, "/.backstage/health/v1/readiness", 503, `{"message":"Backend has not started yet","status":"error"}`},
		{"readiness after start", true, "/.backstage/health/v1/readiness", 200, `{"status":"ok"}`},
	}
	for _, tc := range tests {
		if tc.ready {
			b.srv.SetReady()
		}
		r := do(t, "GET", b.url+tc.path, nil, "")
		if r.status != tc.wantStatus || r.body != tc.wantBody {
			t.Errorf("%s: got %d %s", tc.name, r.status, r.body)
		}
		if got := r.header.Get("ETag"); got != ETag([]byte(tc.wantBody)) {
			t.Errorf("%s: ETag %q", tc.name, got)
		}
		if got := r.header.Get("X-Probe"); got != "yes-sir" {
			t.Errorf("%s: configured health header = %q", tc.name, got)
		}
	}
}

func TestETag(t *testing.T) {
	t.Parallel()
	// The value the oracle sends for {"status":"ok"}.
	if got := ETag([]byte(`{"status":"ok"}`)); got != `W/"f-VaSQ4oDUiZblZNAEkkN+sX+q3Sg"` {
		t.Fatalf("ETag = %s", got)
	}
	b := setup(t, "", nil)
	etag := ETag([]byte(`{"items":[]}`))
	tests := []struct {
		name, method, inm string
		wantStatus        int
	}{
		{"matching If-None-Match", "GET", etag, 304},
		{"strong form matches weakly", "GET", strings.TrimPrefix(etag, "W/"), 304},
		{"other etag", "GET", `W/"1-x"`, 200},
		{"no header", "GET", "", 200},
	}
	for _, tc := range tests {
		r := do(t, tc.method, b.url+"/api/catalog/entities", map[string]string{"If-None-Match": tc.inm}, "")
		if r.status != tc.wantStatus {
			t.Errorf("%s: status %d", tc.name, r.status)
		}
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	cfg := `backend:
  cors:
    origin: [http://localhost:3000, 'http://*.example.com', 'https://{a,b}.test']
    methods: [GET, POST]
    credentials: true
    maxAge: 600
    exposedHeaders: link
`
	b := setup(t, cfg, nil)
	tests := []struct {
		name        string
		method      string
		origin      string
		reqHeaders  string
		wantStatus  int
		wantHeaders map[string]string // "" means absent
	}{
		{"preflight from an allowed origin", "OPTIONS", "http://localhost:3000", "content-type,authorization", 204, map[string]string{
			"Access-Control-Allow-Origin":      "http://localhost:3000",
			"Access-Control-Allow-Methods":     "GET,POST",
			"Access-Control-Allow-Headers":     "content-type,authorization",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Max-Age":           "600",
			"Access-Control-Expose-Headers":    "link",
			"Vary":                             "Origin, Access-Control-Request-Headers",
			"X-Frame-Options":                  "SAMEORIGIN",
		}},
		{"preflight on a path with no routes", "OPTIONS", "http://app.example.com", "", 204, map[string]string{
			"Access-Control-Allow-Origin": "http://app.example.com",
		}},
		{"glob is case-insensitive and one label deep", "OPTIONS", "HTTP://APP.EXAMPLE.COM", "", 204, map[string]string{
			"Access-Control-Allow-Origin": "HTTP://APP.EXAMPLE.COM",
		}},
		{"glob does not cross a slash", "GET", "http://a/b.example.com", "", 200, map[string]string{
			"Access-Control-Allow-Origin": "",
		}},
		{"braces", "GET", "https://b.test", "", 200, map[string]string{
			"Access-Control-Allow-Origin":   "https://b.test",
			"Access-Control-Expose-Headers": "link",
			"Vary":                          "Origin, Accept-Encoding",
		}},
		{"disallowed origin gets nothing", "OPTIONS", "http://evil.com", "x", 200, map[string]string{
			"Access-Control-Allow-Origin":  "",
			"Access-Control-Allow-Methods": "",
			"Vary":                         "Accept-Encoding",
		}},
		{"no origin gets nothing", "GET", "", "", 200, map[string]string{
			"Access-Control-Allow-Origin": "",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.origin != "" {
				h["Origin"] = tc.origin
			}
			if tc.reqHeaders != "" {
				h["Access-Control-Request-Headers"] = tc.reqHeaders
				h["Access-Control-Request-Method"] = "POST"
			}
			path := "/api/catalog/entities"
			if strings.Contains(tc.name, "no routes") {
				path = "/api/nothing/here"
			}
			r := do(t, tc.method, b.url+path, h, "")
			if r.status != tc.wantStatus {
				t.Errorf("status %d, want %d (%s)", r.status, tc.wantStatus, r.body)
			}
			for k, v := range tc.wantHeaders {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestCORSDefaults(t *testing.T) {
	t.Parallel()
	b := setup(t, "backend:\n  cors:\n    origin: http://localhost:3000\n    allowedHeaders: []\n", nil)
	r := do(t, "OPTIONS", b.url+"/api/catalog/entities", map[string]string{"Origin": "http://localhost:3000", "Access-Control-Request-Headers": "x-a"}, "")
	if r.status != 204 || r.header.Get("Access-Control-Allow-Methods") != defaultCORSMethods ||
		r.header.Get("Access-Control-Allow-Headers") != "" || r.header.Get("Access-Control-Allow-Credentials") != "" ||
		r.header.Get("Vary") != "Origin" {
		t.Errorf("got %d %v", r.status, r.header)
	}
}

func TestExpressMethodHandling(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	tests := []struct {
		name, method, path  string
		wantStatus          int
		wantBody, wantAllow string
	}{
		{"OPTIONS without CORS lists the methods", "OPTIONS", "/api/catalog/entities", 200, "GET,HEAD,DELETE", "GET,HEAD,DELETE"},
		{"OPTIONS on an unknown path", "OPTIONS", "/api/catalog/nope", 404, "", ""},
		{"HEAD served by GET, without a body", "HEAD", "/api/catalog/entities", 200, "", ""},
		{"HEAD on an error keeps the method", "HEAD", "/api/catalog/wrapped", 400, "", ""},
	}
	for _, tc := range tests {
		r := do(t, tc.method, b.url+tc.path, nil, "")
		if r.status != tc.wantStatus || r.body != tc.wantBody || r.header.Get("Allow") != tc.wantAllow {
			t.Errorf("%s: got %d %q Allow=%q", tc.name, r.status, r.body, r.header.Get("Allow"))
		}
	}
	// Hangs (and the test times out) if the access log never names HEAD.
	b.logs.waitFor(`"type":"incomingRequest","method":"HEAD","url":"/api/catalog/wrapped","status":400`)
}

func TestCompression(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	tests := []struct {
		name, path, accept string
		wantEncoding       string
		wantVary           string
	}{
		{"large JSON gzipped", "/api/catalog/big", "gzip, deflate, br", "gzip", "Accept-Encoding"},
		{"large JSON, client refuses gzip", "/api/catalog/big", "gzip;q=0", "", "Accept-Encoding"},
		{"small JSON", "/api/catalog/entities", "gzip", "", "Accept-Encoding"},
		{"error envelope varies too", "/api/catalog/wrapped", "gzip", "", "Accept-Encoding"},
		{"empty 404", "/api/catalog/nope", "gzip", "", ""},
	}
	for _, tc := range tests {
		r := do(t, "GET", b.url+tc.path, map[string]string{"Accept-Encoding": tc.accept}, "")
		if got := r.header.Get("Content-Encoding"); got != tc.wantEncoding {
			t.Errorf("%s: Content-Encoding %q", tc.name, got)
		}
		if got := r.header.Get("Vary"); got != tc.wantVary {
			t.Errorf("%s: Vary %q", tc.name, got)
		}
		if tc.wantEncoding == "gzip" {
			zr, err := gzip.NewReader(strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil || !strings.HasPrefix(string(plain), `{"pad":"xxx`) || len(plain) != 4010 {
				t.Errorf("%s: decoded %d bytes, err %v", tc.name, len(plain), err)
			}
		}
	}
}

func TestReadBody(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(`{"a":1}`))
	_ = zw.Close()
	var zl bytes.Buffer
	zlw := zlib.NewWriter(&zl)
	_, _ = zlw.Write([]byte(`{"a":1}`))
	_ = zlw.Close()
	tests := []struct {
		name, body, encoding string
		wantStatus           int
		wantBody             string
	}{
		{"within the limit", `{"a":1}`, "", 200, `{"a":1}`},
		{"exactly the limit", `{"a":"123456789"}`[:16], "", 200, `{"a":"123456789"`},
		{"gzip inflated", gz.String(), "gzip", 200, `{"a":1}`},
		{"unknown encoding", `x`, "br", 400, `{"error":{"name":"InputError","message":"unsupported content encoding \"br\""},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`},
		// zlib's messages, as Node answers them.
		{"gzip of nothing", "", "gzip", 400, `{"error":{"name":"InputError","message":"unexpected end of file"},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`},
		{"not gzip", "plain text", "gzip", 400, `{"error":{"name":"InputError","message":"incorrect header check"},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`},
		{"gzip with trailing bytes", gz.String() + "xx", "gzip", 400, `{"error":{"name":"InputError","message":"incorrect header check"},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`},
		{"deflate is zlib", zl.String(), "deflate", 200, `{"a":1}`},
		{"raw deflate is not zlib", zl.String()[2:], "deflate", 400, `{"error":{"name":"InputError","message":"incorrect header check"},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`},
	}
	for _, tc := range tests {
		h := map[string]string{"Content-Type": "application/json"}
		if tc.encoding != "" {
			h["Content-Encoding"] = tc.encoding
		}
		r := do(t, "POST", b.url+"/api/catalog/body", h, tc.body)
		if r.status != tc.wantStatus || r.body != tc.wantBody {
			t.Errorf("%s: got %d %s", tc.name, r.status, r.body)
		}
	}
	// A client that stops sending before its Content-Length: "request
	// aborted", a 400, not a 500 with the reader's error.
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /api/catalog/body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{\"a\""); err != nil {
		t.Fatal(err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if want := `{"error":{"name":"InputError","message":"request aborted"},"request":{"method":"POST","url":"/body"},"response":{"statusCode":400}}`; res.StatusCode != 400 || string(body) != want {
		t.Errorf("aborted body: %d %s", res.StatusCode, body)
	}
}

func TestListenSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cfg, want, wantErr string
	}{
		{"default", "", ":7007", ""},
		{"port string", "backend: {listen: '8080'}", ":8080", ""},
		{"colon form", "backend: {listen: ':7008'}", ":7008", ""},
		{"host and port string", "backend: {listen: '127.0.0.1:9000'}", "127.0.0.1:9000", ""},
		{"object", "backend: {listen: {host: 0.0.0.0, port: 7100}}", "0.0.0.0:7100", ""},
		{"object with numeric string port", "backend: {listen: {port: '7101'}}", ":7101", ""},
		{"bad string", "backend: {listen: 'a:b:c'}", "", "unable to parse listen address a:b:c"},
		{"bad cors", "backend: {cors: {origin: [1]}}", "", "wanted string-array"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.LoadBytes([]byte(tc.cfg), "app-config.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			s := New(Options{Config: cfg})
			if tc.wantErr != "" {
				if s.Err() == nil || !strings.Contains(s.Err().Error(), tc.wantErr) {
					t.Fatalf("Err = %v", s.Err())
				}
				if err := s.Run(context.Background()); err == nil {
					t.Error("Run must refuse a bad config")
				}
				return
			}
			if got := s.BaseURL(); tc.name == "default" && got != "http://localhost:7007" {
				t.Errorf("default BaseURL = %q", got)
			}
			if got := s.ListenAddr(); got != tc.want {
				t.Errorf("ListenAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestServeAndShutdown(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadBytes([]byte("backend:\n  baseUrl: http://127.0.0.1\n  listen: {host: 127.0.0.1, port: 0}\n"), "app-config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Config: cfg})
	if s.BaseURL() != "http://127.0.0.1" {
		t.Errorf("BaseURL = %q", s.BaseURL())
	}
	unblock := make(chan struct{})
	started := make(chan struct{})
	s.Plugin("slow").GET("/wait", func(c echo.Context) error {
		close(started)
		<-unblock
		return WriteJSON(c, http.StatusOK, []byte(`{"done":true}`))
	})
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	base := "http://" + ln.Addr().String()
	if r := do(t, "GET", base+"/.backstage/health/v1/readiness", nil, ""); r.status != 200 {
		t.Fatalf("readiness %d", r.status)
	}
	slow := make(chan response, 1)
	go func() { slow <- do(t, "GET", base+"/api/slow/wait", nil, "") }()
	<-started
	cancel()
	// The in-flight request still completes during graceful shutdown.
	close(unblock)
	if r := <-slow; r.status != 200 || r.body != `{"done":true}` {
		t.Errorf("in-flight request: %d %s", r.status, r.body)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve = %v", err)
	}
	if _, err := http.Get(base + "/.backstage/health/v1/liveness"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// BenchmarkRequest measures the root router's per-request overhead (all
// middleware plus the error-free JSON path) without a network.
// TestRequestHeadLimit: a request line and headers over Node's 16 KiB
// answer 431 as Backstage's do; a long query string under it is served.
func TestRequestHeadLimit(t *testing.T) {
	t.Parallel()
	cfg, err := config.LoadBytes([]byte("backend:\n  listen: {host: 127.0.0.1, port: 0}\n"), "app-config.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(Options{Config: cfg})
	s.Plugin("catalog").GET("/entities", func(c echo.Context) error {
		return WriteJSON(c, http.StatusOK, []byte(`{"items":[]}`))
	})
	ln, err := s.Listen()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// status sends a request whose head (line, Host header, blank line) is
	// exactly size bytes and returns the status line.
	status := func(size int) string {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := func(pad int) string {
			return "GET /api/catalog/entities?filter=" + strings.Repeat("a", pad) + " HTTP/1.1\r\nHost: x\r\n\r\n"
		}
		req := head(size - len(head(0)))
		if _, err := io.WriteString(conn, req); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer to %d bytes: %v", size, err)
		}
		return strings.TrimSpace(line)
	}
	tests := []struct {
		size int
		want string
	}{
		{1000, "HTTP/1.1 200 OK"},
		{16 << 10, "HTTP/1.1 200 OK"},
		{16<<10 + 64, "HTTP/1.1 431 Request Header Fields Too Large"},
		{1 << 20, "HTTP/1.1 431 Request Header Fields Too Large"},
	}
	for _, tc := range tests {
		if got := status(tc.size); got != tc.want {
			t.Errorf("%d-byte request head: %q, want %q", tc.size, got, tc.want)
		}
	}
}

func BenchmarkRequest(b *testing.B) {
	s := New(Options{})
	body := []byte(`{"items":[]}`)
	s.Plugin("catalog").GET("/entities", func(c echo.Context) error { return WriteJSON(c, http.StatusOK, body) })
	req := httptest.NewRequest(http.MethodGet, "/api/catalog/entities", nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
}

// TestShutdownCancelsStuckRequests: requests still running after the grace
// period are cancelled (a handler waiting on its context returns) and
// connections closed (a handler reading a body that never ends gets an
// error), and Serve returns nil; a handler that ignores both makes Serve
// report it is still running.
func TestShutdownCancelsStuckRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler func(c echo.Context, release <-chan struct{}) error
		body    bool // send a body that never ends
		wantErr error
	}{
		{name: "slow query", handler: func(c echo.Context, _ <-chan struct{}) error {
			<-c.Request().Context().Done()
			return c.Request().Context().Err()
		}},
		{name: "endless body", body: true, handler: func(c echo.Context, _ <-chan struct{}) error {
			_, err := io.Copy(io.Discard, c.Request().Body)
			return err
		}},
		{name: "ignores everything", handler: func(c echo.Context, release <-chan struct{}) error {
			<-release
			return nil
		}, wantErr: lifecycle.ErrStillRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := config.LoadBytes([]byte("backend:\n  listen: {host: 127.0.0.1, port: 0}\n"), "app-config.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			s := New(Options{Config: cfg, ShutdownTimeout: 100 * time.Millisecond})
			started, release := make(chan struct{}), make(chan struct{})
			defer close(release)
			s.Plugin("stuck").POST("/x", func(c echo.Context) error {
				close(started)
				return tt.handler(c, release)
			})
			ln, err := s.Listen()
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST /api/stuck/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
			if tt.body {
				head = "POST /api/stuck/x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n{"
			}
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			<-started
			cancel()
			if err := <-done; !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Serve = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// A string PostgreSQL's encoding cannot hold (a NUL, bytes that are not
// UTF-8) comes from the request: a 400 InputError that says so, not an
// internal error, and the driver's message stays out of the body.
func TestUnreadableTextIsABadRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	r := do(t, "GET", b.url+"/api/catalog/badtext", nil, "")
	want := `{"error":{"name":"InputError","message":"The request holds text the database cannot read: a NUL character or bytes that are not UTF-8"},` +
		`"request":{"method":"GET","url":"/badtext"},"response":{"statusCode":400}}`
	if r.status != http.StatusBadRequest || r.body != want {
		t.Fatalf("%d %s", r.status, r.body)
	}
}

// A path parameter that decodes to bytes that are not UTF-8 is refused as
// express refuses it, before the handler; a request that matches no route
// stays a 404, and a well-formed escape reaches the handler decoded.
func TestMalformedPathParameter(t *testing.T) {
	t.Parallel()
	b := setup(t, "", nil)
	tests := []struct {
		path   string
		status int
		body   string
	}{
		{"/api/catalog/entities/by-name/component/default/%FF", 400,
			`{"error":{"name":"InputError","message":"malformed uri'"},"request":{"method":"GET","url":"/entities/by-name/component/default/%FF"},"response":{"statusCode":400}}`},
		{"/api/catalog/entities/by-name/%E0%80/default/x", 400,
			`{"error":{"name":"InputError","message":"malformed uri'"},"request":{"method":"GET","url":"/entities/by-name/%E0%80/default/x"},"response":{"statusCode":400}}`},
		{"/api/catalog/entities/by-name/component/default/caf%C3%A9", 404,
			`{"error":{"name":"NotFoundError","message":"No entity named 'café' found, with kind 'component' in namespace 'default'"},"request":{"method":"GET","url":"/entities/by-name/component/default/caf%C3%A9"},"response":{"statusCode":404}}`},
		{"/api/catalog/nope/%FF", 404, ""},
	}
	for _, tc := range tests {
		r := do(t, "GET", b.url+tc.path, nil, "")
		if r.status != tc.status || r.body != tc.body {
			t.Errorf("%s: %d %s\nwant %d %s", tc.path, r.status, r.body, tc.status, tc.body)
		}
	}
}
