package httpserver

import (
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
)

// Body size limits of Backstage's JSON parsers: express.json's default
// (the catalog and most plugins) and the scaffolder's explicit 10MB.
const (
	DefaultBodyLimit    int64 = 100 << 10
	ScaffolderBodyLimit int64 = 10 << 20
)

// ReadBody reads the request body, inflating gzip or deflate content
// encodings as body-parser does. A body over limit (after inflation) is
// an InputError "request entity too large": Backstage's routers turn
// body-parser's 413 into that 400.
func ReadBody(c echo.Context, limit int64) ([]byte, error) {
	r := c.Request()
	var src io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		// Only an unencoded length can be refused before reading.
		if r.ContentLength > limit {
			return nil, backend.Input("request entity too large")
		}
	case "gzip":
		gz, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, backend.Input("%s", err.Error())
		}
		defer gz.Close()
		src = gz
	case "deflate":
		src = flate.NewReader(r.Body)
	default:
		return nil, backend.Input("unsupported content encoding %q", enc)
	}
	b, err := io.ReadAll(io.LimitReader(src, limit+1))
	if err != nil {
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) {
			return nil, backend.Input("%s", err.Error())
		}
		return nil, fmt.Errorf("read request body: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, backend.Input("request entity too large")
	}
	return b, nil
}
