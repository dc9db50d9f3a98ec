package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
)

func TestGuestRefreshShape(t *testing.T) {
	f := setup(t, setupOpts{})
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		t.Run(method, func(t *testing.T) {
			r := call(t, method, f.url+"/api/auth/guest/refresh?optional&env=development", "")
			if r.status != 200 || r.ctype != "application/json; charset=utf-8" {
				t.Fatalf("got %d %q %s", r.status, r.ctype, r.body)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(r.body), &v); err != nil {
				t.Fatal(err)
			}
			token := v["backstageIdentity"].(map[string]any)["token"].(string)
			// Everything but the token, byte for byte as the oracle answers.
			want := `{"profile":{},"backstageIdentity":{"token":"` + token + `","identity":{"type":"user","userEntityRef":"user:development/guest","ownershipEntityRefs":["user:development/guest"]},"expiresInSeconds":3600}}`
			if r.body != want {
				t.Fatalf("body\n got %s\nwant %s", r.body, want)
			}
			// The header is compared member by member: its order is jwx's,
			// not jose's, and no client reads a user token's header bytes.
			h, p := tokenParts(t, token)
			if got := strings.Join(slices.Sorted(slices.Values(h.Keys())), ","); got != "alg,kid,typ" || h.String("typ") != TypUser || h.String("alg") != "ES256" || h.String("kid") == "" {
				t.Fatalf("header %s", mustJSON(h))
			}
			if got := strings.Join(p.Keys(), ","); got != "iss,sub,aud,iat,exp,uip" {
				t.Fatalf("claims %s", got)
			}
			iat, _ := p.Get("iat")
			exp, _ := p.Get("exp")
			if p.String("iss") != "http://127.0.0.1:7007/api/auth" || p.String("sub") != "user:development/guest" ||
				p.String("aud") != "backstage" || mustJSON(iat) != "1795636549" || mustJSON(exp) != "1795640149" {
				t.Fatalf("claims %s", mustJSON(p))
			}
			// uip is the signature of the limited token for the same user,
			// over the bytes Backstage rebuilds: these are compared exactly.
			limited, _, err := LimitedUserToken(token)
			if err != nil {
				t.Fatal(err)
			}
			lh, lp := tokenParts(t, limited)
			if mustJSON(lh) != `{"typ":"vnd.backstage.limited-user","alg":"ES256","kid":"`+h.String("kid")+`"}` ||
				mustJSON(lp) != `{"sub":"user:development/guest","iat":1795636549,"exp":1795640149}` {
				t.Fatalf("limited token %s %s", mustJSON(lh), mustJSON(lp))
			}
			cred, err := f.svc.Authenticate(context.Background(), limited, "catalog", true)
			if err != nil || !cred.Limited || cred.Principal.UserEntityRef != "user:development/guest" {
				t.Fatalf("limited token: %+v %v", cred, err)
			}
		})
	}
}

func TestGuestIdentity(t *testing.T) {
	jdoe := `{"apiVersion":"backstage.io/v1alpha1","kind":"User","metadata":{"name":"JDoe","namespace":"default"},"relations":[{"type":"memberOf","targetRef":"group:default/team-a"},{"type":"ownerOf","targetRef":"component:default/x"},{"type":"memberOf","targetRef":"group:default/team-b"},{"type":"memberOf","targetRef":"group:default/team-a"}]}`
	tests := []struct {
		name    string
		guest   string // YAML under auth.providers.guest
		env     string
		extra   string // YAML under auth
		catalog UserResolver
		status  int
		sub     string
		ent     string
		body    string // exact body for errors
		entInTk bool
	}{
		{name: "defaults", guest: "{}", status: 200, sub: "user:development/guest", ent: `["user:development/guest"]`},
		{name: "configured ref and ownership", guest: "{userEntityRef: 'user:default/alice', ownershipEntityRefs: ['group:default/admins', 'user:default/alice']}",
			status: 200, sub: "user:default/alice", ent: `["group:default/admins","user:default/alice"]`},
		{name: "catalog user with groups", guest: "{userEntityRef: 'jdoe'}", catalog: fakeCatalog{users: map[string]string{"user:default/jdoe": jdoe}},
			status: 200, sub: "user:default/jdoe", ent: `["user:default/jdoe","group:default/team-a","group:default/team-b"]`},
		{name: "catalog miss falls back", guest: "{}", catalog: fakeCatalog{users: map[string]string{}},
			status: 200, sub: "user:development/guest", ent: `["user:development/guest"]`},
		{name: "catalog error falls back", guest: "{}", catalog: fakeCatalog{fail: true},
			status: 200, sub: "user:development/guest", ent: `["user:development/guest"]`},
		{name: "1.45 ent claim", guest: "{}", extra: "omitIdentityTokenOwnershipClaim: false\n  ",
			status: 200, sub: "user:development/guest", ent: `["user:development/guest"]`, entInTk: true},
		{name: "outside development", guest: "{}", env: "production", status: 403,
			body: `{"error":{"name":"NotAllowedError","message":"The guest provider cannot be used outside of a development environment unless 'auth.providers.guest.dangerouslyAllowOutsideDevelopment' is enabled"},"request":{"method":"GET","url":"/guest/refresh"},"response":{"statusCode":403}}`},
		{name: "outside development allowed", guest: "{dangerouslyAllowOutsideDevelopment: true}", env: "production",
			status: 200, sub: "user:development/guest", ent: `["user:development/guest"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := "backend: {baseUrl: 'http://127.0.0.1:7007'}\nauth:\n  " + tt.extra + "providers:\n    guest: " + tt.guest + "\n"
			f := setup(t, setupOpts{config: cfg, catalog: tt.catalog, env: tt.env})
			r := call(t, http.MethodGet, f.url+"/api/auth/guest/refresh", "")
			if r.status != tt.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if tt.status != 200 {
				if r.body != tt.body {
					t.Fatalf("body\n got %s\nwant %s", r.body, tt.body)
				}
				return
			}
			var v struct {
				BackstageIdentity struct {
					Token    string
					Identity struct {
						UserEntityRef       string
						OwnershipEntityRefs []string
					}
				}
			}
			if err := json.Unmarshal([]byte(r.body), &v); err != nil {
				t.Fatal(err)
			}
			id := v.BackstageIdentity.Identity
			if id.UserEntityRef != tt.sub || mustJSON(id.OwnershipEntityRefs) != tt.ent {
				t.Fatalf("identity %+v", id)
			}
			_, p := tokenParts(t, v.BackstageIdentity.Token)
			if got := strings.Join(p.Keys(), ","); tt.entInTk != (got == "iss,sub,ent,aud,iat,exp,uip") {
				t.Fatalf("claims %s", got)
			}
			// Ownership reaches other plugins through userinfo, whether or
			// not the token carries it.
			who := call(t, http.MethodGet, f.url+"/api/catalog/whoami", "Bearer "+v.BackstageIdentity.Token)
			if want := `{"type":"user","userEntityRef":"` + tt.sub + `","ownershipEntityRefs":` + tt.ent + `}`; who.body != want {
				t.Fatalf("whoami %s, want %s", who.body, want)
			}
			info := call(t, http.MethodGet, f.url+"/api/auth/v1/userinfo", "Bearer "+v.BackstageIdentity.Token)
			if want := `{"claims":{"sub":"` + tt.sub + `","ent":` + tt.ent + `}}`; info.status != 200 || info.body != want {
				t.Fatalf("userinfo %d %s, want %s", info.status, info.body, want)
			}
		})
	}
}

func TestAuthRoutes(t *testing.T) {
	f := setup(t, setupOpts{})
	_, token := refresh(t, f)
	envelope := func(name, msg, method, url string, status string) string {
		return `{"error":{"name":"` + name + `","message":"` + msg + `"},"request":{"method":"` + method + `","url":"` + url + `"},"response":{"statusCode":` + status + `}}`
	}
	tests := []struct {
		method, path, authz string
		status              int
		body                string
	}{
		{"GET", "/guest/start", "", 501, envelope("NotImplementedError", "Not implemented", "GET", "/guest/start", "501")},
		{"GET", "/guest/handler/frame", "", 501, envelope("NotImplementedError", "Not implemented", "GET", "/guest/handler/frame", "501")},
		{"POST", "/guest/handler/frame", "", 501, envelope("NotImplementedError", "Not implemented", "POST", "/guest/handler/frame", "501")},
		{"POST", "/guest/start", "", 404, envelope("NotFoundError", "Unknown auth provider 'guest'", "POST", "/guest/start", "404")},
		{"GET", "/guest/logout", "", 404, envelope("NotFoundError", "Unknown auth provider 'guest'", "GET", "/guest/logout", "404")},
		{"POST", "/guest/logout", "", 404, envelope("NotFoundError", "Unknown auth provider 'guest'", "POST", "/guest/logout", "404")},
		{"GET", "/nope", "", 404, envelope("NotFoundError", "Unknown auth provider 'nope'", "GET", "/nope", "404")},
		{"GET", "/v1/token", "", 404, envelope("NotFoundError", "Unknown auth provider 'v1'", "GET", "/v1/token", "404")},
		{"POST", "/v1/userinfo", "", 404, envelope("NotFoundError", "Unknown auth provider 'v1'", "POST", "/v1/userinfo", "404")},
		{"DELETE", "/.well-known/jwks.json", "", 404, envelope("NotFoundError", "Unknown auth provider '.well-known'", "DELETE", "/.well-known/jwks.json", "404")},
		{"GET", "/.well-known/nope", "", 404, envelope("NotFoundError", "Unknown auth provider '.well-known'", "GET", "/.well-known/nope", "404")},
		{"GET", "/v1/userinfo", "", 401, envelope("AuthenticationError", "No token provided", "GET", "/v1/userinfo", "401")},
		{"GET", "/v1/userinfo", "Bearer garbage", 401, envelope("AuthenticationError", "Illegal token", "GET", "/v1/userinfo", "401")},
		{"GET", "/v1/userinfo", "Bearer statictokenabcdefghijklmnopqrstuvwxyz0123", 400, envelope("InputError", "Userinfo endpoint must be called with a token that represents a user principal", "GET", "/v1/userinfo", "400")},
		{"GET", "/v1/userinfo", "Bearer " + token, 200, `{"claims":{"sub":"user:development/guest","ent":["user:development/guest"]}}`},
		// The auth routes are open: a bad token does not stop a sign-in.
		{"GET", "/guest/refresh", "Bearer garbage", 200, ""},
		{"GET", "/.well-known/openid-configuration", "", 200, `{"issuer":"http://127.0.0.1:7007/api/auth","token_endpoint":"http://127.0.0.1:7007/api/auth/v1/token","userinfo_endpoint":"http://127.0.0.1:7007/api/auth/v1/userinfo","jwks_uri":"http://127.0.0.1:7007/api/auth/.well-known/jwks.json","response_types_supported":["code","id_token"],"subject_types_supported":["public"],"id_token_signing_alg_values_supported":["RS256","RS384","RS512","ES256","ES384","ES512","PS256","PS384","PS512","EdDSA"],"scopes_supported":["openid"],"token_endpoint_auth_methods_supported":["client_secret_basic","client_secret_post"],"claims_supported":["sub","ent"],"grant_types_supported":["authorization_code"],"authorization_endpoint":"http://127.0.0.1:7007/api/auth/v1/authorize","code_challenge_methods_supported":["S256","plain"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.authz, func(t *testing.T) {
			r := call(t, tt.method, f.url+"/api/auth"+tt.path, tt.authz)
			if r.status != tt.status || (tt.body != "" && r.body != tt.body) {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, tt.status, tt.body)
			}
		})
	}

	t.Run("jwks", func(t *testing.T) {
		r := call(t, http.MethodGet, f.url+"/api/auth/.well-known/jwks.json", "")
		h, _ := tokenParts(t, token)
		var v struct{ Keys []json.RawMessage }
		if err := json.Unmarshal([]byte(r.body), &v); err != nil || len(v.Keys) != 1 {
			t.Fatalf("%s %v", r.body, err)
		}
		k, err := parsePublicJWK(v.Keys[0])
		if err != nil || k.kid != h.String("kid") {
			t.Fatalf("key %s: %v", v.Keys[0], err)
		}
		// jose's members, in jwx's order (clients read the key as JSON).
		o, _ := ojson.DecodeObject(v.Keys[0])
		if got := strings.Join(slices.Sorted(slices.Values(o.Keys())), ","); got != "alg,crv,kid,kty,x,y" ||
			o.String("kty") != "EC" || o.String("crv") != "P-256" || o.String("alg") != "ES256" {
			t.Fatalf("jwk %s", v.Keys[0])
		}
	})

	t.Run("guest not configured", func(t *testing.T) {
		g := setup(t, setupOpts{config: "backend: {baseUrl: 'http://x'}\n"})
		r := call(t, http.MethodGet, g.url+"/api/auth/guest/refresh", "")
		if want := envelope("NotFoundError", "No auth provider registered for 'guest'", "GET", "/guest/refresh", "404"); r.body != want {
			t.Fatalf("got %s", r.body)
		}
	})

	t.Run("userinfo unknown user", func(t *testing.T) {
		// A valid token for a user who never signed in here.
		key, err := f.svc.currentKey(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		now := f.clock.Now().Unix()
		tok := forge(t, key, map[string]any{"typ": TypUser, "alg": "ES256", "kid": key.kid},
			map[string]any{"sub": "user:default/stranger", "aud": "backstage", "iat": now, "exp": now + 60})
		r := call(t, http.MethodGet, f.url+"/api/auth/v1/userinfo", "Bearer "+tok)
		if r.status != 404 || r.body != "User info not found" || r.ctype != "text/html; charset=utf-8" {
			t.Fatalf("got %d %q %s", r.status, r.ctype, r.body)
		}
	})
}

func TestTokenExpirationConfig(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", time.Hour},
		{"{minutes: 30}", 30 * time.Minute},
		{"'1m'", 10 * time.Minute},
		{"{days: 3}", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			y := "backend: {baseUrl: 'http://x'}\nauth: {providers: {guest: {}}}\n"
			if tt.value != "" {
				y = "backend: {baseUrl: 'http://x'}\nauth: {backstageTokenExpiration: " + tt.value + ", providers: {guest: {}}}\n"
			}
			f := setup(t, setupOpts{config: y})
			tok, err := f.svc.IssueToken(context.Background(), "user:default/a", nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.ExpiresAt.Sub(time.Unix(f.clock.Now().Unix(), 0)); got != tt.want {
				t.Fatalf("lifetime %v, want %v", got, tt.want)
			}
		})
	}
}

// TestIdentityTokenAlgorithm: auth.identityTokenAlgorithm picks the curve
// of the signing keys; tokens verify and the JWKS publishes the key.
func TestIdentityTokenAlgorithm(t *testing.T) {
	for _, tt := range []struct{ alg, crv string }{{"", "P-256"}, {"ES256", "P-256"}, {"ES384", "P-384"}, {"ES512", "P-521"}} {
		t.Run(tt.alg, func(t *testing.T) {
			y := "backend: {baseUrl: 'http://x'}\nauth: {providers: {guest: {}}}\n"
			if tt.alg != "" {
				y = "backend: {baseUrl: 'http://x'}\nauth: {identityTokenAlgorithm: " + tt.alg + ", providers: {guest: {}}}\n"
			}
			f := setup(t, setupOpts{config: y})
			tok, err := f.svc.IssueToken(context.Background(), "user:default/a", nil)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := tokenParts(t, tok.Token)
			want := tt.alg
			if want == "" {
				want = "ES256"
			}
			if h.String("alg") != want {
				t.Errorf("alg %s, want %s", h.String("alg"), want)
			}
			if r := call(t, http.MethodGet, f.url+"/api/catalog/whoami", "Bearer "+tok.Token); r.status != 200 {
				t.Errorf("token refused: %d %s", r.status, r.body)
			}
			if r := call(t, http.MethodGet, f.url+"/api/auth/.well-known/jwks.json", ""); !strings.Contains(r.body, `"crv":"`+tt.crv+`"`) || !strings.Contains(r.body, `"alg":"`+want+`"`) {
				t.Errorf("jwks %s", r.body)
			}
		})
	}
	_, err := New(context.Background(), Options{Config: loadConfig(t, "backend: {baseUrl: 'http://x'}\nauth: {identityTokenAlgorithm: RS256}\n")})
	if err == nil || !strings.Contains(err.Error(), "auth.identityTokenAlgorithm") {
		t.Errorf("RS256: %v", err)
	}
}
