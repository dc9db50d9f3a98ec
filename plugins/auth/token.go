package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Token types of Backstage's plugin-auth-node tokenTypes.
const (
	TypUser        = "vnd.backstage.user"
	TypLimitedUser = "vnd.backstage.limited-user"
	audBackstage   = "backstage"
	// maxTokenLength is Backstage's limit on an issued user token.
	maxTokenLength = 32768
)

// IssuedToken is a freshly signed user token and the identity it carries.
type IssuedToken struct {
	Token               string
	UserEntityRef       string
	OwnershipEntityRefs []string
	ExpiresAt           time.Time
}

// IssueToken signs a user token for sub (an entity ref with a kind) owning
// ent, and records {sub, ent} for /v1/userinfo, as Backstage's sign-in does.
// ent is left out of the token unless auth.omitIdentityTokenOwnershipClaim
// is false.
func (s *Service) IssueToken(ctx context.Context, sub string, ent []string) (IssuedToken, error) {
	if _, err := model.ParseRef(sub, model.RefDefaults{}); err != nil {
		return IssuedToken{}, errors.New(`"sub" claim provided by the auth resolver is not a valid EntityRef.`)
	}
	if ent == nil {
		ent = []string{}
	}
	key, err := s.currentKey(ctx)
	if err != nil {
		return IssuedToken{}, err
	}
	now := s.now()
	iat := now.Unix()
	exp := iat + int64(s.keyLife/time.Second)
	s.log.InfoContext(ctx, fmt.Sprintf("Issuing token for %s, with entities %s", sub, strings.Join(ent, ",")))

	// uip is the signature of the limited-user token for the same user and
	// lifetime: a backend can cut a cookie-safe token out of this one by
	// re-assembling header and payload and reusing the signature, and
	// nobody without the key can forge it.
	uip, err := s.limitedSignature(key, sub, iat, exp)
	if err != nil {
		return IssuedToken{}, err
	}
	claims := ojson.NewObject("iss", s.issuer, "sub", sub)
	if !s.omitEnt {
		claims.Set("ent", ent)
	}
	claims.Set("aud", audBackstage)
	claims.Set("iat", iat)
	claims.Set("exp", exp)
	claims.Set("uip", uip)
	header := jws.NewHeaders()
	if err := header.Set(jws.TypeKey, TypUser); err != nil {
		return IssuedToken{}, fmt.Errorf("token header: %w", err)
	}
	token, err := key.sign(header, ojson.MustMarshal(claims))
	if err != nil {
		return IssuedToken{}, err
	}
	if len(token) > maxTokenLength {
		return IssuedToken{}, fmt.Errorf("failed to issue a new user token: it is excessively large (%d bytes), with too many ownership claims", len(token))
	}
	info := ojson.MustMarshal(ojson.NewObject("claims", ojson.NewObject("sub", sub, "ent", ent)))
	if err := s.info.putUserInfo(ctx, sub, info, now); err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: token, UserEntityRef: sub, OwnershipEntityRefs: ent, ExpiresAt: time.Unix(exp, 0)}, nil
}

func (s *Service) limitedSignature(key *signingKey, sub string, iat, exp int64) (string, error) {
	sig, err := key.signInput([]byte(limitedSigningInput(key.alg.String(), key.kid, sub, iat, exp)))
	if err != nil {
		return "", err
	}
	return b64.EncodeToString(sig), nil
}

// limitedSigningInput is the header.payload of a limited-user token. Its
// bytes are a contract: Backstage backends cut the limited token out of a
// user token by rebuilding exactly these members in this order and
// appending uip, so they must be what uip was signed over.
func limitedSigningInput(alg, kid string, sub, iat, exp any) string {
	h := ojson.MustMarshal(ojson.NewObject("typ", TypLimitedUser, "alg", alg, "kid", kid))
	p := ojson.MustMarshal(ojson.NewObject("sub", sub, "iat", iat, "exp", exp))
	return b64.EncodeToString(h) + "." + b64.EncodeToString(p)
}

// LimitedUserToken derives the limited-user token (sub, iat, exp only) from
// a full user token, as Backstage's UserTokenHandler.createLimitedUserToken.
func LimitedUserToken(token string) (string, time.Time, error) {
	c, err := parseCompact(token)
	if err != nil {
		return "", time.Time{}, backend.Authentication("Failed to create limited user token, invalid token type")
	}
	exp, _ := c.claimNumber("exp")
	expAt := time.Unix(int64(exp), 0)
	switch c.headerString("typ") {
	case "", TypLimitedUser:
		return token, expAt, nil
	case TypUser:
	default:
		return "", time.Time{}, backend.Authentication("Failed to create limited user token, invalid token type")
	}
	uip, _ := c.claimString("uip")
	if uip == "" {
		return "", time.Time{}, backend.Authentication("Failed to create limited user token, missing user identity proof")
	}
	input := limitedSigningInput(c.headerString("alg"), c.headerString("kid"), c.payload["sub"], c.payload["iat"], c.payload["exp"])
	return input + "." + uip, expAt, nil
}

// userToken is a verified user token.
type userToken struct {
	sub     string
	limited bool
	exp     time.Time
	claims  map[string]any
}

var errFailedUserToken = backend.Authentication("Failed user token verification")

// verifyUserToken checks a token that claims to be a user token. It returns
// nil, nil when the token does not look like one (so the external handlers
// get their turn) and Backstage's "Failed user token verification" when it
// does but fails: bad signature, unknown or expired key, wrong algorithm
// (alg none included), missing claims, or expiry.
func (s *Service) verifyUserToken(ctx context.Context, token string) (*userToken, error) {
	c, perr := parseCompact(token)
	if c == nil {
		return nil, nil
	}
	typ := c.headerString("typ")
	var required []string
	checkAud := false
	switch typ {
	case TypUser, TypLimitedUser:
		required = []string{"iat", "exp", "sub"}
	default:
		// Tokens from before typ existed are recognised by their audience.
		if perr != nil || c.payload["aud"] != audBackstage {
			return nil, nil
		}
		checkAud = true
	}
	if perr != nil {
		return nil, errFailedUserToken
	}
	alg, kid := c.headerString("alg"), c.headerString("kid")
	if _, ok := ecAlgFor(alg); !ok || kid == "" {
		return nil, errFailedUserToken
	}
	key, ok, err := s.publicKey(ctx, kid)
	if err != nil {
		return nil, err
	}
	if !ok || key.alg.String() != alg || !key.verify(c.token) {
		return nil, errFailedUserToken
	}
	for _, r := range required {
		if _, ok := c.payload[r]; !ok {
			return nil, errFailedUserToken
		}
	}
	now := float64(s.now().Unix())
	exp, hasExp := c.claimNumber("exp")
	if _, present := c.payload["exp"]; present && (!hasExp || exp <= now) {
		return nil, errFailedUserToken
	}
	if v, present := c.payload["iat"]; present {
		if _, ok := v.(json.Number); !ok {
			return nil, errFailedUserToken
		}
	}
	if _, present := c.payload["nbf"]; present {
		if nbf, ok := c.claimNumber("nbf"); !ok || nbf > now {
			return nil, errFailedUserToken
		}
	}
	if checkAud && !audienceIncludes(c.payload["aud"], audBackstage) {
		return nil, errFailedUserToken
	}
	sub, _ := c.claimString("sub")
	if sub == "" {
		return nil, backend.Authentication("No user sub found in token")
	}
	ut := &userToken{sub: sub, limited: typ == TypLimitedUser, claims: c.payload}
	if hasExp {
		sec, frac := math.Modf(exp)
		ut.exp = time.Unix(int64(sec), int64(frac*1e9))
	}
	return ut, nil
}

func audienceIncludes(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return slices.Contains(a, any(want))
	}
	return false
}
