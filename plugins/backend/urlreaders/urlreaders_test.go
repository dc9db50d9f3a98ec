package urlreaders_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/urlreaders"
	"github.com/understage/understage/plugins/github/githubtest"
)

func fileServer(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/public/a.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"v1"`)
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		fmt.Fprint(w, "kind: Component\n")
	})
	mux.HandleFunc("/public/to-secret", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/secret", http.StatusFound)
	})
	mux.HandleFunc("/public/to-public", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/public/a.yaml", http.StatusFound)
	})
	mux.HandleFunc("/secret", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "secret") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func notAllowedMessage(u string) string {
	return "Reading from '" + u + "' is not allowed. You may need to configure an integration for the target host, " +
		"or add it to the configured list of allowed hosts at 'backend.reading.allow'"
}

func TestBuild(t *testing.T) {
	t.Parallel()
	gh := githubtest.New(t)
	gh.AddRepo(githubtest.Repo{Owner: "acme", Name: "shop", Files: map[string]string{"catalog-info.yaml": "gh"}})
	fs := fileServer(t)
	host := strings.TrimPrefix(fs.URL, "http://")
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "other") }))
	t.Cleanup(other.Close)
	cfg := config.FromValue(map[string]any{
		"integrations": map[string]any{"github": []any{
			map[string]any{"host": "github.test", "apiBaseUrl": gh.APIURL()},
		}},
		"backend": map[string]any{"reading": map[string]any{"allow": []any{
			map[string]any{"host": host, "paths": []any{"/public/"}},
			// A wildcard may match a loopback host name, but must never reach it.
			map[string]any{"host": "*.0.0.1"},
		}}},
	}, "app-config.yaml")
	readers, err := urlreaders.Build(context.Background(), cfg, urlreaders.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := readers.Names(); !slices.Equal(got, []string{"github:github.test", "github:github.com", "fetch"}) {
		t.Fatalf("readers = %v", got)
	}
	ctx := context.Background()
	tests := []struct {
		name    string
		url     string
		want    string
		kind    *backend.Kind
		message string
	}{
		{name: "github integration on a loopback API", url: "https://github.test/acme/shop/blob/main/catalog-info.yaml", want: "gh"},
		{name: "allowed host and path", url: fs.URL + "/public/a.yaml", want: "kind: Component\n"},
		{name: "redirect within the allowed paths", url: fs.URL + "/public/to-public", want: "kind: Component\n"},
		// Outside the exact rule's paths, only the wildcard claims it, and
		// that one refuses the loopback address.
		{name: "path outside the allowed paths", url: fs.URL + "/secret", kind: backend.ErrNotAllowed},
		{name: "dot segments", url: fs.URL + "/public/../secret", kind: backend.ErrNotAllowed},
		{name: "encoded dot segments", url: fs.URL + "/public/%2e%2e/secret", kind: backend.ErrNotAllowed},
		{name: "redirect out of the allowed paths", url: fs.URL + "/public/to-secret", kind: backend.ErrNotAllowed},
		{name: "wildcard rule never reaches loopback", url: other.URL + "/x", kind: backend.ErrNotAllowed},
		{name: "unconfigured metadata address", url: "http://169.254.169.254/latest/meta-data/",
			kind: backend.ErrNotAllowed, message: notAllowedMessage("http://169.254.169.254/latest/meta-data/")},
		{name: "unconfigured loopback", url: "http://localhost:" + strings.Split(host, ":")[1] + "/public/a.yaml",
			kind: backend.ErrNotAllowed},
		{name: "local file", url: "file:///etc/passwd", kind: backend.ErrNotAllowed,
			message: notAllowedMessage("file:///etc/passwd")},
		{name: "credentials in the URL", url: "http://user:pw@" + host + "/public/a.yaml", kind: backend.ErrNotAllowed},
		{name: "not a URL", url: "catalog-info.yaml", kind: backend.ErrNotAllowed,
			message: notAllowedMessage("catalog-info.yaml")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := readers.ReadURL(ctx, tc.url, catalog.ReadOptions{})
			if tc.kind != nil {
				if backend.KindOf(err) != tc.kind {
					t.Fatalf("err = %v, want %s", err, tc.kind.Name)
				}
				if tc.message != "" && backend.MessageOf(err) != tc.message {
					t.Fatalf("message = %q\nwant %q", backend.MessageOf(err), tc.message)
				}
				return
			}
			if err != nil || string(res.Data) != tc.want {
				t.Fatalf("read = %q, %v", res.Data, err)
			}
		})
	}
	res, err := readers.ReadURL(ctx, fs.URL+"/public/a.yaml", catalog.ReadOptions{})
	if err != nil || res.ETag != `"v1"` {
		t.Fatalf("etag = %q, %v", res.ETag, err)
	}
	if _, err := readers.ReadURL(ctx, fs.URL+"/public/a.yaml", catalog.ReadOptions{ETag: res.ETag}); !errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("conditional fetch: %v", err)
	}
	if _, err := readers.ReadURL(ctx, fs.URL+"/public/missing", catalog.ReadOptions{}); backend.KindOf(err) != backend.ErrNotFound {
		t.Fatalf("missing: %v", err)
	}
	if _, err := readers.ReadTree(ctx, fs.URL+"/public/", catalog.ReadOptions{}); backend.KindOf(err) != backend.ErrNotImplemented {
		t.Fatalf("fetch tree: %v", err)
	}
}

func TestAllowListConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		allow []any
		err   bool
	}{
		{name: "host and paths", allow: []any{map[string]any{"host": "example.com", "paths": []any{"/a/"}}}},
		{name: "wildcard", allow: []any{map[string]any{"host": "*.example.com"}}},
		{name: "bare star", allow: []any{map[string]any{"host": "*"}}, err: true},
		{name: "star in the middle", allow: []any{map[string]any{"host": "a.*.com"}}, err: true},
		{name: "url instead of host", allow: []any{map[string]any{"host": "https://example.com"}}, err: true},
		{name: "no host", allow: []any{map[string]any{"paths": []any{"/a"}}}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.FromValue(map[string]any{"backend": map[string]any{"reading": map[string]any{"allow": tc.allow}}}, "x.yaml")
			_, err := urlreaders.ReadAllowList(cfg)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
		})
	}
}

func TestFetchClaims(t *testing.T) {
	t.Parallel()
	f := urlreaders.NewFetchReader([]urlreaders.AllowRule{
		{Host: "example.com"}, {Host: "*.corp.example"}, {Host: "docs.example.org:8443", Paths: []string{"/pub/"}},
	}, urlreaders.FetchOptions{})
	readers := catalog.NewURLReaders()
	readers.Register("fetch", f.Claims, f)
	tests := []struct {
		url  string
		want bool
	}{
		{"https://example.com/a", true},
		{"https://example.com:444/a", true},
		{"https://sub.example.com/a", false},
		{"https://a.corp.example/x", true},
		{"https://corp.example/x", false},
		{"https://evilcorp.example/x", false},
		{"https://docs.example.org:8443/pub/x", true},
		{"https://docs.example.org/pub/x", false},
		{"https://docs.example.org:8443/private", false},
		{"ftp://example.com/a", false},
	}
	for _, tc := range tests {
		_, err := readers.ReaderFor(tc.url)
		if got := err == nil; got != tc.want {
			t.Errorf("ReaderFor(%s): %v, want allowed %v", tc.url, err, tc.want)
		}
	}
}
