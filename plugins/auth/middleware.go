package auth

import (
	"context"
	"strings"
	"sync"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
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
	// Audited says the plugin's routes resolve the caller before anything
	// else, as Backstage's catalog and scaffolder routes do for their audit
	// events (auditor.createEvent({request})). A present but invalid token
	// then fails every such route, even with the default policy disabled,
	// as "Could not resolve credentials; caused by <the token's error>".
	Audited bool
	// Unaudited lists routes of an audited plugin that Backstage does not
	// audit (same path syntax as Unauthenticated): they look at the caller
	// only if and when they need it.
	Unaudited []string
}

// Barrier is one plugin's authentication policy: every route needs user
// or service credentials unless a policy opens it, or the default policy is
// disabled by backend.auth.dangerouslyDisableDefaultAuthPolicy. Policies may
// be added while serving.
type Barrier struct {
	svc       *Service
	pluginID  string
	mount     string
	audited   bool
	unaudited [][]string // path patterns as segments

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
	b.mu.Lock()
	b.open = append(b.open, pattern(path))
	b.mu.Unlock()
}

// pattern is a policy path as segments; "/" and "*" are the empty pattern,
// which covers every path.
func pattern(path string) []string {
	if path == "/" || path == "*" {
		return nil
	}
	return splitPath(path)
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
			if !b.svc.disabled && !b.isOpen(r.URL.Path) {
				if _, err := Require(c, PrincipalUser, PrincipalService); err != nil {
					return err
				}
			}
			if b.audits(c) {
				if _, err := l.get(); err != nil {
					return backend.Forwarded("Could not resolve credentials", err)
				}
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
	b.audited = o.Audited
	for _, p := range o.Unaudited {
		b.unaudited = append(b.unaudited, pattern(p))
	}
	for _, p := range o.Unauthenticated {
		b.AllowUnauthenticated(p)
	}
	return b.Middleware()
}

// DefaultPolicyDisabled reports backend.auth.dangerouslyDisableDefaultAuthPolicy.
func (s *Service) DefaultPolicyDisabled() bool { return s.disabled }

func (b *Barrier) isOpen(fullPath string) bool {
	segs := b.relative(fullPath)
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, p := range b.open {
		if prefixMatch(p, segs) {
			return true
		}
	}
	return false
}

// audits tells whether the request's route resolves the caller first. A
// request no route matched is not audited (it gets Backstage's bare 404):
// echo reports the group's catch-all, the mount itself or mount+"/*", as
// its path.
func (b *Barrier) audits(c echo.Context) bool {
	if !b.audited || c.Path() == b.mount || c.Path() == b.mount+"/*" {
		return false
	}
	segs := b.relative(c.Request().URL.Path)
	for _, p := range b.unaudited {
		if prefixMatch(p, segs) {
			return false
		}
	}
	return true
}

// relative is fullPath below the plugin's mount, as segments.
func (b *Barrier) relative(fullPath string) []string {
	rel := fullPath
	if len(rel) >= len(b.mount) && strings.EqualFold(rel[:len(b.mount)], b.mount) {
		rel = rel[len(b.mount):]
	}
	return splitPath(rel)
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
