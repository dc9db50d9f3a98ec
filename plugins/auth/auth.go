// Package auth is Understage's identity layer, in the shape of Backstage's
// auth-backend plus the backend-defaults auth services:
//
//   - the /api/auth routes the frontend and other backends use: the guest
//     sign-in provider (GET/POST /guest/refresh), /.well-known/jwks.json,
//     /.well-known/openid-configuration and /v1/userinfo;
//   - Backstage user tokens: ES256 JWS of type vnd.backstage.user signed with
//     keys kept in the database, rotated every auth.backstageTokenExpiration,
//     shared by all replicas and kept across restarts;
//   - the authentication barrier every plugin route sits behind: user tokens,
//     backend.auth.externalAccess static and legacy tokens and the legacy
//     backend.auth.keys, with Backstage's 401/403 bodies, and Credentials in
//     the request context for handlers.
//
// JWS and JWK handling goes through lestrrat-go/jwx (jws.go).
package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/lestrrat-go/jwx/v3/jwk"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database"
)

// UserResolver finds users in the catalog for sign-in. The catalog plugin
// implements it; nil means no user is ever found (guest tokens are then
// issued from config alone, as Backstage does when the user is missing).
type UserResolver interface {
	// UserEntity looks up the entity with ref (a full, lowercase ref such as
	// "user:development/guest"). entity is its JSON; ownershipRefs are the
	// refs of the groups it is a member of (its memberOf relations). When
	// ownershipRefs is nil they are read from entity's relations instead.
	// found is false (and err nil) when there is no such entity.
	UserEntity(ctx context.Context, ref string) (entity []byte, ownershipRefs []string, found bool, err error)
}

// Options configures New.
type Options struct {
	// Config is the root app-config.
	Config *config.Config
	// DB is the auth plugin's database. Nil keeps keys and user info in
	// memory (auth.keyStore.provider: memory does so for keys only).
	DB *database.DB
	// Catalog resolves users at sign-in; may be nil.
	Catalog UserResolver
	// BaseURL is the backend's external base URL (backend.baseUrl); the
	// token issuer is BaseURL + "/api/auth". Empty reads backend.baseUrl.
	BaseURL string
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Environment is what Backstage reads from NODE_ENV to decide whether
	// the guest provider may run ("development" allows it). Empty uses
	// auth.environment, which defaults to "development".
	Environment string
	// Now is the clock; tests move it to rotate keys. Default time.Now.
	Now func() time.Time
}

// Token lifetimes as Backstage bounds them (readBackstageTokenExpiration).
const (
	defaultTokenExpiration = time.Hour
	minTokenExpiration     = 10 * time.Minute
	maxTokenExpiration     = 24 * time.Hour
)

// Service is the auth plugin. It is safe for concurrent use.
type Service struct {
	log      *slog.Logger
	now      func() time.Time
	issuer   string
	catalog  UserResolver
	keys     keyStore
	info     userInfoStore
	sealer   *sealer
	alg      ecAlg
	keyLife  time.Duration // token lifetime, and how long a key signs
	omitEnt  bool
	disabled bool // backend.auth.dangerouslyDisableDefaultAuthPolicy
	guest    *guestConfig
	external []*externalEntry

	mu      sync.Mutex
	current *signingKey
	curAt   time.Time
	pubs    map[string]cachedKey
}

type cachedKey struct {
	key       *verifyKey
	createdAt time.Time
}

// guestConfig is auth.providers.guest.
type guestConfig struct {
	userRef      string
	ownership    []string
	allowOutside bool
	development  bool
}

// New reads the auth config, migrates the auth tables and returns the
// service. Keys are created lazily, on the first token issued.
func New(ctx context.Context, o Options) (*Service, error) {
	s := &Service{log: o.Logger, now: o.Now, catalog: o.Catalog, pubs: map[string]cachedKey{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	cfg := o.Config
	base := strings.TrimRight(o.BaseURL, "/")
	if base == "" {
		v, _, err := cfg.ReadString("backend.baseUrl")
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		base = strings.TrimRight(v, "/")
	}
	if base == "" {
		return nil, errors.New("auth: no base URL (set backend.baseUrl)")
	}
	s.issuer = base + "/api/auth"

	s.keyLife = defaultTokenExpiration
	if d, ok, err := cfg.Duration("auth.backstageTokenExpiration"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	} else if ok {
		s.keyLife = min(max(d.Round(time.Second), minTokenExpiration), maxTokenExpiration)
	}
	algName := "ES256"
	if v, ok, err := cfg.ReadString("auth.identityTokenAlgorithm"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	} else if ok {
		algName = v
	}
	alg, ok := ecAlgFor(algName)
	if !ok {
		return nil, fmt.Errorf("auth: auth.identityTokenAlgorithm %q is not supported (ES256, ES384, ES512)", algName)
	}
	s.alg = alg
	s.omitEnt = true
	if v, ok, err := cfg.ReadBool("auth.omitIdentityTokenOwnershipClaim"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	} else if ok {
		s.omitEnt = v
	}
	if v, ok, err := cfg.ReadBool("backend.auth.dangerouslyDisableDefaultAuthPolicy"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	} else if ok {
		s.disabled = v
	}

	secret, _, err := cfg.ReadString("auth.keyStore.database.secret")
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if s.sealer, err = newSealer(secret); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	provider := "database"
	if v, ok, err := cfg.ReadString("auth.keyStore.provider"); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	} else if ok {
		provider = v
	}
	mem := &memStore{}
	s.keys, s.info = mem, mem
	if o.DB != nil {
		db, err := newDBStore(ctx, o.DB)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		s.keys, s.info = db, db
	}
	switch provider {
	case "database":
	case "memory":
		s.keys = mem
	default:
		return nil, fmt.Errorf("auth: unsupported KeyStore provider: %s (database or memory)", provider)
	}

	if s.guest, err = readGuest(cfg, o.Environment); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	if s.external, err = readExternalAccess(cfg, s.log); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	s.log.Info(fmt.Sprintf("Configuring %q as KeyStore provider", provider))
	return s, nil
}

func readGuest(cfg *config.Config, env string) (*guestConfig, error) {
	g, ok, err := cfg.ReadSub("auth.providers.guest")
	if err != nil || !ok {
		// A guest entry that is not an object (e.g. `guest: true`) is a config
		// error; an absent one leaves the provider unregistered.
		return nil, err
	}
	if env == "" {
		env = "development"
		if v, ok, err := cfg.ReadString("auth.environment"); err != nil {
			return nil, err
		} else if ok {
			env = v
		}
	}
	gc := &guestConfig{userRef: "user:development/guest", development: env == "development"}
	if v, ok, err := g.ReadString("userEntityRef"); err != nil {
		return nil, err
	} else if ok {
		gc.userRef = v
	}
	if v, ok, err := g.ReadStringList("ownershipEntityRefs"); err != nil {
		return nil, err
	} else if ok {
		gc.ownership = v
	}
	if v, ok, err := g.ReadBool("dangerouslyAllowOutsideDevelopment"); err != nil {
		return nil, err
	} else if ok {
		gc.allowOutside = v
	}
	return gc, nil
}

// Issuer is the iss claim of the tokens this service issues.
func (s *Service) Issuer() string { return s.issuer }

// currentKey returns the key to sign with now: the newest stored key while
// it is younger than the token lifetime, else a new one.
func (s *Service) currentKey(ctx context.Context) (*signingKey, error) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil && now.Before(s.curAt.Add(s.keyLife)) {
		return s.current, nil
	}
	// Another replica may have rotated already: use its key.
	row, ok, err := s.keys.newest(ctx, s.alg.String())
	if err != nil {
		return nil, err
	}
	if ok && now.Before(row.createdAt.Add(s.keyLife)) && !row.createdAt.After(now.Add(time.Minute)) {
		k, err := s.sealer.open(row)
		if err != nil {
			return nil, err
		}
		s.current, s.curAt = k, row.createdAt
		return k, nil
	}
	if s.current != nil {
		s.log.Info("Signing key has expired, generating new key")
	}
	k, err := generateKey(s.alg, uuid.NewString())
	if err != nil {
		return nil, err
	}
	row, err = newStoredKey(k, s.sealer, now)
	if err != nil {
		return nil, err
	}
	if err := s.keys.add(ctx, row); err != nil {
		return nil, err
	}
	s.log.Info("Created new signing key " + k.kid)
	s.current, s.curAt = k, now
	return k, nil
}

// publicKey finds the verification key kid, from the cache or the store.
// Keys older than three token lifetimes are gone, as from Backstage's JWKS.
func (s *Service) publicKey(ctx context.Context, kid string) (*verifyKey, bool, error) {
	now := s.now()
	s.mu.Lock()
	c, ok := s.pubs[kid]
	s.mu.Unlock()
	if !ok {
		row, found, err := s.keys.get(ctx, kid)
		if err != nil || !found {
			return nil, false, err
		}
		k, err := parsePublicJWK(row.publicJWK)
		if err != nil {
			return nil, false, fmt.Errorf("signing key %s: %w", kid, err)
		}
		c = cachedKey{key: k, createdAt: row.createdAt}
		s.mu.Lock()
		s.pubs[kid] = c
		s.mu.Unlock()
	}
	if !now.Before(c.createdAt.Add(3 * s.keyLife)) {
		return nil, false, nil
	}
	return c.key, true, nil
}

// publicKeys lists the keys JWKS serves and deletes the expired ones.
func (s *Service) publicKeys(ctx context.Context) ([]jwk.Key, error) {
	rows, err := s.keys.list(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []jwk.Key
	var expired []string
	for _, r := range rows {
		if now.Before(r.createdAt.Add(3 * s.keyLife)) {
			k, err := jwk.ParseKey(r.publicJWK)
			if err != nil {
				return nil, fmt.Errorf("signing key %s: %w", r.kid, err)
			}
			out = append(out, k)
		} else {
			expired = append(expired, r.kid)
		}
	}
	if len(expired) > 0 {
		s.log.Info(fmt.Sprintf("Removing expired signing keys, '%s'", strings.Join(expired, "', '")))
		if err := s.keys.remove(ctx, expired); err != nil {
			s.log.Error("Failed to remove expired keys", "err", err)
		}
		s.mu.Lock()
		for _, kid := range expired {
			delete(s.pubs, kid)
		}
		s.mu.Unlock()
	}
	return out, nil
}
