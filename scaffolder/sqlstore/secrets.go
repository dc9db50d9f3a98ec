package sqlstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Option configures New.
type Option func(*Store)

// WithSecretsKey seals task secrets with a key derived from secret (config
// scaffolder.secretsKey). Without it the store uses a random key kept in
// its own database, which keeps secrets out of the tasks table in clear
// text but not away from someone who can read the whole database.
func WithSecretsKey(secret string) Option {
	return func(s *Store) {
		if secret != "" {
			k := sha256.Sum256([]byte(secret))
			s.sealKey = k[:]
		}
	}
}

const sealedPrefix = "sealed:v1:"

// loadSealKey reads (or creates, once for all replicas) the stored key.
func (s *Store) loadSealKey(ctx context.Context) error {
	if s.sealKey != nil {
		return nil
	}
	read := func() (string, error) {
		var k string
		err := s.w.QueryRowContext(ctx, `SELECT secret_key FROM scaffolder_secrets_key WHERE id = 1`).Scan(&k)
		return k, err
	}
	k, err := read()
	if errors.Is(err, sql.ErrNoRows) {
		fresh := make([]byte, 32)
		if _, err := rand.Read(fresh); err != nil {
			return err
		}
		if _, err := s.w.ExecContext(ctx, s.d.rebind(`INSERT INTO scaffolder_secrets_key (id, secret_key) VALUES (1, ?) ON CONFLICT (id) DO NOTHING`),
			base64.StdEncoding.EncodeToString(fresh)); err != nil {
			return fmt.Errorf("store secrets key: %w", err)
		}
		k, err = read()
	}
	if err != nil {
		return fmt.Errorf("read secrets key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(k)
	if err != nil || len(key) != 32 {
		return fmt.Errorf("stored secrets key is malformed")
	}
	s.sealKey = key
	return nil
}

// sealSecrets encrypts a task's secrets (AES-GCM) for the secrets column.
func (s *Store) sealSecrets(secrets map[string]string) (any, error) {
	if secrets == nil {
		return nil, nil
	}
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	gcm, err := s.gcm()
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return sealedPrefix + base64.StdEncoding.EncodeToString(gcm.Seal(nonce, nonce, plain, nil)), nil
}

// openSecrets decrypts the secrets column (plain JSON from older rows is
// still read).
func (s *Store) openSecrets(stored string) (map[string]string, error) {
	if stored == "" {
		return nil, nil
	}
	data := []byte(stored)
	if rest, ok := strings.CutPrefix(stored, sealedPrefix); ok {
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, fmt.Errorf("sealed secrets: %w", err)
		}
		gcm, err := s.gcm()
		if err != nil {
			return nil, err
		}
		if len(raw) < gcm.NonceSize() {
			return nil, errors.New("sealed secrets: too short")
		}
		if data, err = gcm.Open(nil, raw[:gcm.NonceSize()], raw[gcm.NonceSize():], nil); err != nil {
			return nil, fmt.Errorf("sealed secrets: %w", err)
		}
	}
	var out map[string]string
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) gcm() (cipher.AEAD, error) {
	block, err := aes.NewCipher(s.sealKey)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
