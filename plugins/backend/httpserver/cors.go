package httpserver

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/glob"
)

// corsSettings mirrors the options Backstage hands to the cors package.
type corsSettings struct {
	origins        []*glob.Pattern
	methods        string // "" means the cors default
	allowedHeaders *string
	exposedHeaders string
	credentials    bool
	maxAge         string
	preflightNext  bool
	successStatus  int
}

// corsGlob is minimatch(origin, pattern, {nocase: true, noglobstar: true}),
// as Backstage matches backend.cors.origin.
var corsGlob = glob.Options{NoCase: true, NoGlobstar: true}

const defaultCORSMethods = "GET,HEAD,PUT,PATCH,POST,DELETE"

// readCORS reads backend.cors; each list may also be a single string.
func readCORS(b *config.Config) (*corsSettings, error) {
	cc, ok, err := b.ReadSub("cors")
	if err != nil || !ok {
		return nil, err
	}
	s := &corsSettings{methods: defaultCORSMethods, successStatus: http.StatusNoContent}
	origins, err := stringOrList(cc, "origin")
	if err != nil {
		return nil, err
	}
	for _, o := range origins {
		p, err := glob.Compile(o, corsGlob)
		if err != nil {
			return nil, fmt.Errorf("backend.cors.origin: %w", err)
		}
		s.origins = append(s.origins, p)
	}
	if l, err := stringOrList(cc, "methods"); err != nil {
		return nil, err
	} else if l != nil {
		s.methods = strings.Join(l, ",")
	}
	if l, err := stringOrList(cc, "allowedHeaders"); err != nil {
		return nil, err
	} else if l != nil {
		h := strings.Join(l, ",")
		s.allowedHeaders = &h
	}
	if l, err := stringOrList(cc, "exposedHeaders"); err != nil {
		return nil, err
	} else if l != nil {
		s.exposedHeaders = strings.Join(l, ",")
	}
	if s.credentials, _, err = cc.ReadBool("credentials"); err != nil {
		return nil, err
	}
	if f, ok, err := cc.ReadFloat("maxAge"); err != nil {
		return nil, err
	} else if ok {
		s.maxAge = strconv.FormatFloat(f, 'f', -1, 64)
	}
	if s.preflightNext, _, err = cc.ReadBool("preflightContinue"); err != nil {
		return nil, err
	}
	if n, ok, err := cc.ReadInt("optionsSuccessStatus"); err != nil {
		return nil, err
	} else if ok {
		s.successStatus = n
	}
	return s, nil
}

func stringOrList(c *config.Config, key string) ([]string, error) {
	switch v := c.Get(key).(type) {
	case nil:
		return nil, nil
	case string:
		if v == "" {
			return nil, nil
		}
		return []string{v}, nil
	}
	l, _, err := c.ReadStringList(key)
	return l, err
}

func (s *corsSettings) allowed(origin string) bool {
	for _, p := range s.origins {
		if p.Match(origin) {
			return true
		}
	}
	return false
}

// middleware answers like the cors package under Backstage: a request from
// an origin that no pattern matches gets no CORS headers at all; any OPTIONS
// request from an allowed origin is a preflight.
func (s *corsSettings) middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			origin := req.Header.Get(echo.HeaderOrigin)
			if !s.allowed(origin) {
				return next(c)
			}
			h := c.Response().Header()
			h.Set(echo.HeaderAccessControlAllowOrigin, origin)
			addVary(h, echo.HeaderOrigin)
			if s.credentials {
				h.Set(echo.HeaderAccessControlAllowCredentials, "true")
			}
			if req.Method != http.MethodOptions {
				if s.exposedHeaders != "" {
					h.Set(echo.HeaderAccessControlExposeHeaders, s.exposedHeaders)
				}
				return next(c)
			}
			if s.methods != "" {
				h.Set(echo.HeaderAccessControlAllowMethods, s.methods)
			}
			if s.allowedHeaders == nil {
				// Without a configured list the request's headers are reflected.
				if rh := req.Header.Get(echo.HeaderAccessControlRequestHeaders); rh != "" {
					h.Set(echo.HeaderAccessControlAllowHeaders, rh)
				}
				addVary(h, echo.HeaderAccessControlRequestHeaders)
			} else if *s.allowedHeaders != "" {
				h.Set(echo.HeaderAccessControlAllowHeaders, *s.allowedHeaders)
			}
			if s.maxAge != "" {
				h.Set(echo.HeaderAccessControlMaxAge, s.maxAge)
			}
			if s.exposedHeaders != "" {
				h.Set(echo.HeaderAccessControlExposeHeaders, s.exposedHeaders)
			}
			if s.preflightNext {
				return next(c)
			}
			h.Set(echo.HeaderContentLength, "0")
			c.Response().WriteHeader(s.successStatus)
			return nil
		}
	}
}

// addVary appends a field to Vary unless it is already listed.
func addVary(h http.Header, field string) {
	for _, v := range h.Values(echo.HeaderVary) {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f == "*" || strings.EqualFold(f, field) {
				return
			}
		}
	}
	if cur := h.Get(echo.HeaderVary); cur != "" {
		h.Set(echo.HeaderVary, cur+", "+field)
		return
	}
	h.Set(echo.HeaderVary, field)
}
