// Package app serves the built Backstage frontend from understage itself, as
// Backstage's app-backend does: static files from the app's dist folder at
// "/", index.html for every other non-API path (the app routes in the
// browser), long-lived caching for the content-hashed assets under static/,
// and the frontend configuration injected into index.html at start-up so
// that one build works for any base URL.
//
// The stock app sources live in web/<line> (see build.sh); this package
// only needs their build output.
package app

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// Options configures New.
type Options struct {
	// Dir is the app's build output (the folder holding index.html).
	Dir string
	// FrontendConfig is the config shown to the browser; it is appended to
	// index.html as a backstage.io/config script, which wins over the
	// build-time config the app was built with.
	FrontendConfig map[string]any
	Logger         *slog.Logger
}

// Handler serves one built app.
type Handler struct {
	files fs.FS
	index []byte
	mod   time.Time
	log   *slog.Logger
}

// Cache-Control values. Files under static/ carry a content hash in their
// name, so a new build never reuses a URL; index.html must always be
// fetched again because it names the current hashes.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cacheNoStore   = "no-store, max-age=0"
)

// New reads dir/index.html and prepares the config-injected copy.
func New(o Options) (*Handler, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	raw, err := os.ReadFile(path.Join(o.Dir, "index.html"))
	if err != nil {
		return nil, fmt.Errorf("app: read index.html: %w", err)
	}
	st, err := os.Stat(path.Join(o.Dir, "index.html"))
	if err != nil {
		return nil, fmt.Errorf("app: %w", err)
	}
	index, err := injectConfig(raw, o.FrontendConfig)
	if err != nil {
		return nil, err
	}
	return &Handler{files: os.DirFS(o.Dir), index: index, mod: st.ModTime(), log: o.Logger}, nil
}

// Index is the served index.html, with the injected config.
func (h *Handler) Index() []byte { return h.index }

// Register installs the app as the root router's not-found route, so that
// every API route keeps precedence (and keeps its own 404s) and the app only
// sees what no plugin claimed.
func (h *Handler) Register(e *echo.Echo) {
	e.RouteNotFound("/*", h.serve)
}

func (h *Handler) serve(c echo.Context) error {
	r := c.Request()
	p := r.URL.Path
	// API and health paths stay clean 404s, as a backend without the
	// plugin answers: the app must never answer them with HTML.
	if r.Method != http.MethodGet && r.Method != http.MethodHead ||
		p == "/api" || strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/.backstage/") {
		return echo.ErrNotFound
	}
	name := strings.TrimPrefix(path.Clean("/"+p), "/")
	if name != "" && name != "index.html" && name != "index.html.tmpl" {
		if st, err := fs.Stat(h.files, name); err == nil && st.Mode().IsRegular() {
			return h.file(c, name, st)
		}
		// A missing hashed asset is a stale reference from an older
		// index.html; HTML in its place would only confuse the browser.
		if strings.HasPrefix(name, "static/") {
			return echo.ErrNotFound
		}
	}
	hdr := c.Response().Header()
	hdr.Set("Cache-Control", cacheNoStore)
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	http.ServeContent(c.Response(), r, "index.html", h.mod, bytes.NewReader(h.index))
	return nil
}

func (h *Handler) file(c echo.Context, name string, st fs.FileInfo) error {
	f, err := h.files.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return echo.ErrNotFound
		}
		return fmt.Errorf("app: open %s: %w", name, err)
	}
	defer f.Close()
	rs, ok := f.(interface {
		Read([]byte) (int, error)
		Seek(int64, int) (int64, error)
	})
	if !ok {
		return fmt.Errorf("app: %s is not seekable", name)
	}
	if strings.HasPrefix(name, "static/") {
		c.Response().Header().Set("Cache-Control", cacheImmutable)
	}
	http.ServeContent(c.Response(), c.Request(), name, st.ModTime(), rs)
	return nil
}
