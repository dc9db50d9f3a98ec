package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/backend/httpserver"
)

func envelope(name, msg, url string, status string) string {
	return `{"error":{"name":"` + name + `","message":"` + msg + `"},"request":{"method":"GET","url":"` + url + `"},"response":{"statusCode":` + status + `}}`
}

// TestBarrier replays the cases of testdata/oracle-1.55-rejections.txt
// against a protected plugin route and expects the oracle's bodies.
func TestBarrier(t *testing.T) {
	f := setup(t, setupOpts{})
	_, good := refresh(t, f)
	h, p := tokenParts(t, good)
	kid := h.String("kid")
	now := f.clock.Now().Unix()
	hdr := func(kv ...any) map[string]any {
		m := map[string]any{"typ": TypUser, "alg": "ES256", "kid": kid}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	claims := func(kv ...any) map[string]any {
		m := map[string]any{}
		for _, k := range p.Keys() {
			v, _ := p.Get(k)
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	key, err := f.svc.currentKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	limited, _, err := LimitedUserToken(good)
	if err != nil {
		t.Fatal(err)
	}
	const legacySecret, oldSecret = "bGVnYWN5c2VjcmV0bGVnYWN5c2VjcmV0", "b2xka2V5c2VjcmV0b2xka2V5c2VjcmV0"
	failed := envelope("AuthenticationError", "Failed user token verification", "/whoami", "401")
	illegal := envelope("AuthenticationError", "Illegal token", "/whoami", "401")
	missing := envelope("AuthenticationError", "Missing credentials", "/whoami", "401")

	tests := []struct {
		name   string
		plugin string // default catalog
		authz  string
		status int
		body   string
	}{
		{name: "user token", authz: "Bearer " + good, status: 200,
			body: `{"type":"user","userEntityRef":"user:development/guest","ownershipEntityRefs":["user:development/guest"]}`},
		{name: "lowercase bearer", authz: "bearer  " + good, status: 200,
			body: `{"type":"user","userEntityRef":"user:development/guest","ownershipEntityRefs":["user:development/guest"]}`},
		{name: "no token", status: 401, body: missing},
		{name: "basic auth", authz: "Basic garbage", status: 401, body: missing},
		{name: "garbage", authz: "Bearer garbage", status: 401, body: illegal},
		{name: "wrong key", authz: "Bearer " + forge(t, nil, hdr(), claims()), status: 401, body: failed},
		{name: "unknown kid", authz: "Bearer " + forge(t, key, hdr("kid", "00000000-0000-0000-0000-000000000000"), claims()), status: 401, body: failed},
		{name: "expired", authz: "Bearer " + forge(t, key, hdr(), claims("iat", now-7200, "exp", now-3600)), status: 401, body: failed},
		{name: "expires now", authz: "Bearer " + forge(t, key, hdr(), claims("exp", now)), status: 401, body: failed},
		{name: "not yet valid", authz: "Bearer " + forge(t, key, hdr(), claims("nbf", now+60)), status: 401, body: failed},
		{name: "alg none", authz: "Bearer " + b64.EncodeToString([]byte(`{"typ":"vnd.backstage.user","alg":"none","kid":"`+kid+`"}`)) + "." + parts[1] + ".", status: 401, body: failed},
		{name: "alg none two parts", authz: "Bearer " + b64.EncodeToString([]byte(`{"typ":"vnd.backstage.user","alg":"none"}`)) + "." + parts[1], status: 401, body: illegal},
		{name: "alg HS256 with the public key", authz: "Bearer " + parts[0][:0] + hsUser(kid, parts[1]), status: 401, body: failed},
		{name: "tampered claims", authz: "Bearer " + parts[0] + "." + b64.EncodeToString(jsonBytes(claims("sub", "user:default/admin"))) + "." + parts[2], status: 401, body: failed},
		{name: "bad signature", authz: "Bearer " + parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA", status: 401, body: failed},
		{name: "no typ with aud", authz: "Bearer " + forge(t, nil, hdr("typ", nil), claims()), status: 401, body: failed},
		{name: "no typ no aud", authz: "Bearer " + forge(t, key, hdr("typ", nil), claims("aud", nil)), status: 401, body: illegal},
		{name: "no typ with aud, ours", authz: "Bearer " + forge(t, key, hdr("typ", nil), claims()), status: 200,
			body: `{"type":"user","userEntityRef":"user:development/guest","ownershipEntityRefs":["user:development/guest"]}`},
		{name: "missing exp", authz: "Bearer " + forge(t, key, hdr(), claims("exp", nil)), status: 401, body: failed},
		{name: "missing sub", authz: "Bearer " + forge(t, key, hdr(), claims("sub", nil)), status: 401, body: failed},
		{name: "limited user token", authz: "Bearer " + limited, status: 401, body: envelope("AuthenticationError", "Illegal limited user token", "/whoami", "401")},
		{name: "static", authz: "Bearer statictokenabcdefghijklmnopqrstuvwxyz0123", status: 200, body: `{"type":"service","subject":"static-full"}`},
		{name: "static prefix", authz: "Bearer statictokenabcdefghijklmnopqrstuvwxyz012", status: 401, body: illegal},
		{name: "static outside restrictions", authz: "Bearer restrictedtokenabcdefghijklmnopqrstuvwxyz", status: 403,
			body: envelope("NotAllowedError", "This token's access is restricted to plugin(s) 'scaffolder'", "/whoami", "403")},
		{name: "static inside restrictions", plugin: "scaffolder", authz: "Bearer restrictedtokenabcdefghijklmnopqrstuvwxyz", status: 200,
			body: `{"type":"service","subject":"static-restricted","permissionNames":[],"actions":[]}`},
		{name: "static with permission restriction", authz: "Bearer restrictedpermtokenabcdefghijklmnopqrstuv", status: 200,
			body: `{"type":"service","subject":"static-perm","permissionNames":["catalog.entity.read"],"actions":["read"]}`},
		{name: "static with permission restriction elsewhere", plugin: "scaffolder", authz: "Bearer restrictedpermtokenabcdefghijklmnopqrstuv", status: 403,
			body: envelope("NotAllowedError", "This token's access is restricted to plugin(s) 'catalog'", "/whoami", "403")},
		{name: "legacy", authz: "Bearer " + hsToken(legacySecret, map[string]any{"sub": "backstage-server", "exp": now + 600}), status: 200, body: `{"type":"service","subject":"legacy-one"}`},
		{name: "legacy without exp", authz: "Bearer " + hsToken(legacySecret, map[string]any{"sub": "backstage-server"}), status: 200, body: `{"type":"service","subject":"legacy-one"}`},
		{name: "legacy backend.auth.keys", authz: "Bearer " + hsToken(oldSecret, map[string]any{"sub": "backstage-server", "exp": now + 600}), status: 200, body: `{"type":"service","subject":"external:backstage-plugin"}`},
		{name: "legacy wrong secret", authz: "Bearer " + hsToken("bm90dGhlcmlnaHRzZWNyZXQ", map[string]any{"sub": "backstage-server", "exp": now + 600}), status: 401, body: illegal},
		{name: "legacy other subject", authz: "Bearer " + hsToken(legacySecret, map[string]any{"sub": "someone", "exp": now + 600}), status: 401, body: illegal},
		{name: "legacy with audience", authz: "Bearer " + hsToken(legacySecret, map[string]any{"sub": "backstage-server", "aud": "x", "exp": now + 600}), status: 401, body: illegal},
		// Backstage answers 500 JWTExpired here; a 401 with jose's message is the deliberate difference.
		{name: "legacy expired", authz: "Bearer " + hsToken(legacySecret, map[string]any{"sub": "backstage-server", "exp": now - 600}), status: 401,
			body: envelope("AuthenticationError", `\"exp\" claim timestamp check failed`, "/whoami", "401")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plugin := tt.plugin
			if plugin == "" {
				plugin = "catalog"
			}
			r := call(t, http.MethodGet, f.url+"/api/"+plugin+"/whoami", tt.authz)
			if r.status != tt.status || r.body != tt.body {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, tt.status, tt.body)
			}
		})
	}
}

// hsUser signs a user-typed token with HMAC, keyed by nothing we hold: the
// verifier must refuse any algorithm but the key's own.
func hsUser(kid, payload string) string {
	input := b64.EncodeToString([]byte(`{"typ":"vnd.backstage.user","alg":"HS256","kid":"`+kid+`"}`)) + "." + payload
	return input + "." + b64.EncodeToString(hmacSign([]byte("x"), []byte(input)))
}

func jsonBytes(v any) []byte { return []byte(mustJSON(v)) }

func TestBarrierPolicies(t *testing.T) {
	t.Run("open route", func(t *testing.T) {
		f := setup(t, setupOpts{})
		for _, authz := range []string{"", "Bearer garbage"} {
			r := call(t, http.MethodGet, f.url+"/api/catalog/health", authz)
			if r.status != 200 || r.body != `{"status":"ok"}` {
				t.Fatalf("%q: %d %s", authz, r.status, r.body)
			}
		}
		// Prefix semantics: /health covers /health/x, not /healthz.
		if r := call(t, http.MethodGet, f.url+"/api/catalog/healthz", ""); r.status != 401 {
			t.Fatalf("healthz: %d %s", r.status, r.body)
		}
	})
	t.Run("default policy disabled", func(t *testing.T) {
		cfg := strings.Replace(baseConfig, "  auth:\n", "  auth:\n    dangerouslyDisableDefaultAuthPolicy: true\n", 1)
		f := setup(t, setupOpts{config: cfg})
		if r := call(t, http.MethodGet, f.url+"/api/catalog/whoami", ""); r.status != 200 || r.body != `{"type":"none"}` {
			t.Fatalf("anonymous: %d %s", r.status, r.body)
		}
		// A bad token is still refused where the handler looks at it.
		if r := call(t, http.MethodGet, f.url+"/api/catalog/whoami", "Bearer garbage"); r.status != 401 ||
			r.body != envelope("AuthenticationError", "Illegal token", "/whoami", "401") {
			t.Fatalf("bad token: %d %s", r.status, r.body)
		}
	})
	t.Run("audited plugin", func(t *testing.T) {
		for _, disabled := range []bool{false, true} {
			cfg := strings.Replace(baseConfig, "  auth:\n", fmt.Sprintf("  auth:\n    dangerouslyDisableDefaultAuthPolicy: %v\n", disabled), 1)
			f := setup(t, setupOpts{config: cfg})
			srv := httpserver.New(httpserver.Options{Config: loadConfig(t, cfg)})
			g := srv.Plugin("audited")
			g.Use(f.svc.Middleware(MiddlewareOptions{PluginID: "audited", Audited: true, Unaudited: []string{"/static"}}))
			g.GET("/whoami", whoami(f.svc))
			g.GET("/static", func(c echo.Context) error { return httpserver.WriteJSON(c, 200, []byte(`{}`)) })
			hs := httptest.NewServer(srv.Handler())
			t.Cleanup(hs.Close)
			_, good := refresh(t, f)
			wrapped := `{"error":{"name":"AuthenticationError","message":"Could not resolve credentials; caused by AuthenticationError: Illegal token",` +
				`"cause":{"name":"AuthenticationError","message":"Illegal token"}},"request":{"method":"GET","url":"/whoami"},"response":{"statusCode":401}}`
			tests := []struct {
				path, authz string
				status      int
				body        string
			}{
				{"/whoami", "Bearer " + good, 200, `{"type":"user","userEntityRef":"user:development/guest","ownershipEntityRefs":["user:development/guest"]}`},
				{"/whoami", "Bearer garbage", 401, wrapped},
				{"/static", "Bearer garbage", 200, `{}`},
				{"/nope", "Bearer garbage", 404, ``},
				{"/whoami", "", 200, `{"type":"none"}`},
			}
			if !disabled {
				// The barrier answers first, unwrapped, and everywhere.
				illegal := func(url string) string { return envelope("AuthenticationError", "Illegal token", url, "401") }
				tests[1].body = illegal("/whoami")
				tests[2].status, tests[2].body = 401, illegal("/static")
				tests[3].status, tests[3].body = 401, illegal("/nope")
				tests[4].status, tests[4].body = 401, envelope("AuthenticationError", "Missing credentials", "/whoami", "401")
			}
			for _, tt := range tests {
				r := call(t, http.MethodGet, hs.URL+"/api/audited"+tt.path, tt.authz)
				if r.status != tt.status || r.body != tt.body {
					t.Errorf("policy disabled %v, %s %q: got %d %s\nwant %d %s", disabled, tt.path, tt.authz, r.status, r.body, tt.status, tt.body)
				}
			}
		}
	})
	t.Run("barrier added at run time", func(t *testing.T) {
		f := setup(t, setupOpts{})
		b := f.svc.Barrier("catalog")
		if b.isOpen("/api/catalog/entities/by-name/x") {
			t.Fatal("open before policy")
		}
		b.AllowUnauthenticated("/entities/:kind")
		if !b.isOpen("/api/catalog/Entities/by-name/x") || b.isOpen("/api/catalog/entities") {
			t.Fatal("param policy")
		}
		b.AllowUnauthenticated("/")
		if !b.isOpen("/api/catalog") {
			t.Fatal("root policy")
		}
	})
}

func TestExternalAccessConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"short static token", "- {type: static, options: {token: short, subject: s}}", "Illegal token, must be at least 8 characters length"},
		{"spaced subject", "- {type: static, options: {token: longenoughtoken, subject: 'a b'}}", "Illegal subject, must be a set of non-space characters"},
		{"unknown type", "- {type: jwt, options: {}}", "Unknown type 'jwt' in backend.auth.externalAccess, expected one of 'static', 'legacy'"},
		{"bad restriction key", "- {type: static, options: {token: longenoughtoken, subject: s}, accessRestrictions: [{plugin: catalog, bogus: 1}]}",
			"Invalid key 'bogus' in 'accessRestrictions' config, expected one of 'plugin', 'permission', 'permissionAttribute'"},
		{"duplicate plugin", "- {type: static, options: {token: longenoughtoken, subject: s}, accessRestrictions: [{plugin: catalog}, {plugin: catalog}]}",
			"Attempted to declare 'accessRestrictions' twice for plugin 'catalog', which is not permitted"},
		{"bad action", "- {type: static, options: {token: longenoughtoken, subject: s}, accessRestrictions: [{plugin: catalog, permissionAttribute: {action: [read, destroy]}}]}",
			"Invalid value 'destroy' at 'action' in 'permissionAttributes' config, valid values are 'create', 'read', 'update', 'delete'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := loadConfig(t, "backend:\n  baseUrl: http://x\n  auth:\n    externalAccess:\n      "+tt.yaml+"\n")
			_, err := New(context.Background(), Options{Config: cfg})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}
