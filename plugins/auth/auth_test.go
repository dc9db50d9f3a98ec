package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/backend/ojson"
)

// baseConfig is the oracle's auth setup plus service-to-service tokens like
// the ones the rejection bodies in testdata were recorded with.
const baseConfig = `
backend:
  baseUrl: http://127.0.0.1:7007
  auth:
    externalAccess:
      - type: static
        options:
          token: statictokenabcdefghijklmnopqrstuvwxyz0123
          subject: static-full
      - type: static
        options:
          token: restrictedtokenabcdefghijklmnopqrstuvwxyz
          subject: static-restricted
        accessRestrictions:
          - plugin: scaffolder
      - type: static
        options:
          token: restrictedpermtokenabcdefghijklmnopqrstuv
          subject: static-perm
        accessRestrictions:
          - plugin: catalog
            permission: catalog.entity.read
            permissionAttribute:
              action: [read]
      - type: legacy
        options:
          secret: bGVnYWN5c2VjcmV0bGVnYWN5c2VjcmV0
          subject: legacy-one
    keys:
      - secret: b2xka2V5c2VjcmV0b2xka2V5c2VjcmV0
auth:
  environment: development
  providers:
    guest: {}
`

// clock is a settable time source shared by the replicas of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1795636549, 250e6)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func loadConfig(t testing.TB, y string) *config.Config {
	t.Helper()
	cfg, err := config.LoadBytes([]byte(y), filepath.Join(t.TempDir(), "app-config.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

type fixture struct {
	svc   *Service
	url   string
	clock *clock
}

type setupOpts struct {
	config  string
	db      *database.DB
	catalog UserResolver
	clock   *clock
	env     string
}

// setup builds a service and serves it through the real root router, with a
// protected "catalog" plugin whose /whoami echoes the credentials and whose
// /health is open, like a plugin that called addAuthPolicy.
func setup(t *testing.T, o setupOpts) *fixture {
	t.Helper()
	if o.config == "" {
		o.config = baseConfig
	}
	if o.clock == nil {
		o.clock = newClock()
	}
	cfg := loadConfig(t, o.config)
	svc, err := New(context.Background(), Options{
		Config: cfg, DB: o.db, Catalog: o.catalog, Logger: slog.New(slog.DiscardHandler),
		Now: o.clock.Now, Environment: o.env,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httpserver.New(httpserver.Options{Config: cfg})
	svc.Register(srv.Plugin(PluginID))
	for _, id := range []string{"catalog", "scaffolder"} {
		g := srv.Plugin(id)
		g.Use(svc.Middleware(MiddlewareOptions{PluginID: id, Unauthenticated: []string{"/health"}}))
		g.GET("/whoami", whoami(svc))
		g.GET("/health", func(c echo.Context) error { return httpserver.WriteJSON(c, 200, []byte(`{"status":"ok"}`)) })
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	return &fixture{svc: svc, url: hs.URL, clock: o.clock}
}

func whoami(svc *Service) echo.HandlerFunc {
	return func(c echo.Context) error {
		cred, err := CredentialsOf(c)
		if err != nil {
			return err
		}
		out := ojson.NewObject("type", cred.Principal.Type)
		switch {
		case cred.IsUser():
			refs, err := svc.OwnershipRefs(c.Request().Context(), cred)
			if err != nil {
				return err
			}
			out.Set("userEntityRef", cred.Principal.UserEntityRef)
			out.Set("ownershipEntityRefs", refs)
		case cred.IsService():
			out.Set("subject", cred.Principal.Subject)
			if r := cred.Principal.AccessRestrictions; r != nil {
				out.Set("permissionNames", r.PermissionNames)
				out.Set("actions", r.PermissionAttributes["action"])
			}
		}
		return httpserver.JSON(c, 200, out)
	}
}

type response struct {
	status int
	body   string
	ctype  string
}

func call(t *testing.T, method, url, authz string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{res.StatusCode, string(b), res.Header.Get("Content-Type")}
}

// refresh signs in as guest and returns the parsed response and token.
func refresh(t *testing.T, f *fixture) (map[string]any, string) {
	t.Helper()
	r := call(t, http.MethodGet, f.url+"/api/auth/guest/refresh?optional&env=development", "")
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatal(err)
	}
	return v, v["backstageIdentity"].(map[string]any)["token"].(string)
}

// decodePart decodes a JWS header or payload keeping key order.
func decodePart(t *testing.T, part string) *ojson.Object {
	t.Helper()
	b, err := b64.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	o, err := ojson.DecodeObject(b)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func tokenParts(t *testing.T, token string) (*ojson.Object, *ojson.Object) {
	t.Helper()
	p := strings.Split(token, ".")
	if len(p) != 3 {
		t.Fatalf("token has %d parts", len(p))
	}
	return decodePart(t, p[0]), decodePart(t, p[1])
}

func mustJSON(v any) string { return string(ojson.MustMarshal(v)) }

func openSQLite(t *testing.T, file string) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), database.Options{Client: "better-sqlite3", Connection: file, PluginID: "auth"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// forge signs arbitrary JSON parts with key (nil: a fresh stranger's key),
// whatever alg the header claims.
func forge(t *testing.T, key *signingKey, header, payload any) string {
	t.Helper()
	if key == nil {
		var err error
		if key, err = generateKey(mustAlg("ES256"), "stranger"); err != nil {
			t.Fatal(err)
		}
	}
	input := b64.EncodeToString(ojson.MustMarshal(header)) + "." + b64.EncodeToString(ojson.MustMarshal(payload))
	sig, err := key.signInput([]byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func mustAlg(name string) ecAlg {
	a, ok := ecAlgFor(name)
	if !ok {
		panic(name)
	}
	return a
}

// hsToken is a legacy service token: {"alg":"HS256"} over payload.
func hsToken(secret string, payload any) string {
	key, err := decodeBase64URL(secret)
	if err != nil {
		panic(err)
	}
	tok, err := jws.Sign(ojson.MustMarshal(payload), jws.WithKey(jwa.HS256(), key))
	if err != nil {
		panic(err)
	}
	return string(tok)
}

// hmacSign is the HS256 signature of a signing input built by a test.
func hmacSign(secret, input []byte) []byte {
	s, err := jws.SignerFor(jwa.HS256())
	if err != nil {
		panic(err)
	}
	sig, err := s.Sign(secret, input)
	if err != nil {
		panic(err)
	}
	return sig
}

var errBoom = errors.New("catalog unavailable")

// fakeCatalog is a UserResolver over fixed entities.
type fakeCatalog struct {
	users map[string]string // ref -> entity JSON
	fail  bool
}

func (c fakeCatalog) UserEntity(_ context.Context, ref string) ([]byte, []string, bool, error) {
	if c.fail {
		return nil, nil, false, errBoom
	}
	e, ok := c.users[ref]
	if !ok {
		return nil, nil, false, nil
	}
	return []byte(e), nil, true, nil
}
