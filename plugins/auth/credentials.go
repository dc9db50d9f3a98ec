package auth

import (
	"context"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend"
)

// Principal types of Backstage's BackstageCredentials.
const (
	PrincipalUser    = "user"
	PrincipalService = "service"
	PrincipalNone    = "none"
)

// Principal is who is calling.
type Principal struct {
	// Type is PrincipalUser, PrincipalService or PrincipalNone.
	Type string
	// UserEntityRef is the user's entity ref (user principals).
	UserEntityRef string
	// Subject names the service (service principals), e.g. the
	// externalAccess subject, or "external:backstage-plugin" for
	// backend.auth.keys.
	Subject string
	// AccessRestrictions is the token's restriction for the plugin handling
	// the request; nil when unrestricted (service principals).
	AccessRestrictions *AccessRestriction
}

// Credentials are the verified identity of a request.
type Credentials struct {
	Principal Principal
	// Token is the bearer token the user presented (user principals), to
	// forward on the user's behalf.
	Token string
	// ExpiresAt is the user token's expiry (user principals).
	ExpiresAt time.Time
	// Claims are the verified token claims (user principals). They hold
	// "ent" only for tokens issued with it (see OwnershipRefs).
	Claims map[string]any
	// Limited is true for a vnd.backstage.limited-user token.
	Limited bool
}

// IsUser, IsService and IsNone tell the principal type.
func (c Credentials) IsUser() bool    { return c.Principal.Type == PrincipalUser }
func (c Credentials) IsService() bool { return c.Principal.Type == PrincipalService }
func (c Credentials) IsNone() bool    { return c.Principal.Type == PrincipalNone }

// None are the credentials of an unauthenticated request.
func None() Credentials { return Credentials{Principal: Principal{Type: PrincipalNone}} }

var bearer = regexp.MustCompile(`(?i)^Bearer[ ]+(\S+)$`)

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// header value, as Backstage's httpAuth does; "" when there is none.
func BearerToken(header string) string {
	m := bearer.FindStringSubmatch(header)
	if m == nil {
		return ""
	}
	return m[1]
}

// Authenticate verifies token for a request to pluginID, in Backstage's
// order: user tokens (signed by our keys), then external access tokens.
// Limited-user tokens are refused unless allowLimited. Errors are
// AuthenticationError (401) or, for a token restricted to other plugins,
// NotAllowedError (403), with Backstage's messages.
func (s *Service) Authenticate(ctx context.Context, token, pluginID string, allowLimited bool) (Credentials, error) {
	ut, err := s.verifyUserToken(ctx, token)
	if err != nil {
		return Credentials{}, err
	}
	if ut != nil {
		if ut.limited && !allowLimited {
			return Credentials{}, backend.Authentication("Illegal limited user token")
		}
		if ut.exp.IsZero() {
			return Credentials{}, backend.Authentication("User token is missing expiration")
		}
		return Credentials{
			Principal: Principal{Type: PrincipalUser, UserEntityRef: ut.sub},
			Token:     token, ExpiresAt: ut.exp, Claims: ut.claims, Limited: ut.limited,
		}, nil
	}
	now := s.now().Unix()
	for _, e := range s.external {
		ok, err := e.match(token, now)
		if err != nil {
			return Credentials{}, err
		}
		if !ok {
			continue
		}
		r, err := e.restrictionFor(pluginID)
		if err != nil {
			return Credentials{}, err
		}
		return Credentials{Principal: Principal{Type: PrincipalService, Subject: e.subject, AccessRestrictions: r}}, nil
	}
	return Credentials{}, backend.Authentication("Illegal token")
}

// OwnershipRefs are the entity refs a user owns through: the token's ent
// claim when it has one (1.45-style tokens), else what sign-in recorded
// for /v1/userinfo, else just the user. Other principals own nothing.
func (s *Service) OwnershipRefs(ctx context.Context, c Credentials) ([]string, error) {
	if !c.IsUser() {
		return nil, nil
	}
	if ent, ok := c.Claims["ent"].([]any); ok {
		out := make([]string, 0, len(ent))
		for _, e := range ent {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out, nil
	}
	info, found, err := s.UserInfo(ctx, c.Principal.UserEntityRef)
	if err != nil {
		return nil, err
	}
	if found {
		if ent, ok := info["ent"].([]any); ok {
			out := make([]string, 0, len(ent))
			for _, e := range ent {
				if s, ok := e.(string); ok {
					out = append(out, s)
				}
			}
			return out, nil
		}
	}
	return []string{c.Principal.UserEntityRef}, nil
}

// UserInfo returns the claims recorded for a user at sign-in ({sub, ent}).
func (s *Service) UserInfo(ctx context.Context, userEntityRef string) (map[string]any, bool, error) {
	raw, found, err := s.info.userInfo(ctx, userEntityRef)
	if err != nil || !found {
		return nil, false, err
	}
	var v map[string]any
	if err := decodeObject(raw, &v); err != nil {
		return nil, false, err
	}
	claims, _ := v["claims"].(map[string]any)
	return claims, true, nil
}

// lazyCredentials resolves a request's credentials at most once, when
// first asked: routes that allow unauthenticated access never pay for (or
// fail on) a bad token they do not look at, as in Backstage.
type lazyCredentials struct {
	once  sync.Once
	svc   *Service
	ctx   context.Context
	token string
	plug  string
	cred  Credentials
	err   error
	// limited resolution (cookie-capable routes) is separate in Backstage;
	// only the strict one is cached here.
}

func (l *lazyCredentials) get() (Credentials, error) {
	l.once.Do(func() {
		if l.token == "" {
			l.cred = None()
			return
		}
		l.cred, l.err = l.svc.Authenticate(l.ctx, l.token, l.plug, false)
	})
	return l.cred, l.err
}

type credentialsKey struct{}

// FromContext returns the credentials of the request whose context ctx is,
// verifying its token on first use. Without the middleware it returns none.
func FromContext(ctx context.Context) (Credentials, error) {
	l, ok := ctx.Value(credentialsKey{}).(*lazyCredentials)
	if !ok {
		return None(), nil
	}
	return l.get()
}

// CredentialsOf is FromContext for an echo handler.
func CredentialsOf(c echo.Context) (Credentials, error) {
	return FromContext(c.Request().Context())
}

// Require returns the request's credentials if their principal type is one
// of allow ("user", "service", "none"), else Backstage's error for it, as
// httpAuth.credentials(req, {allow}) does.
func Require(c echo.Context, allow ...string) (Credentials, error) {
	cred, err := CredentialsOf(c)
	if err != nil {
		return Credentials{}, err
	}
	if slices.Contains(allow, cred.Principal.Type) {
		return cred, nil
	}
	switch cred.Principal.Type {
	case PrincipalNone:
		return Credentials{}, backend.Authentication("Missing credentials")
	case PrincipalUser, PrincipalService:
		return Credentials{}, backend.NotAllowed("This endpoint does not allow '%s' credentials", cred.Principal.Type)
	}
	return Credentials{}, backend.NotAllowed("Unknown principal type, this should never happen")
}
