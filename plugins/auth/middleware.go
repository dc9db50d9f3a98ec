package auth

import (
	"context"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"
)

// MiddlewareOptions configures Middleware for one plugin.
type MiddlewareOptions struct {
	// PluginID is the plugin the routes belong to ("catalog" for
	// /api/catalog); access restrictions of external tokens apply to it.
	PluginID string
	// Unauthenticated lists route paths, relative to the plugin mount, that
	// anyone may call (Backstage's addAuthPolicy({allow:
	// 'unauthenticated'})). A path covers itself and everything below it;
	// ":name" segments match any one segment; "/" or "*" covers all.
	Unauthenticated []string
}

// Barrier is one plugin's authentication policy: every route needs user
// or service credentials unless a policy opens it, or the default policy is
// disabled by backend.auth.dangerouslyDisableDefaultAuthPolicy. Policies may
// be added while serving.
type Barrier struct {
	svc      *Service
	pluginID string
	mount    string

	mu   sync.RWMutex
	open [][]string // path patterns as segments
}

// Barrier returns a new barrier for pluginID, mounted at /api/<pluginID>.
func (s *Service) Barrier(pluginID string) *Barrier {
	return &Barrier{svc: s, pluginID: pluginID, mount: "/api/" + pluginID}
}

// AllowUnauthenticated opens path (and everything below it) to anonymous
// callers, like httpRouter.addAuthPolicy({path, allow: 'unauthenticated'}).
func (b *Barrier) AllowUnauthenticated(path string) {
	var segs []string
	if path != "/" && path != "*" {
		segs = splitPath(path)
	}
	b.mu.Lock()
	b.open = append(b.open, segs)
	b.mu.Unlock()
}

// Middleware is the barrier as echo middleware for the plugin's group. It
// puts the request's credentials (resolved on first use) in the request
// context for FromContext/CredentialsOf, then enforces the policy.
func (b *Barrier) Middleware() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			l := &lazyCredentials{svc: b.svc, token: BearerToken(r.Header.Get("Authorization")), plug: b.pluginID}
			ctx := context.WithValue(r.Context(), credentialsKey{}, l)
			l.ctx = ctx
			c.SetRequest(r.WithContext(ctx))
			if b.svc.disabled || b.isOpen(r.URL.Path) {
				return next(c)
			}
			if _, err := Require(c, PrincipalUser, PrincipalService); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// Middleware is the authentication barrier for one plugin's echo group:
//
//	g := server.Plugin("catalog")
//	g.Use(authService.Middleware(auth.MiddlewareOptions{PluginID: "catalog"}))
func (s *Service) Middleware(o MiddlewareOptions) echo.MiddlewareFunc {
	b := s.Barrier(o.PluginID)
	for _, p := range o.Unauthenticated {
		b.AllowUnauthenticated(p)
	}
	return b.Middleware()
}

// DefaultPolicyDisabled reports backend.auth.dangerouslyDisableDefaultAuthPolicy.
func (s *Service) DefaultPolicyDisabled() bool { return s.disabled }

func (b *Barrier) isOpen(fullPath string) bool {
	rel := fullPath
	if len(rel) >= len(b.mount) && strings.EqualFold(rel[:len(b.mount)], b.mount) {
		rel = rel[len(b.mount):]
	}
	segs := splitPath(rel)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, p := range b.open {
		if prefixMatch(p, segs) {
			return true
		}
	}
	return false
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// prefixMatch is path-to-regexp with end: false and case-insensitive
// matching, for literal and ":param" segments.
func prefixMatch(pattern, path []string) bool {
	if len(path) < len(pattern) {
		return false
	}
	for i, p := range pattern {
		if strings.HasPrefix(p, ":") {
			continue
		}
		if !strings.EqualFold(p, path[i]) {
			return false
		}
	}
	return true
}
