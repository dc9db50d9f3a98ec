package auth

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/understage/understage/plugins/backend/database"
)

//go:embed migrations
var migrationFS embed.FS

// storedKey is one row of the key store.
type storedKey struct {
	kid       string
	alg       string
	publicJWK []byte
	private   string // sealed private key
	createdAt time.Time
}

// keyStore keeps signing keys. Unlike Backstage, which keeps each replica's
// private key in memory and only shares public keys, the private key is stored
// too: every replica then signs with the same current key, and a restart does
// not orphan tokens or multiply keys.
type keyStore interface {
	add(ctx context.Context, k storedKey) error
	newest(ctx context.Context, alg string) (storedKey, bool, error)
	get(ctx context.Context, kid string) (storedKey, bool, error)
	list(ctx context.Context) ([]storedKey, error)
	remove(ctx context.Context, kids []string) error
}

// sqlDB is what the store needs of a database.DB handle; naming the
// methods rather than bun's type keeps bun out of this package.
type sqlDB interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// dbStore keeps keys and user info in the auth plugin's database.
type dbStore struct {
	w, r sqlDB
}

func newDBStore(ctx context.Context, db *database.DB) (*dbStore, error) {
	s := &dbStore{w: db.Write, r: db.Read}
	if err := migrate(ctx, db); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *dbStore) add(ctx context.Context, k storedKey) error {
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO auth_signing_keys (kid, alg, public_key, private_key, created_at) VALUES (?, ?, ?, ?, ?)`,
		k.kid, k.alg, string(k.publicJWK), k.private, k.createdAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("store signing key: %w", err)
	}
	return nil
}

func scanKey(row interface{ Scan(...any) error }) (storedKey, error) {
	var k storedKey
	var pub string
	var ms int64
	if err := row.Scan(&k.kid, &k.alg, &pub, &k.private, &ms); err != nil {
		return k, err
	}
	k.publicJWK = []byte(pub)
	k.createdAt = time.UnixMilli(ms)
	return k, nil
}

func (s *dbStore) newest(ctx context.Context, alg string) (storedKey, bool, error) {
	// Read from the writer: a replica that just lost a creation race must
	// see the winner's row, and SQLite readers may lag a WAL checkpoint.
	row := s.w.QueryRowContext(ctx,
		`SELECT kid, alg, public_key, private_key, created_at FROM auth_signing_keys WHERE alg = ? ORDER BY created_at DESC, kid DESC LIMIT 1`, alg)
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("read signing key: %w", err)
	}
	return k, true, nil
}

func (s *dbStore) get(ctx context.Context, kid string) (storedKey, bool, error) {
	row := s.r.QueryRowContext(ctx,
		`SELECT kid, alg, public_key, private_key, created_at FROM auth_signing_keys WHERE kid = ?`, kid)
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return k, false, nil
	}
	if err != nil {
		return k, false, fmt.Errorf("read signing key: %w", err)
	}
	return k, true, nil
}

func (s *dbStore) list(ctx context.Context) ([]storedKey, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT kid, alg, public_key, private_key, created_at FROM auth_signing_keys ORDER BY created_at, kid`)
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", err)
	}
	defer rows.Close()
	var out []storedKey
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("list signing keys: %w", err)
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

func (s *dbStore) remove(ctx context.Context, kids []string) error {
	if len(kids) == 0 {
		return nil
	}
	args := make([]any, len(kids))
	for i, k := range kids {
		args[i] = k
	}
	q := `DELETE FROM auth_signing_keys WHERE kid IN (?` + strings.Repeat(", ?", len(kids)-1) + `)`
	if _, err := s.w.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("remove signing keys: %w", err)
	}
	return nil
}

// putUserInfo upserts what /v1/userinfo serves for a user.
func (s *dbStore) putUserInfo(ctx context.Context, ref string, info []byte, now time.Time) error {
	_, err := s.w.ExecContext(ctx,
		`INSERT INTO auth_user_info (user_entity_ref, user_info, updated_at) VALUES (?, ?, ?)
		 ON CONFLICT (user_entity_ref) DO UPDATE SET user_info = excluded.user_info, updated_at = excluded.updated_at`,
		ref, string(info), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("store user info: %w", err)
	}
	return nil
}

func (s *dbStore) userInfo(ctx context.Context, ref string) ([]byte, bool, error) {
	var info string
	err := s.r.QueryRowContext(ctx, `SELECT user_info FROM auth_user_info WHERE user_entity_ref = ?`, ref).Scan(&info)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read user info: %w", err)
	}
	return []byte(info), true, nil
}

// memStore is auth.keyStore.provider: memory. Keys live and die with the
// process, so it suits tests and single-replica development only.
type memStore struct {
	mu   sync.Mutex
	keys []storedKey
	info map[string][]byte
}

func (m *memStore) add(_ context.Context, k storedKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = append(m.keys, k)
	return nil
}

func (m *memStore) newest(_ context.Context, alg string) (storedKey, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.keys) - 1; i >= 0; i-- {
		if m.keys[i].alg == alg {
			return m.keys[i], true, nil
		}
	}
	return storedKey{}, false, nil
}

func (m *memStore) get(_ context.Context, kid string) (storedKey, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range m.keys {
		if k.kid == kid {
			return k, true, nil
		}
	}
	return storedKey{}, false, nil
}

func (m *memStore) list(context.Context) ([]storedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]storedKey(nil), m.keys...), nil
}

func (m *memStore) remove(_ context.Context, kids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys = slices.DeleteFunc(m.keys, func(k storedKey) bool { return slices.Contains(kids, k.kid) })
	return nil
}

func (m *memStore) putUserInfo(_ context.Context, ref string, info []byte, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.info == nil {
		m.info = map[string][]byte{}
	}
	m.info[ref] = info
	return nil
}

func (m *memStore) userInfo(_ context.Context, ref string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	info, ok := m.info[ref]
	return info, ok, nil
}

// userInfoStore keeps what /v1/userinfo serves.
type userInfoStore interface {
	putUserInfo(ctx context.Context, ref string, info []byte, now time.Time) error
	userInfo(ctx context.Context, ref string) ([]byte, bool, error)
}

// sealer protects private keys at rest when a secret is configured.
type sealer struct {
	aead cipher.AEAD // nil: stored in the clear
}

func newSealer(secret string) (*sealer, error) {
	if secret == "" {
		return &sealer{}, nil
	}
	sum := sha256.Sum256([]byte(secret))
	block, err := aes.NewCipher(sum[:])
	if err != nil {
		return nil, fmt.Errorf("key store cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key store cipher: %w", err)
	}
	return &sealer{aead: aead}, nil
}

func (s *sealer) seal(k *signingKey) (string, error) {
	priv, err := k.privateKey()
	if err != nil {
		return "", err
	}
	raw, err := priv.Bytes()
	if err != nil {
		return "", fmt.Errorf("encode private key: %w", err)
	}
	if s.aead == nil {
		return "raw:" + b64.EncodeToString(raw), nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal private key: %w", err)
	}
	// The kid is authenticated data: a sealed key cannot be moved to another row.
	out := s.aead.Seal(nonce, nonce, raw, []byte(k.kid))
	return "v1:" + b64.EncodeToString(out), nil
}

func (s *sealer) open(row storedKey) (*signingKey, error) {
	alg, ok := ecAlgFor(row.alg)
	if !ok {
		return nil, fmt.Errorf("signing key %s: unsupported algorithm %s", row.kid, row.alg)
	}
	var raw []byte
	switch {
	case strings.HasPrefix(row.private, "raw:"):
		b, err := b64.DecodeString(row.private[4:])
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", row.kid, err)
		}
		raw = b
	case strings.HasPrefix(row.private, "v1:"):
		if s.aead == nil {
			return nil, fmt.Errorf("signing key %s is sealed but no auth.keyStore.database.secret is configured", row.kid)
		}
		b, err := b64.DecodeString(row.private[3:])
		if err != nil || len(b) < s.aead.NonceSize() {
			return nil, fmt.Errorf("signing key %s: malformed sealed key", row.kid)
		}
		n := s.aead.NonceSize()
		raw, err = s.aead.Open(nil, b[:n], b[n:], []byte(row.kid))
		if err != nil {
			return nil, fmt.Errorf("signing key %s: cannot unseal (wrong secret?): %w", row.kid, err)
		}
	default:
		return nil, fmt.Errorf("signing key %s: unknown private key format", row.kid)
	}
	priv, err := ecdsa.ParseRawPrivateKey(alg.curve, raw)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", row.kid, err)
	}
	return newSigningKey(alg, row.kid, priv)
}

func newStoredKey(k *signingKey, s *sealer, now time.Time) (storedKey, error) {
	pub, err := k.publicJWK()
	if err != nil {
		return storedKey{}, err
	}
	priv, err := s.seal(k)
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{kid: k.kid, alg: k.alg.String(), publicJWK: pub, private: priv, createdAt: now}, nil
}

// migrate applies the dialect's pending migrations, recording them in
// auth_migrations.
func migrate(ctx context.Context, db *database.DB) error { return Migrate(ctx, db) }

// Migrate applies the plugin's pending schema migrations (`understage
// migrate`); opening the store does the same.
func Migrate(ctx context.Context, db *database.DB) error {
	dirs, err := fs.Sub(migrationFS, "migrations")
	if err != nil {
		return err
	}
	return database.Migrate(ctx, db, "auth_migrations", dirs)
}
