package auth

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/database/databasetest"
)

// backends opens a fresh auth database per dialect; open may be called
// again for a second replica or a restart on the same database.
func backends(t *testing.T) map[string]func(t *testing.T) *database.DB {
	dir := t.TempDir()
	var pg *database.Options
	return map[string]func(t *testing.T) *database.DB{
		"sqlite": func(t *testing.T) *database.DB { return openSQLite(t, filepath.Join(dir, "auth.sqlite")) },
		"postgres": func(t *testing.T) *database.DB {
			if pg == nil {
				o := databasetest.PG(t)
				pg = &o
			}
			db, err := database.Open(context.Background(), *pg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			return db
		},
	}
}

func kidOf(t *testing.T, token string) string {
	h, _ := tokenParts(t, token)
	return h.String("kid")
}

func jwksKids(t *testing.T, f *fixture) []string {
	t.Helper()
	r := call(t, http.MethodGet, f.url+"/api/auth/.well-known/jwks.json", "")
	var v struct{ Keys []struct{ Kid string } }
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("%s: %v", r.body, err)
	}
	var out []string
	for _, k := range v.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func whoamiStatus(t *testing.T, f *fixture, token string) int {
	t.Helper()
	return call(t, http.MethodGet, f.url+"/api/catalog/whoami", "Bearer "+token).status
}

func TestKeyStore(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			db := open(t)
			a := setup(t, setupOpts{db: db, clock: clk})
			b := setup(t, setupOpts{db: open(t), clock: clk})

			t.Run("replica B verifies what replica A signed", func(t *testing.T) {
				_, tok := refresh(t, a)
				if got := whoamiStatus(t, b, tok); got != 200 {
					t.Fatalf("replica B: %d", got)
				}
				// B signs with the same current key instead of minting its own.
				_, tokB := refresh(t, b)
				if kidOf(t, tokB) != kidOf(t, tok) {
					t.Fatalf("replicas use different keys %s %s", kidOf(t, tok), kidOf(t, tokB))
				}
				if kids := jwksKids(t, b); len(kids) != 1 || kids[0] != kidOf(t, tok) {
					t.Fatalf("jwks on B %v", kids)
				}
				// B's userinfo answers for A's sign-in.
				if r := call(t, http.MethodGet, b.url+"/api/auth/v1/userinfo", "Bearer "+tok); r.status != 200 {
					t.Fatalf("userinfo on B: %d %s", r.status, r.body)
				}
			})

			t.Run("restart keeps keys", func(t *testing.T) {
				_, before := refresh(t, a)
				c := setup(t, setupOpts{db: open(t), clock: clk})
				if got := whoamiStatus(t, c, before); got != 200 {
					t.Fatalf("after restart: %d", got)
				}
				_, after := refresh(t, c)
				if kidOf(t, after) != kidOf(t, before) {
					t.Fatal("restart created a new key while the old one is current")
				}
			})

			t.Run("rotation", func(t *testing.T) {
				_, first := refresh(t, a)
				k1 := kidOf(t, first)
				clk.Add(59 * time.Minute)
				_, late := refresh(t, b) // still K1, valid for another hour
				if kidOf(t, late) != k1 {
					t.Fatal("rotated too early")
				}
				clk.Add(2 * time.Minute)
				_, rotated := refresh(t, b)
				k2 := kidOf(t, rotated)
				if k2 == k1 {
					t.Fatal("key not rotated after its lifetime")
				}
				// A picks up B's new key rather than minting a third.
				_, fromA := refresh(t, a)
				if kidOf(t, fromA) != k2 {
					t.Fatalf("replica A signs with %s, want %s", kidOf(t, fromA), k2)
				}
				if got := whoamiStatus(t, a, late); got != 200 {
					t.Fatalf("token of the previous key: %d", got)
				}
				if kids := jwksKids(t, a); strings.Join(kids, ",") != k1+","+k2 {
					t.Fatalf("jwks %v, want [%s %s]", kids, k1, k2)
				}
				// Three lifetimes after its creation the old key leaves JWKS and
				// the database, on every replica.
				clk.Add(3*time.Hour + time.Minute)
				_, fresh := refresh(t, a)
				k3 := kidOf(t, fresh)
				if kids := jwksKids(t, b); strings.Join(kids, ",") != k3 {
					t.Fatalf("jwks after expiry %v, want [%s]", kids, k3)
				}
				if _, found, err := a.svc.keys.get(context.Background(), k1); err != nil || found {
					t.Fatalf("expired key still stored: %v %v", found, err)
				}
			})

			t.Run("private keys are sealed at rest", func(t *testing.T) {
				cfg := baseConfig + "  keyStore:\n    database:\n      secret: correct-horse\n"
				sdb := open(t)
				// A fresh clock far ahead: no current key, so a sealed one is made.
				clk2 := newClock()
				clk2.Add(100 * time.Hour)
				s := setup(t, setupOpts{config: cfg, db: sdb, clock: clk2})
				_, tok := refresh(t, s)
				kid := kidOf(t, tok)
				row, found, err := s.svc.keys.get(context.Background(), kid)
				if err != nil || !found || !strings.HasPrefix(row.private, "v1:") {
					t.Fatalf("stored %q %v %v", row.private, found, err)
				}
				// Another replica with the secret signs with it; one without
				// cannot, but still verifies.
				s2 := setup(t, setupOpts{config: cfg, db: open(t), clock: clk2})
				if _, tok2 := refresh(t, s2); kidOf(t, tok2) != kid {
					t.Fatal("replica with the secret made its own key")
				}
				wrong := setup(t, setupOpts{config: strings.Replace(cfg, "correct-horse", "battery-staple", 1), db: open(t), clock: clk2})
				if _, err := wrong.svc.currentKey(context.Background()); err == nil || !strings.Contains(err.Error(), "cannot unseal") {
					t.Fatalf("wrong secret: %v", err)
				}
				if got := whoamiStatus(t, wrong, tok); got != 200 {
					t.Fatalf("verify without the secret: %d", got)
				}
			})
		})
	}
}

// TestReplicaRoundTrip: tokens signed by one replica's key store verify on
// another replica sharing the database, through the barrier and through a
// client that reads the published JWKS with jwx; one flipped signature byte
// makes either token a 401.
func TestReplicaRoundTrip(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			clk := newClock()
			a := setup(t, setupOpts{db: open(t), clock: clk})
			b := setup(t, setupOpts{db: open(t), clock: clk})
			_, user := refresh(t, a)
			limited, _, err := LimitedUserToken(user)
			if err != nil {
				t.Fatal(err)
			}

			// A client of replica B's JWKS verifies what A signed.
			set, err := jwk.Parse([]byte(call(t, http.MethodGet, b.url+"/api/auth/.well-known/jwks.json", "").body))
			if err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{user, limited} {
				if _, err := jws.Verify([]byte(tok), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
					t.Errorf("jwx with B's JWKS refuses %s: %v", tok, err)
				}
			}

			failed := `{"error":{"name":"AuthenticationError","message":"Failed user token verification"},"request":{"method":"GET","url":"/v1/userinfo"},"response":{"statusCode":401}}`
			for _, tt := range []struct {
				name, token string
				status      int
				body        string
			}{
				{"user", user, 200, `{"claims":{"sub":"user:development/guest","ent":["user:development/guest"]}}`},
				{"limited", limited, 200, `{"claims":{"sub":"user:development/guest","ent":["user:development/guest"]}}`},
				{"user, flipped signature byte", flipSignatureByte(t, user), 401, failed},
				{"limited, flipped signature byte", flipSignatureByte(t, limited), 401, failed},
			} {
				t.Run(tt.name, func(t *testing.T) {
					r := call(t, http.MethodGet, b.url+"/api/auth/v1/userinfo", "Bearer "+tt.token)
					if r.status != tt.status || r.body != tt.body {
						t.Fatalf("got %d %s\nwant %d %s", r.status, r.body, tt.status, tt.body)
					}
				})
			}
		})
	}
}

// flipSignatureByte changes one bit of the decoded signature, so the token
// differs in the bytes verified rather than in base64 padding bits.
func flipSignatureByte(t *testing.T, token string) string {
	t.Helper()
	i := strings.LastIndexByte(token, '.')
	sig, err := b64.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		t.Fatalf("signature of %s: %v", token, err)
	}
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + b64.EncodeToString(sig)
}

// TestJoseOrderedStoredKey: keys stored before jwx wrote them (members in
// jose's order) still verify and are published.
func TestJoseOrderedStoredKey(t *testing.T) {
	f := setup(t, setupOpts{db: openSQLite(t, filepath.Join(t.TempDir(), "auth.sqlite"))})
	key, err := generateKey(mustAlg("ES256"), "11111111-2222-3333-4444-555555555555")
	if err != nil {
		t.Fatal(err)
	}
	priv, err := key.privateKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := priv.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	pub := `{"kty":"EC","x":"` + b64.EncodeToString(raw[1:33]) + `","y":"` + b64.EncodeToString(raw[33:]) + `","crv":"P-256","kid":"` + key.kid + `","alg":"ES256"}`
	sealed, err := f.svc.sealer.seal(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.keys.add(context.Background(), storedKey{kid: key.kid, alg: "ES256", publicJWK: []byte(pub), private: sealed, createdAt: f.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	_, tok := refresh(t, f)
	if kidOf(t, tok) != key.kid {
		t.Fatalf("signed with %s, want the stored key %s", kidOf(t, tok), key.kid)
	}
	if got := whoamiStatus(t, f, tok); got != 200 {
		t.Fatalf("verify: %d", got)
	}
	if kids := jwksKids(t, f); len(kids) != 1 || kids[0] != key.kid {
		t.Fatalf("jwks %v", kids)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			for range 2 {
				if err := migrate(context.Background(), db); err != nil {
					t.Fatal(err)
				}
			}
			var n int
			if err := db.Write.QueryRowContext(context.Background(), `SELECT count(*) FROM auth_migrations`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("auth_migrations rows %d: %v", n, err)
			}
		})
	}
}

func TestMemoryKeyStore(t *testing.T) {
	cfg := baseConfig + "  keyStore:\n    provider: memory\n"
	f := setup(t, setupOpts{config: cfg, db: openSQLite(t, filepath.Join(t.TempDir(), "a.sqlite"))})
	_, tok := refresh(t, f)
	if got := whoamiStatus(t, f, tok); got != 200 {
		t.Fatalf("verify: %d", got)
	}
	if _, err := New(context.Background(), Options{Config: loadConfig(t, baseConfig+"  keyStore:\n    provider: firestore\n"), Logger: slog.New(slog.DiscardHandler)}); err == nil {
		t.Fatal("firestore accepted")
	}
}
