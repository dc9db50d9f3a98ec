package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// JWS and JWK through lestrrat-go/jwx: tokens are signed with jws.Sign,
// verified with jws.VerifyCompactFast, and keys are jwk.Keys published as a
// jwk.Set. Only the limited-user signature (the "uip" claim) is computed
// over bytes built here, because Backstage rebuilds that token's header and
// payload in a fixed member order and checks the signature against them.

var b64 = base64.RawURLEncoding

// ecAlg is one ECDSA JWS algorithm the key store can hold.
type ecAlg struct {
	alg   jwa.SignatureAlgorithm
	curve elliptic.Curve
	crv   jwa.EllipticCurveAlgorithm // JWK "crv"
}

// ecAlgFor returns the algorithm named name (ES256, ES384 or ES512).
func ecAlgFor(name string) (ecAlg, bool) {
	switch name {
	case "ES256":
		return ecAlg{jwa.ES256(), elliptic.P256(), jwa.P256()}, true
	case "ES384":
		return ecAlg{jwa.ES384(), elliptic.P384(), jwa.P384()}, true
	case "ES512":
		return ecAlg{jwa.ES512(), elliptic.P521(), jwa.P521()}, true
	}
	return ecAlg{}, false
}

func (a ecAlg) String() string { return a.alg.String() }

// signingKey is a private key as a JWK carrying its kid and alg.
type signingKey struct {
	kid string
	alg ecAlg
	key jwk.Key
}

// verifyKey is a public key as a JWK carrying its kid and alg.
type verifyKey struct {
	kid string
	alg ecAlg
	key jwk.Key
}

func newSigningKey(alg ecAlg, kid string, priv *ecdsa.PrivateKey) (*signingKey, error) {
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	if err := key.Set(jwk.AlgorithmKey, alg.alg); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", kid, err)
	}
	return &signingKey{kid: kid, alg: alg, key: key}, nil
}

func generateKey(alg ecAlg, kid string) (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(alg.curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newSigningKey(alg, kid, priv)
}

// privateKey is the raw ECDSA key, for sealing in the key store.
func (k *signingKey) privateKey() (*ecdsa.PrivateKey, error) {
	var priv ecdsa.PrivateKey
	if err := jwk.Export(k.key, &priv); err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.kid, err)
	}
	return &priv, nil
}

// sign returns the compact JWS of payload; jwx adds alg and kid to header.
func (k *signingKey) sign(header jws.Headers, payload []byte) (string, error) {
	tok, err := jws.Sign(payload, jws.WithKey(k.alg.alg, k.key, jws.WithProtectedHeaders(header)))
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return string(tok), nil
}

// signInput returns the signature of a JWS signing input built elsewhere.
func (k *signingKey) signInput(input []byte) ([]byte, error) {
	s, err := jws.SignerFor(k.alg.alg)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig, err := s.Sign(k.key, input)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return sig, nil
}

// publicJWK is the public half as stored and published.
func (k *signingKey) publicJWK() ([]byte, error) {
	pub, err := jwk.PublicKeyOf(k.key)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.kid, err)
	}
	b, err := json.Marshal(pub)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", k.kid, err)
	}
	return b, nil
}

// parsePublicJWK reads a stored public key: an EC key whose alg is one of
// ours and whose curve is that alg's.
func parsePublicJWK(data []byte) (*verifyKey, error) {
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse jwk: %w", err)
	}
	a, _ := key.Algorithm()
	alg, ok := ecAlgFor(a.String())
	ec, isEC := key.(jwk.ECDSAPublicKey)
	if !ok || !isEC {
		return nil, fmt.Errorf("unsupported jwk %s/%s", key.KeyType(), a)
	}
	if crv, _ := ec.Crv(); crv != alg.crv {
		return nil, fmt.Errorf("unsupported jwk %s/%s/%s", key.KeyType(), crv, a)
	}
	kid, _ := key.KeyID()
	return &verifyKey{kid: kid, alg: alg, key: key}, nil
}

// verify checks the signature of a compact token with k.
func (k *verifyKey) verify(token string) bool {
	return verifyCompact(k.key, token, k.alg.alg)
}

// verifyCompact verifies a compact JWS with jwx; a token with "crit" or
// "b64" headers is refused, as jose refuses unknown ones.
func verifyCompact(key any, token string, alg jwa.SignatureAlgorithm) bool {
	_, err := jws.VerifyCompactFast(key, []byte(token), alg)
	return err == nil
}

// publicKeySet is the JWKS document of keys.
func publicKeySet(keys []jwk.Key) ([]byte, error) {
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			return nil, fmt.Errorf("jwks: %w", err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	return b, nil
}

// compact is a split, decoded JWS. Nothing in it is trusted until verified.
type compact struct {
	token   string // as sent, for verification
	header  map[string]any
	payload map[string]any
}

// parseCompact decodes a three-part JWS whose header and payload are JSON
// objects. The payload may fail to decode (err set, header still usable) so
// callers can tell "not a JWT" from "a JWT with a broken body".
func parseCompact(token string) (*compact, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("not a compact JWS")
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	c := &compact{token: token}
	if err := decodeObject(hb, &c.header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if _, err := b64.DecodeString(parts[2]); err != nil {
		return c, fmt.Errorf("signature: %w", err)
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return c, fmt.Errorf("payload: %w", err)
	}
	if err := decodeObject(pb, &c.payload); err != nil {
		return c, fmt.Errorf("payload: %w", err)
	}
	return c, nil
}

// decodeObject decodes a JSON object keeping numbers exact.
func decodeObject(data []byte, v *map[string]any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if *v == nil {
		return errors.New("not a JSON object")
	}
	if d.More() {
		return errors.New("trailing data")
	}
	return nil
}

func (c *compact) headerString(k string) string {
	s, _ := c.header[k].(string)
	return s
}

func (c *compact) claimString(k string) (string, bool) {
	s, ok := c.payload[k].(string)
	return s, ok
}

// claimNumber reads a NumericDate claim.
func (c *compact) claimNumber(k string) (float64, bool) {
	n, ok := c.payload[k].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}
