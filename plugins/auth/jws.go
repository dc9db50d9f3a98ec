package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/understage/understage/plugins/backend/ojson"
)

// JWS compact serialisation. Verification (ES* and HS256) and reading JWKs
// go through lestrrat-go/jwx; signing and the published JWK are written
// here because their bytes (header and JWK member order) must be what jose
// produces for Backstage, which recorded tokens and key sets are compared
// with. The formats (RFC 7515 compact form, RFC 7518 ES* fixed-size r||s
// signatures, RFC 7517 EC keys) interoperate with Backstage's own
// verifiers in both directions.

var b64 = base64.RawURLEncoding

// ecAlg describes one ECDSA JWS algorithm.
type ecAlg struct {
	name  string
	curve elliptic.Curve
	crv   string // JWK "crv"
	hash  crypto.Hash
	size  int // bytes per coordinate and per signature half
}

var ecAlgs = map[string]ecAlg{
	"ES256": {"ES256", elliptic.P256(), "P-256", crypto.SHA256, 32},
	"ES384": {"ES384", elliptic.P384(), "P-384", crypto.SHA384, 48},
	"ES512": {"ES512", elliptic.P521(), "P-521", crypto.SHA512, 66},
}

func (a ecAlg) digest(msg []byte) []byte {
	h := a.hash.New()
	h.Write(msg)
	return h.Sum(nil)
}

// signingKey is a private key with its JWK identity.
type signingKey struct {
	kid  string
	alg  ecAlg
	priv *ecdsa.PrivateKey
}

// verifyKey is a public key with its JWK identity.
type verifyKey struct {
	kid string
	alg ecAlg
	pub *ecdsa.PublicKey
}

func generateKey(alg ecAlg, kid string) (*signingKey, error) {
	priv, err := ecdsa.GenerateKey(alg.curve, rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg.name, err)
	}
	return &signingKey{kid: kid, alg: alg, priv: priv}, nil
}

// sign returns the JWS signature of input.
func (k *signingKey) sign(input []byte) ([]byte, error) {
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, k.alg.digest(input))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	sig := make([]byte, 2*k.alg.size)
	r.FillBytes(sig[:k.alg.size])
	s.FillBytes(sig[k.alg.size:])
	return sig, nil
}

// verify checks the signature sig of the JWS signing input.
func (k *verifyKey) verify(input, sig []byte) bool {
	alg, ok := jwa.LookupSignatureAlgorithm(k.alg.name)
	return ok && verifyCompact(k.pub, input, sig, alg)
}

// verifyCompact verifies header.payload.signature with jwx; a token with
// "crit" or "b64" headers is refused, as jose refuses unknown ones.
func verifyCompact(key any, input, sig []byte, alg jwa.SignatureAlgorithm) bool {
	token := make([]byte, 0, len(input)+1+b64.EncodedLen(len(sig)))
	token = append(append(token, input...), '.')
	token = b64.AppendEncode(token, sig)
	_, err := jws.VerifyCompactFast(key, token, alg)
	return err == nil
}

// publicJWK is the key as JWKS lists it, in jose's key order.
func (k *signingKey) publicJWK() (*ojson.Object, error) {
	raw, err := k.priv.PublicKey.Bytes()
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	// Uncompressed point: 0x04 || X || Y.
	x, y := raw[1:1+k.alg.size], raw[1+k.alg.size:]
	return ojson.NewObject(
		"kty", "EC",
		"x", b64.EncodeToString(x),
		"y", b64.EncodeToString(y),
		"crv", k.alg.crv,
		"kid", k.kid,
		"alg", k.alg.name,
	), nil
}

// jwkHead is the subset of an EC JWK checked before jwx reads the key.
type jwkHead struct {
	Kty string `json:"kty"`
	X   string `json:"x"`
	Y   string `json:"y"`
	Crv string `json:"crv"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
}

func parsePublicJWK(data []byte) (*verifyKey, error) {
	var j jwkHead
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, fmt.Errorf("parse jwk: %w", err)
	}
	alg, ok := ecAlgs[j.Alg]
	if !ok || j.Kty != "EC" || j.Crv != alg.crv {
		return nil, fmt.Errorf("unsupported jwk %s/%s/%s", j.Kty, j.Crv, j.Alg)
	}
	key, err := jwk.ParseKey(data)
	if err != nil {
		return nil, fmt.Errorf("parse jwk: %w", err)
	}
	var pub ecdsa.PublicKey
	if err := jwk.Export(key, &pub); err != nil {
		return nil, fmt.Errorf("parse jwk point: %w", err)
	}
	return &verifyKey{kid: j.Kid, alg: alg, pub: &pub}, nil
}

// signCompact builds header.payload.signature from pre-encoded JSON.
func signCompact(k *signingKey, header, payload []byte) (string, error) {
	input := b64.EncodeToString(header) + "." + b64.EncodeToString(payload)
	sig, err := k.sign([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64.EncodeToString(sig), nil
}

// compact is a split, decoded JWS. Nothing in it is trusted until verified.
type compact struct {
	input   []byte // header.payload as sent, the signing input
	header  map[string]any
	payload map[string]any
	sig     []byte
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
	c := &compact{input: []byte(parts[0] + "." + parts[1])}
	if err := decodeObject(hb, &c.header); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if c.sig, err = b64.DecodeString(parts[2]); err != nil {
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

// hs256 signs input with an HMAC-SHA256 secret.
func hs256(secret, input []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(input)
	return m.Sum(nil)
}

// hs256Valid verifies an HS256 signature with jwx.
func hs256Valid(secret, input, sig []byte) bool {
	return verifyCompact(secret, input, sig, jwa.HS256())
}
