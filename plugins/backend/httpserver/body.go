package httpserver

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
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

// ReadBody reads the request body, inflating gzip or deflate (zlib)
// content encodings as body-parser does, with zlib's messages for broken
// streams. A body over limit (after inflation) is an InputError "request
// entity too large": Backstage's routers turn body-parser's 413 into that
// 400. A body the client does not finish is "request aborted".
func ReadBody(c echo.Context, limit int64) ([]byte, error) {
	r := c.Request()
	body := &recordingReader{r: r.Body}
	var src io.Reader = body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		// Only an unencoded length can be refused before reading.
		if r.ContentLength > limit {
			return nil, backend.Input("request entity too large")
		}
	case "gzip":
		src = &gunzipReader{br: bufio.NewReader(body)}
	case "deflate":
		src = &inflateReader{r: body}
	default:
		return nil, backend.Input("unsupported content encoding %q", enc)
	}
	b, err := io.ReadAll(io.LimitReader(src, limit+1))
	if body.err != nil && !errors.Is(body.err, io.EOF) {
		return nil, backend.Input("request aborted")
	}
	if err != nil {
		return nil, backend.Input("%s", zlibMessage(err))
	}
	if int64(len(b)) > limit {
		return nil, backend.Input("request entity too large")
	}
	return b, nil
}

// recordingReader keeps the error of the request body itself, to tell a
// client that went away from a broken compressed stream.
type recordingReader struct {
	r   io.Reader
	err error
}

func (r *recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// gunzipReader inflates gzip members one after the other, as Node's gunzip
// does: data after a member must be another member.
type gunzipReader struct {
	br *bufio.Reader
	z  *gzip.Reader
}

func (g *gunzipReader) Read(p []byte) (int, error) {
	for {
		if g.z == nil {
			z, err := gzip.NewReader(g.br)
			if err != nil {
				return 0, noEOF(err)
			}
			z.Multistream(false)
			g.z = z
		}
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		next, perr := g.br.Peek(2)
		switch {
		case len(next) == 0 && errors.Is(perr, io.EOF):
			return n, io.EOF
		case len(next) == 2 && next[0] == 0x1f && next[1] == 0x8b:
			if err := g.z.Reset(g.br); err != nil {
				return n, err
			}
			g.z.Multistream(false)
		case len(next) == 1 && next[0] == 0x1f:
			return n, io.ErrUnexpectedEOF
		default:
			return n, gzip.ErrHeader
		}
		if n > 0 {
			return n, nil
		}
	}
}

// inflateReader inflates the zlib format, which is what Node's inflate
// (Content-Encoding: deflate) expects.
type inflateReader struct {
	r io.Reader
	z io.ReadCloser
}

func (f *inflateReader) Read(p []byte) (int, error) {
	if f.z == nil {
		z, err := zlib.NewReader(f.r)
		if err != nil {
			return 0, noEOF(err)
		}
		f.z = z
	}
	return f.z.Read(p)
}

// noEOF turns the end of a stream that has not begun into a truncation:
// an empty compressed body is broken, not empty.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// zlibMessage is the message Node's zlib gives for a broken stream.
func zlibMessage(err error) string {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, gzip.ErrHeader), errors.Is(err, zlib.ErrHeader):
		return "incorrect header check"
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, zlib.ErrChecksum):
		return "incorrect data check"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "unexpected end of file"
	case errors.As(err, &corrupt):
		return "invalid block type"
	}
	return "invalid compressed data"
}
