package auth

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
)

// oracleURL is the reference Backstage backend (see the oracle notes); it
// runs with baseUrl http://127.0.0.1:7007, like baseConfig.
func oracleURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("UNDERSTAGE_ORACLE_URL")
	if u == "" {
		u = "http://127.0.0.1:7007"
	}
	c := http.Client{Timeout: 2 * time.Second}
	res, err := c.Get(u + "/api/auth/.well-known/jwks.json")
	if err != nil {
		t.Skipf("oracle not reachable at %s: %v", u, err)
	}
	res.Body.Close()
	return u
}

// TestOracleShapes compares our auth routes with the oracle's: bodies byte
// for byte where they hold no secrets, and decoded token and key structure
// (key order, types, claim relations) where they do.
func TestOracleShapes(t *testing.T) {
	oracle := oracleURL(t)
	f := setup(t, setupOpts{clock: &clock{t: time.Now()}})
	f.svc.now = time.Now // token lifetimes are compared with the oracle's, at real time

	type pair struct{ ours, theirs response }
	get := func(method, path, authzOurs, authzTheirs string) pair {
		return pair{call(t, method, f.url+path, authzOurs), call(t, method, oracle+path, authzTheirs)}
	}

	// Refresh: same body once token and the second it was cut at are masked.
	r := get(http.MethodGet, "/api/auth/guest/refresh?optional&env=development", "", "")
	tokenRe := regexp.MustCompile(`"token":"[^"]+"`)
	expRe := regexp.MustCompile(`"expiresInSeconds":(3599|3600)`)
	mask := func(s string) string {
		return expRe.ReplaceAllString(tokenRe.ReplaceAllString(s, `"token":"T"`), `"expiresInSeconds":N`)
	}
	if mask(r.ours.body) != mask(r.theirs.body) || r.ours.ctype != r.theirs.ctype {
		t.Fatalf("refresh\nours   %s\noracle %s", r.ours.body, r.theirs.body)
	}
	tokOf := func(body string) string {
		m := tokenRe.FindString(body)
		return strings.TrimSuffix(strings.TrimPrefix(m, `"token":"`), `"`)
	}
	ours, theirs := tokOf(r.ours.body), tokOf(r.theirs.body)

	// Token structure. Header members are compared as a set: jwx writes
	// them in its own order, and verifiers read them as JSON.
	oh, op := tokenParts(t, ours)
	th, tp := tokenParts(t, theirs)
	if sortedKeys(oh) != sortedKeys(th) || oh.String("typ") != th.String("typ") || oh.String("alg") != th.String("alg") {
		t.Fatalf("header ours %s oracle %s", mustJSON(oh), mustJSON(th))
	}
	if strings.Join(op.Keys(), ",") != strings.Join(tp.Keys(), ",") {
		t.Fatalf("claim order ours %v oracle %v", op.Keys(), tp.Keys())
	}
	for _, k := range []string{"iss", "sub", "aud"} {
		if op.String(k) != tp.String(k) {
			t.Errorf("claim %s: ours %q oracle %q", k, op.String(k), tp.String(k))
		}
	}
	lifetime := func(p *ojson.Object) int {
		iat, _ := p.Get("iat")
		exp, _ := p.Get("exp")
		a, _ := iat.(ojson.Number)
		b, _ := exp.(ojson.Number)
		x, errA := strconv.Atoi(string(a))
		y, errB := strconv.Atoi(string(b))
		if errA != nil || errB != nil {
			t.Fatalf("iat %v exp %v", iat, exp)
		}
		return y - x
	}
	if ol, tl := lifetime(op), lifetime(tp); ol != tl {
		t.Errorf("lifetime ours %d oracle %d", ol, tl)
	}
	if len(op.String("uip")) != len(tp.String("uip")) {
		t.Errorf("uip length ours %d oracle %d", len(op.String("uip")), len(tp.String("uip")))
	}

	// JWKS: the same members and key parameters (member order is jwx's).
	j := get(http.MethodGet, "/api/auth/.well-known/jwks.json", "", "")
	firstKey := func(body string) string {
		var v struct{ Keys []json.RawMessage }
		if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Keys) == 0 {
			t.Fatalf("jwks %s: %v", body, err)
		}
		o, err := ojson.DecodeObject(v.Keys[0])
		if err != nil {
			t.Fatal(err)
		}
		return sortedKeys(o) + " " + o.String("kty") + " " + o.String("crv") + " " + o.String("alg")
	}
	if a, b := firstKey(j.ours.body), firstKey(j.theirs.body); a != b {
		t.Errorf("jwks\nours   %s\noracle %s", a, b)
	}

	// Bodies without secrets: byte for byte.
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/auth/.well-known/openid-configuration"},
		{"GET", "/api/auth/guest/start"},
		{"POST", "/api/auth/guest/handler/frame"},
		{"POST", "/api/auth/guest/logout"},
		{"GET", "/api/auth/nope"},
		{"GET", "/api/auth/v1/userinfo"},
	} {
		p := get(c.method, c.path, "", "")
		if p.ours.status != p.theirs.status || p.ours.body != p.theirs.body || p.ours.ctype != p.theirs.ctype {
			t.Errorf("%s %s\nours   %d %s\noracle %d %s", c.method, c.path, p.ours.status, p.ours.body, p.theirs.status, p.theirs.body)
		}
	}
	u := get(http.MethodGet, "/api/auth/v1/userinfo", "Bearer "+ours, "Bearer "+theirs)
	if u.ours.status != 200 || u.ours.body != u.theirs.body {
		t.Errorf("userinfo\nours   %d %s\noracle %d %s", u.ours.status, u.ours.body, u.theirs.status, u.theirs.body)
	}
	// Each side refuses the other's token: different keys.
	if x := get(http.MethodGet, "/api/auth/v1/userinfo", "Bearer "+theirs, "Bearer "+ours); x.ours.status != 401 || x.ours.body != x.theirs.body {
		t.Errorf("foreign token\nours   %d %s\noracle %d %s", x.ours.status, x.ours.body, x.theirs.status, x.theirs.body)
	}
}

// sortedKeys lists an object's members in sorted order.
func sortedKeys(o *ojson.Object) string {
	return strings.Join(slices.Sorted(slices.Values(o.Keys())), ",")
}
