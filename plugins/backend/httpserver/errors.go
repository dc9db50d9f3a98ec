package httpserver

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/database/dberr"
	"github.com/understage/understage/plugins/backend/ojson"
)

// unreadableTextMessage answers a request whose text the database refused.
const unreadableTextMessage = "The request holds text the database cannot read: a NUL character or bytes that are not UTF-8"

// handleError renders err as Backstage's error envelope. A request that
// matched no route (or no method) gets an empty 404, like Backstage's
// notFound middleware.
//
// An unclassified error (no backend kind, no echo status) is a fault of the
// server, not of the request: its text may hold SQL, driver messages, host
// paths or panic values, so the client gets only Backstage's filtered
// message "An internal error occurred logId=<id>" and the detail is logged
// under that id, the request's id.
func (s *Server) handleError(err error, c echo.Context) {
	id := RequestID(c)
	if c.Response().Committed {
		s.log.Warn("error after response was sent", "err", err, "requestId", id,
			"method", requestMethod(c), "url", c.Request().RequestURI)
		return
	}
	if errors.Is(err, echo.ErrNotFound) || errors.Is(err, echo.ErrMethodNotAllowed) {
		c.Response().WriteHeader(http.StatusNotFound)
		return
	}
	status, name, message := http.StatusInternalServerError, "Error", ""
	var he *echo.HTTPError
	if k := backend.KindOf(err); k != nil {
		status, name, message = k.Status, k.Name, backend.MessageOf(err)
	} else if errors.As(err, &he) {
		status = he.Code
		if k := backend.KindForStatus(status); k != nil {
			name = k.Name
		}
		message = fmt.Sprint(he.Message)
	} else if dberr.UnreadableText(err) {
		// PostgreSQL cannot compare or store a NUL or bytes that are not
		// UTF-8 (SQLite can, and finds nothing); a bad request, not a fault.
		status, name, message = http.StatusBadRequest, "InputError", unreadableTextMessage
	} else {
		message = "An internal error occurred logId=" + id
	}
	if status >= 500 {
		s.log.Error(fmt.Sprintf("Request failed with status %d", status), "err", err.Error(),
			"requestId", id, "method", requestMethod(c), "url", c.Request().RequestURI)
	}
	errObj := ojson.NewObject("name", name, "message", message)
	if cause := backend.ShownCause(err); cause != nil {
		errObj.Set("cause", causeObject(cause))
	}
	body := ojson.MustMarshal(ojson.NewObject(
		"error", errObj,
		"request", ojson.NewObject("method", requestMethod(c), "url", s.relativeURL(c.Request())),
		"response", ojson.NewObject("statusCode", ojson.NumberFromFloat(float64(status))),
	))
	if werr := WriteJSON(c, status, body); werr != nil {
		s.log.Warn("writing error response", "err", werr, "requestId", id)
	}
}

// causeObject serialises a forwarded error's cause as Backstage's
// serializeError does (name, message, and its own shown cause).
func causeObject(err error) *ojson.Object {
	o := ojson.NewObject("name", backend.NameOf(err), "message", backend.MessageOf(err))
	if c := backend.ShownCause(err); c != nil {
		o.Set("cause", causeObject(c))
	}
	return o
}

// relativeURL is the request's path and query as the plugin router sees it
// (express's req.url inside a mounted router).
func (s *Server) relativeURL(r *http.Request) string {
	uri := r.RequestURI
	if uri == "" {
		uri = r.URL.RequestURI()
	}
	m := s.mountOf(r.URL.Path)
	if m == "" || len(uri) < len(m) || !strings.EqualFold(uri[:len(m)], m) {
		return uri
	}
	rest := uri[len(m):]
	if rest == "" || rest[0] != '/' {
		rest = "/" + rest
	}
	return rest
}

// WriteJSON writes a pre-encoded JSON body the way express's res.json does:
// Content-Type application/json; charset=utf-8, Content-Length, and a weak
// ETag; a GET whose If-None-Match matches gets 304 without a body.
func WriteJSON(c echo.Context, status int, body []byte) error {
	return write(c, status, "application/json; charset=utf-8", body)
}

// JSON encodes v with ojson.Marshal (JSON.stringify escaping, ordered
// objects) and writes it with WriteJSON.
func JSON(c echo.Context, status int, v any) error {
	b, err := ojson.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return WriteJSON(c, status, b)
}

// ETag is express's default weak ETag of a body.
func ETag(body []byte) string {
	sum := sha1.Sum(body)
	return `W/"` + strconv.FormatInt(int64(len(body)), 16) + "-" + base64.StdEncoding.EncodeToString(sum[:])[:27] + `"`
}

func write(c echo.Context, status int, contentType string, body []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, contentType)
	etag := ETag(body)
	h.Set("ETag", etag)
	m := requestMethod(c)
	if (m == http.MethodGet || m == http.MethodHead) && (status >= 200 && status < 300 || status == 304) &&
		etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		h.Del(echo.HeaderContentType)
		c.Response().WriteHeader(http.StatusNotModified)
		return nil
	}
	if status == http.StatusNotModified || status == http.StatusNoContent {
		c.Response().WriteHeader(status)
		return nil
	}
	h.Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	c.Response().WriteHeader(status)
	_, err := c.Response().Write(body)
	return err
}

// etagMatches is the weak comparison of the fresh package.
func etagMatches(inm, etag string) bool {
	if inm == "" {
		return false
	}
	if strings.TrimSpace(inm) == "*" {
		return true
	}
	strip := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for _, t := range strings.Split(inm, ",") {
		if strip(t) == strip(etag) {
			return true
		}
	}
	return false
}
