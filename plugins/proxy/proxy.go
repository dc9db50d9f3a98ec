// Package proxy is a small counterpart of Backstage's proxy-backend: the
// endpoints under proxy.endpoints (or, in the older form, keys starting
// with "/" directly under proxy) are forwarded from /api/proxy/<endpoint>/…
// to their target. Without endpoints it mounts nothing, so /api/proxy stays
// the plain 404 of a backend without the plugin.
//
// As in Backstage, only a safe list of request headers (plus each
// endpoint's allowedHeaders) reaches the target, the caller's Authorization
// and cookies never do unless allowed, configured headers are added, and
// allowedMethods limits the methods.
package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Endpoint is one configured proxy endpoint.
type Endpoint struct {
	Path           string // "/test", relative to /api/proxy
	Target         *url.URL
	ChangeOrigin   bool
	Headers        map[string]string
	AllowedMethods []string
	AllowedHeaders []string
	// Unauthenticated is credentials: dangerously-allow-unauthenticated.
	Unauthenticated bool
}

// safeHeaders are forwarded by default, as Backstage's proxy does.
var safeHeaders = []string{
	"Cache-Control", "Content-Language", "Content-Length", "Content-Type", "Expires", "Last-Modified", "Pragma",
	"Host", "Accept", "Accept-Language", "User-Agent",
}

// ReadConfig reads proxy.endpoints and the older top-level form. The
// endpoint keys are paths, which dotted config keys cannot name, so the
// section is read as plain values, as Backstage's proxy reads it.
func ReadConfig(cfg *config.Config) ([]Endpoint, error) {
	root, ok := ojson.ToGo(cfg.Get("proxy")).(map[string]any)
	if !ok {
		return nil, nil
	}
	var out []Endpoint
	add := func(path string, v any) error {
		ep := Endpoint{Path: "/" + strings.Trim(path, "/")}
		target, isString := v.(string)
		if !isString {
			m, ok := v.(map[string]any)
			if !ok {
				return fmt.Errorf("proxy endpoint %s: must be a target URL or an object", path)
			}
			if target, ok = m["target"].(string); !ok {
				return fmt.Errorf("proxy endpoint %s: missing target", path)
			}
			ep.ChangeOrigin, _ = m["changeOrigin"].(bool)
			if hs, ok := m["headers"].(map[string]any); ok {
				ep.Headers = map[string]string{}
				for k, v := range hs {
					ep.Headers[k] = fmt.Sprint(v)
				}
			}
			ep.AllowedMethods = stringList(m["allowedMethods"])
			ep.AllowedHeaders = stringList(m["allowedHeaders"])
			ep.Unauthenticated = m["credentials"] == "dangerously-allow-unauthenticated"
		}
		u, err := url.Parse(target)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("proxy endpoint %s: invalid target %q", path, target)
		}
		ep.Target = u
		out = append(out, ep)
		return nil
	}
	if eps, ok := root["endpoints"].(map[string]any); ok {
		for k, v := range eps {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	}
	for k, v := range root {
		if strings.HasPrefix(k, "/") {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	}
	// Longest path first, so /a/b wins over /a; then by name, for a stable
	// route order.
	sort.Slice(out, func(i, j int) bool {
		if len(out[i].Path) != len(out[j].Path) {
			return len(out[i].Path) > len(out[j].Path)
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

func stringList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Register mounts each endpoint on g (the /api/proxy router).
func Register(g *echo.Group, endpoints []Endpoint, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, ep := range endpoints {
		h := handler(ep, log)
		g.Any(ep.Path, h)
		g.Any(ep.Path+"/*", h)
	}
}

func handler(ep Endpoint, log *slog.Logger) echo.HandlerFunc {
	allowed := map[string]bool{}
	for _, h := range append(append([]string{}, safeHeaders...), ep.AllowedHeaders...) {
		allowed[http.CanonicalHeaderKey(h)] = true
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			in := r.In
			rest := strings.TrimPrefix(in.URL.Path, "/api/proxy"+ep.Path)
			r.Out.URL = &url.URL{
				Scheme:   ep.Target.Scheme,
				Host:     ep.Target.Host,
				Path:     strings.TrimSuffix(ep.Target.Path, "/") + rest,
				RawQuery: in.URL.RawQuery,
			}
			if r.Out.URL.Path == "" {
				r.Out.URL.Path = "/"
			}
			for k := range r.Out.Header {
				if !allowed[k] {
					r.Out.Header.Del(k)
				}
			}
			for k, v := range ep.Headers {
				r.Out.Header.Set(k, v)
			}
			if ep.ChangeOrigin {
				r.Out.Host = ep.Target.Host
			} else {
				r.Out.Host = in.Host
			}
		},
		ModifyResponse: func(res *http.Response) error {
			if !allowed["Set-Cookie"] {
				res.Header.Del("Set-Cookie")
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.WarnContext(r.Context(), "proxy request failed", "endpoint", ep.Path, "err", err)
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	return func(c echo.Context) error {
		if len(ep.AllowedMethods) > 0 {
			ok := false
			for _, m := range ep.AllowedMethods {
				if strings.EqualFold(m, c.Request().Method) {
					ok = true
				}
			}
			if !ok {
				return c.NoContent(http.StatusMethodNotAllowed)
			}
		}
		rp.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}
