package auth

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
)

// PluginID is the auth plugin's ID; its routes live under /api/auth.
const PluginID = "auth"

// Register mounts the auth routes on g (the /api/auth group) and installs
// the auth plugin's own barrier, which leaves every auth route open as
// Backstage's auth-backend does; do not add another Middleware to g.
//
// Routes: GET|POST /guest/refresh, GET /guest/start and GET|POST
// /guest/handler/frame (501, as for every proxy provider),
// GET /.well-known/jwks.json, GET /.well-known/openid-configuration and
// GET /v1/userinfo. Anything else under /<provider> is Backstage's
// "Unknown auth provider" 404, POST /guest/logout included: proxy providers
// have no logout and the frontend's guest sign-out never calls it.
func (s *Service) Register(g *echo.Group) {
	g.Use(s.Middleware(MiddlewareOptions{PluginID: PluginID, Unauthenticated: []string{"/"}}))

	only := func(h echo.HandlerFunc, methods ...string) echo.HandlerFunc {
		return func(c echo.Context) error {
			if slices.Contains(methods, c.Request().Method) {
				return h(c)
			}
			return unknownProvider(c)
		}
	}
	notImplemented := func(echo.Context) error {
		return backend.Errorf(backend.ErrNotImplemented, "Not implemented")
	}
	if s.guest != nil {
		g.Any("/guest/refresh", only(s.guestRefresh, http.MethodGet, http.MethodPost))
		g.Any("/guest/start", only(notImplemented, http.MethodGet))
		g.Any("/guest/handler/frame", only(notImplemented, http.MethodGet, http.MethodPost))
	} else {
		noProvider := func(echo.Context) error {
			return backend.NotFound("No auth provider registered for 'guest'")
		}
		g.Any("/guest", noProvider)
		g.Any("/guest/*", noProvider)
	}
	g.Any("/.well-known/openid-configuration", only(s.openIDConfiguration, http.MethodGet))
	g.Any("/.well-known/jwks.json", only(s.jwks, http.MethodGet))
	g.Any("/v1/userinfo", only(s.userinfo, http.MethodGet))
	g.Any("/:provider", unknownProvider)
	g.Any("/:provider/*", unknownProvider)
}

func unknownProvider(c echo.Context) error {
	p := c.Request().URL.Path
	// The provider is the first segment after /api/auth.
	if i := strings.Index(strings.ToLower(p), "/api/"+PluginID+"/"); i >= 0 {
		p = p[i+len("/api/"+PluginID+"/"):]
	} else {
		p = strings.TrimPrefix(p, "/")
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return backend.NotFound("Unknown auth provider '%s'", p)
}

// guestRefresh signs the guest in and answers with the proxy providers'
// response: {profile, backstageIdentity: {token, identity, expiresInSeconds}}.
func (s *Service) guestRefresh(c echo.Context) error {
	ctx := c.Request().Context()
	g := s.guest
	if !g.development && !g.allowOutside {
		return backend.NotAllowed("The guest provider cannot be used outside of a development environment unless 'auth.providers.guest.dangerouslyAllowOutsideDevelopment' is enabled")
	}
	tok, err := s.signInGuest(ctx)
	if err != nil {
		return err
	}
	expires := math.Round(float64(tok.ExpiresAt.Unix()) - float64(s.now().UnixMilli())/1000)
	body := ojson.NewObject(
		"profile", ojson.NewObject(),
		"backstageIdentity", ojson.NewObject(
			"token", tok.Token,
			"identity", ojson.NewObject(
				"type", "user",
				"userEntityRef", tok.UserEntityRef,
				"ownershipEntityRefs", tok.OwnershipEntityRefs,
			),
			"expiresInSeconds", int64(expires),
		),
	)
	return httpserver.JSON(c, http.StatusOK, body)
}

// signInGuest is the guest sign-in resolver: the configured user as found
// in the catalog (ownership from its memberOf groups), or, when it is not
// there, a token straight from config.
func (s *Service) signInGuest(ctx context.Context) (IssuedToken, error) {
	g := s.guest
	if s.catalog != nil {
		if r, err := model.ParseRef(g.userRef, model.RefDefaults{Kind: "user"}); err == nil {
			ref := r.String()
			entity, owners, found, err := s.catalog.UserEntity(ctx, ref)
			switch {
			case err != nil:
				s.log.WarnContext(ctx, "guest sign-in: catalog lookup failed, using the configured identity", "ref", ref, "err", err)
			case found:
				sub := EntityRef(entity)
				if sub == "" {
					sub = ref
				}
				if owners == nil {
					owners = MembershipRefs(entity)
				}
				ent := []string{sub}
				for _, o := range owners {
					if !slices.Contains(ent, o) {
						ent = append(ent, o)
					}
				}
				tok, err := s.IssueToken(ctx, sub, ent)
				if err == nil {
					return tok, nil
				}
				s.log.WarnContext(ctx, "guest sign-in with catalog user failed, using the configured identity", "ref", ref, "err", err)
			}
		}
	}
	ent := g.ownership
	if ent == nil {
		ent = []string{g.userRef}
	}
	return s.IssueToken(ctx, g.userRef, ent)
}

// entityShape is the part of an entity sign-in reads.
type entityShape struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Relations []struct {
		Type      string `json:"type"`
		TargetRef string `json:"targetRef"`
	} `json:"relations"`
}

// EntityRef is the lowercase ref of an entity given as JSON ("" when it
// has no kind or name).
func EntityRef(entity []byte) string {
	var e entityShape
	if json.Unmarshal(entity, &e) != nil || e.Kind == "" || e.Metadata.Name == "" {
		return ""
	}
	return model.NewRef(e.Kind, e.Metadata.Namespace, e.Metadata.Name).String()
}

// MembershipRefs are the group refs of an entity's memberOf relations, the
// ownership Backstage's default sign-in resolver adds to the user's own ref.
func MembershipRefs(entity []byte) []string {
	var e entityShape
	if json.Unmarshal(entity, &e) != nil {
		return nil
	}
	out := []string{}
	for _, r := range e.Relations {
		if r.Type == "memberOf" && strings.HasPrefix(r.TargetRef, "group:") && !slices.Contains(out, r.TargetRef) {
			out = append(out, r.TargetRef)
		}
	}
	return out
}

func (s *Service) openIDConfiguration(c echo.Context) error {
	b := s.issuer
	return httpserver.JSON(c, http.StatusOK, ojson.NewObject(
		"issuer", b,
		"token_endpoint", b+"/v1/token",
		"userinfo_endpoint", b+"/v1/userinfo",
		"jwks_uri", b+"/.well-known/jwks.json",
		"response_types_supported", []string{"code", "id_token"},
		"subject_types_supported", []string{"public"},
		"id_token_signing_alg_values_supported", []string{"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"},
		"scopes_supported", []string{"openid"},
		"token_endpoint_auth_methods_supported", []string{"client_secret_basic", "client_secret_post"},
		"claims_supported", []string{"sub", "ent"},
		"grant_types_supported", []string{"authorization_code"},
		"authorization_endpoint", b+"/v1/authorize",
		"code_challenge_methods_supported", []string{"S256", "plain"},
	))
}

func (s *Service) jwks(c echo.Context) error {
	keys, err := s.publicKeys(c.Request().Context())
	if err != nil {
		return err
	}
	body, err := publicKeySet(keys)
	if err != nil {
		return err
	}
	return httpserver.WriteJSON(c, http.StatusOK, body)
}

func (s *Service) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	token := BearerToken(c.Request().Header.Get("Authorization"))
	if token == "" {
		return backend.Authentication("No token provided")
	}
	cred, err := s.Authenticate(ctx, token, PluginID, true)
	if err != nil {
		return err
	}
	if !cred.IsUser() {
		return backend.Input("Userinfo endpoint must be called with a token that represents a user principal")
	}
	raw, found, err := s.info.userInfo(ctx, cred.Principal.UserEntityRef)
	if err != nil {
		return err
	}
	if !found {
		// express's res.status(404).send(string)
		return c.Blob(http.StatusNotFound, "text/html; charset=utf-8", []byte("User info not found"))
	}
	return httpserver.WriteJSON(c, http.StatusOK, raw)
}
