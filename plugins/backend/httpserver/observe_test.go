package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend/metrics"
	"github.com/understage/understage/plugins/backend/metrics/metricstest"
)

// TestRequestMetrics: requests are counted by method, route template and
// status; paths and methods a client makes up never become label values.
func TestRequestMetrics(t *testing.T) {
	ms, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	b := setup(t, "", func(o *Options) { o.Meter = ms.Meter("http") })
	b.srv.Echo().GET("/metrics", echo.WrapHandler(ms.Handler()))
	for range 3 {
		do(t, "GET", b.url+"/api/catalog/entities/by-name/component/default/secret-name-1", nil, "")
	}
	do(t, "GET", b.url+"/api/catalog/boom", nil, "")
	do(t, "GET", b.url+"/api/unknown/secret-path-2", nil, "")
	do(t, "FOOBAR", b.url+"/api/catalog/entities", nil, "")
	if r := do(t, "HEAD", b.url+"/api/catalog/entities", nil, ""); r.status != 200 {
		t.Fatalf("HEAD: %d", r.status)
	}

	metricstest.Scrape(t, b.url+"/metrics", nil)
	f := metricstest.Scrape(t, b.url+"/metrics", nil)
	const fam = "http_server_request_duration_seconds"
	for _, c := range []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"http_route": "/api/catalog/entities/by-name/:kind/:ns/:name", "http_request_method": "GET", "http_response_status_code": "404"}, 3},
		{map[string]string{"http_route": "/api/catalog/boom", "http_response_status_code": "500"}, 1},
		{map[string]string{"http_route": "/api/catalog/entities", "http_request_method": "HEAD", "http_response_status_code": "200"}, 1},
		{map[string]string{"http_request_method": "_OTHER"}, 1},
	} {
		if got, _ := f.Value(fam, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", fam, c.labels, got, c.want)
		}
	}
	for _, label := range []string{"http_route", "http_request_method"} {
		for _, v := range f.LabelValues(fam, label) {
			if strings.Contains(v, "secret") || v == "FOOBAR" {
				t.Errorf("%s label %s = %q: a client-chosen value became a series", fam, label, v)
			}
		}
	}
	if !slices.Contains(f.LabelValues(fam, "http_route"), "/metrics") {
		t.Errorf("routes %v: the first scrape is not recorded", f.LabelValues(fam, "http_route"))
	}
}

// TestRequestIDOnLogLines: a line logged with the request's context carries
// the id of the request's access-log line.
func TestRequestIDOnLogLines(t *testing.T) {
	logs := newSyncBuffer()
	log := slog.New(LogHandler(slog.NewJSONHandler(logs, nil)))
	s := New(Options{Logger: log})
	s.Plugin("p").GET("/x", func(c echo.Context) error {
		log.InfoContext(c.Request().Context(), "inside the handler")
		return c.NoContent(http.StatusNoContent)
	})
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	if r := do(t, "GET", hs.URL+"/api/p/x", nil, ""); r.status != http.StatusNoContent {
		t.Fatalf("status %d", r.status)
	}
	logs.waitFor("incomingRequest")
	var handlerID, accessID string
	for _, line := range bytes.Split([]byte(logs.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		id, _ := m["requestId"].(string)
		switch {
		case m["msg"] == "inside the handler":
			handlerID = id
		case m["type"] == "incomingRequest":
			accessID = id
		}
	}
	if handlerID == "" || handlerID != accessID {
		t.Fatalf("handler line requestId %q, access line %q; want the same non-empty id\n%s", handlerID, accessID, logs.String())
	}
	if _, ok := RequestIDFrom(context.Background()); ok {
		t.Fatal("a background context has a request id")
	}
}
