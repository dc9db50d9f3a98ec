package wire_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
)

// The bad-token table: every plugin × every kind of presented token × the
// default auth policy on and off, answered as the Backstage 1.55 oracle
// answers. Recorded from two oracles whose backend.auth matches
// badTokenAuthConfig (one with dangerouslyDisableDefaultAuthPolicy true, one
// false):
//
//	UNDERSTAGE_RECORD_BADTOKENS_ON=http://127.0.0.1:7151 \
//	UNDERSTAGE_RECORD_BADTOKENS_OFF=http://127.0.0.1:7152 \
//	  CGO_ENABLED=0 go test ./cmd/understage/wire -run TestRecordBadTokens
const badTokensGolden = "testdata/badtokens-oracle-1.55.json"

// badTokenAuthConfig is the backend.auth block both sides run with, less the
// policy flag: a static token restricted to the catalog, so that using it
// elsewhere is a token of the wrong kind for that plugin.
const badTokenAuthConfig = `    externalAccess:
      - type: static
        options: {token: catalog-only-token-0123, subject: catalog-only}
        accessRestrictions: [{plugin: catalog}]
`

// badTokenRoutes covers each plugin's routes by how Backstage treats the
// caller there: audited routes (resolve the caller first), routes that
// resolve it only when they need it, routes that never look, unknown routes.
var badTokenRoutes = []struct{ method, path, body string }{
	{"GET", "/api/catalog/entities/by-name/component/default/does-not-exist", ""},
	{"GET", "/api/catalog/.well-known/backstage/permissions/metadata", ""},
	{"POST", "/api/catalog/.well-known/backstage/permissions/apply-conditions", `{"items":[]}`},
	{"GET", "/api/catalog/no-such-route", ""},
	{"GET", "/api/scaffolder/v2/tasks/does-not-exist", ""},
	{"GET", "/api/scaffolder/v2/templates/default/template/does-not-exist/parameter-schema", ""},
	{"GET", "/api/scaffolder/v2/actions", ""},
	{"GET", "/api/scaffolder/v2/templating-extensions", ""},
	{"POST", "/api/permission/authorize", `{"items":[]}`},
	{"GET", "/api/permission/health", ""},
	{"GET", "/api/auth/v1/userinfo", ""},
	{"GET", "/api/auth/.well-known/jwks.json", ""},
}

// presented is how a token kind travels in a request.
type presented struct {
	authorization string
	cookie        string
	query         string
}

// badTokenKinds builds every token kind against the server at base, from a
// guest token it issued: the same construction for the oracle and for us.
func badTokenKinds(t *testing.T, base string) map[string]presented {
	t.Helper()
	good := guestToken(t, base)
	parts := strings.Split(good, ".")
	if len(parts) != 3 {
		t.Fatalf("guest token %q", good)
	}
	b64 := base64.RawURLEncoding
	var payload map[string]any
	raw, err := b64.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &payload) != nil {
		t.Fatalf("guest token payload %q: %v", parts[1], err)
	}
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b64.EncodeToString(b)
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range payload {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	var header map[string]any
	if raw, err := b64.DecodeString(parts[0]); err != nil || json.Unmarshal(raw, &header) != nil {
		t.Fatalf("guest token header: %v", err)
	}
	limited := enc(map[string]any{"typ": "vnd.backstage.limited-user", "alg": header["alg"], "kid": header["kid"]}) + "." +
		enc(map[string]any{"sub": payload["sub"], "iat": payload["iat"], "exp": payload["exp"]}) + "." + payload["uip"].(string)
	bearer := func(tok string) presented { return presented{authorization: "Bearer " + tok} }
	return map[string]presented{
		"none":       {},
		"good":       bearer(good),
		"forged":     bearer(parts[0] + "." + enc(with("sub", "user:default/admin")) + "." + parts[2]),
		"expired":    bearer(parts[0] + "." + enc(with("exp", 1000)) + "." + parts[2]),
		"badsig":     bearer(parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-4] + "AAAA"),
		"algnone":    bearer(enc(map[string]any{"typ": "vnd.backstage.user", "alg": "none", "kid": header["kid"]}) + "." + parts[1] + "."),
		"malformed":  bearer("not-a-jwt"),
		"garbage3":   bearer("a.b.c"),
		"foreign":    bearer(enc(map[string]any{"typ": "JWT", "alg": "HS256"}) + "." + enc(map[string]any{"sub": "x"}) + ".c2ln"),
		"limited":    bearer(limited),
		"restricted": bearer("catalog-only-token-0123"),
		// Backstage reads neither cookies nor query parameters on these
		// routes: such a request is anonymous.
		"cookie":        {cookie: "backstage-auth=" + limited},
		"cookie-forged": {cookie: "backstage-auth=not-a-jwt"},
		"basic":         {authorization: "Basic dXNlcjpwYXNz"},
		"query":         {query: "?token=not-a-jwt"},
	}
}

func guestToken(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Post(base+"/api/auth/guest/refresh", "application/json", nil)
	if err != nil {
		t.Fatalf("guest sign-in: %v", err)
	}
	defer res.Body.Close()
	var v struct {
		BackstageIdentity struct{ Token string } `json:"backstageIdentity"`
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || v.BackstageIdentity.Token == "" {
		t.Fatalf("guest sign-in: %d %v", res.StatusCode, err)
	}
	return v.BackstageIdentity.Token
}

// badTokenAnswer is one recorded answer. Bodies of successful answers are
// other tests' business (and hold keys and instance data): only the status
// is kept for them.
type badTokenAnswer struct {
	Policy string `json:"policy"` // "on" or "off"
	Token  string `json:"token"`
	Method string `json:"method"`
	Path   string `json:"path"`
	Status int    `json:"status"`
	Body   string `json:"body,omitempty"`
}

func askBadToken(t *testing.T, base, method, path, body string, p presented) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, base+path+p.query, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.authorization != "" {
		req.Header.Set("Authorization", p.authorization)
	}
	if p.cookie != "" {
		req.Header.Set("Cookie", p.cookie)
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode < 300 {
		return res.StatusCode, ""
	}
	return res.StatusCode, string(b)
}

func badTokenTable(t *testing.T, policy, base string) []badTokenAnswer {
	kinds := badTokenKinds(t, base)
	var out []badTokenAnswer
	for _, name := range slices.Sorted(maps.Keys(kinds)) {
		for _, r := range badTokenRoutes {
			status, body := askBadToken(t, base, r.method, r.path, r.body, kinds[name])
			out = append(out, badTokenAnswer{Policy: policy, Token: name, Method: r.method, Path: r.path, Status: status, Body: body})
		}
	}
	return out
}

func TestRecordBadTokens(t *testing.T) {
	on, off := os.Getenv("UNDERSTAGE_RECORD_BADTOKENS_ON"), os.Getenv("UNDERSTAGE_RECORD_BADTOKENS_OFF")
	if on == "" || off == "" {
		t.Skip("set UNDERSTAGE_RECORD_BADTOKENS_ON and _OFF to oracles with the default auth policy on and off")
	}
	all := append(badTokenTable(t, "on", on), badTokenTable(t, "off", off)...)
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(badTokensGolden), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badTokensGolden, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("recorded %d answers", len(all))
}

// badTokenKnownDifferences are answers that differ for reasons outside
// authentication, by token kind, method and path (policy off only; with the
// policy on the barrier answers first). Backstage's OpenAPI routers refuse
// unknown query parameters on these routes before the handler runs.
var badTokenKnownDifferences = map[string]string{
	"query GET /api/catalog/entities/by-name/component/default/does-not-exist":                "catalog/httpapi: unknown query parameter",
	"query GET /api/scaffolder/v2/tasks/does-not-exist":                                       "scaffolder/httpapi: unknown query parameter",
	"query GET /api/scaffolder/v2/templates/default/template/does-not-exist/parameter-schema": "scaffolder/httpapi: unknown query parameter",
	"query GET /api/scaffolder/v2/actions":                                                    "scaffolder/httpapi: unknown query parameter",
	"query GET /api/scaffolder/v2/templating-extensions":                                      "scaffolder/httpapi: unknown query parameter",
}

// TestBadTokens replays the oracle's answers against understage, with the
// default auth policy on and off.
func TestBadTokens(t *testing.T) {
	raw, err := os.ReadFile(badTokensGolden)
	if err != nil {
		t.Fatal(err)
	}
	var want []badTokenAnswer
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"on", "off"} {
		t.Run("policy "+policy, func(t *testing.T) {
			base := badTokenBackend(t, policy == "off")
			got := map[string]badTokenAnswer{}
			for _, a := range badTokenTable(t, policy, base) {
				got[a.Token+" "+a.Method+" "+a.Path] = a
			}
			n := 0
			for _, w := range want {
				if w.Policy != policy {
					continue
				}
				n++
				key := w.Token + " " + w.Method + " " + w.Path
				g, ok := got[key]
				if !ok {
					t.Errorf("%s: not asked", key)
					continue
				}
				if g.Status != w.Status || g.Body != w.Body {
					if why, known := badTokenKnownDifferences[key]; known && policy == "off" {
						t.Logf("known difference (%s): %s: got %d, oracle %d", why, key, g.Status, w.Status)
						continue
					}
					t.Errorf("%s\n  got  %d %s\n  want %d %s", key, g.Status, g.Body, w.Status, w.Body)
				}
			}
			if n != len(got) {
				t.Errorf("golden has %d answers for policy %s, the table asks %d: re-record", n, policy, len(got))
			}
		})
	}
}

func badTokenBackend(t *testing.T, disabled bool) string {
	t.Helper()
	dir := t.TempDir()
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
  auth:
    dangerouslyDisableDefaultAuthPolicy: %v
%s  database: {client: better-sqlite3, connection: ':memory:'}
  workingDirectory: %q
auth:
  environment: development
  providers:
    guest: {dangerouslyAllowOutsideDevelopment: true}
permission:
  enabled: true
app:
  disabled: true
`, disabled, badTokenAuthConfig, filepath.Join(dir, "work"))
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b, err := wire.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("wire.New: %v", err)
	}
	t.Cleanup(b.Close)
	b.Server.SetReady()
	srv := httptest.NewServer(b.Server.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}
