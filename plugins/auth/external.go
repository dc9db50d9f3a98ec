package auth

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"

	"github.com/lestrrat-go/jwx/v3/jwa"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
)

// AccessRestriction limits what an external token may do within one plugin
// (backend.auth.externalAccess[].accessRestrictions). Empty fields mean no
// limit beyond the plugin itself.
type AccessRestriction struct {
	// PermissionNames lists the permissions the token may be used for.
	PermissionNames []string
	// PermissionAttributes limits by permission attribute; only "action"
	// (create, read, update, delete) exists.
	PermissionAttributes map[string][]string
}

// externalEntry is one configured external access method.
type externalEntry struct {
	kind         string // "static" or "legacy"
	token        string // static
	secret       []byte // legacy
	subject      string
	restrictions map[string]AccessRestriction // by plugin ID; nil = unrestricted
	pluginOrder  []string                     // plugin IDs in config order, for messages
}

var nonSpace = regexp.MustCompile(`^\S+$`)

// minStaticTokenLength is Backstage's lower bound for static tokens.
const minStaticTokenLength = 8

// readExternalAccess reads backend.auth.externalAccess and the deprecated
// backend.auth.keys with Backstage's validation messages.
func readExternalAccess(cfg *config.Config, log *slog.Logger) ([]*externalEntry, error) {
	const key = "backend.auth.externalAccess"
	entries, _, err := cfg.ReadList(key)
	if err != nil {
		return nil, err
	}
	var out []*externalEntry
	for _, ec := range entries {
		typ, _, err := ec.ReadString("type")
		if err != nil {
			return nil, err
		}
		opts, ok, err := ec.ReadSub("options")
		if err != nil {
			return nil, err
		}
		if !ok && (typ == "static" || typ == "legacy") {
			return nil, fmt.Errorf("missing required config value at '%s'", ec.Key()+".options")
		}
		var e *externalEntry
		switch typ {
		case "static":
			e, err = readStatic(opts)
		case "legacy":
			e, err = readLegacy(opts, false)
		default:
			return nil, fmt.Errorf("Unknown type '%s' in %s, expected one of 'static', 'legacy'", typ, key) //nolint:staticcheck // Backstage's message
		}
		if err != nil {
			return nil, err
		}
		if err := readRestrictions(ec, e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	old, _, err := cfg.ReadList("backend.auth.keys")
	if err != nil {
		return nil, err
	}
	if len(old) > 0 {
		log.Warn("DEPRECATION WARNING: The backend.auth.keys config has been replaced by backend.auth.externalAccess, see https://backstage.io/docs/auth/service-to-service-auth")
	}
	for _, kc := range old {
		e, err := readLegacy(kc, true)
		if err != nil {
			return nil, err
		}
		if err := readRestrictions(kc, e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

func readStatic(opts *config.Config) (*externalEntry, error) {
	token, _, err := opts.ReadString("token")
	if err != nil {
		return nil, err
	}
	subject, _, err := opts.ReadString("subject")
	if err != nil {
		return nil, err
	}
	switch {
	case token == "" || subject == "":
		return nil, errors.New("static external access requires options.token and options.subject")
	case !nonSpace.MatchString(token):
		return nil, errors.New("Illegal token, must be a set of non-space characters") //nolint:staticcheck // Backstage's message
	case len(token) < minStaticTokenLength:
		return nil, fmt.Errorf("Illegal token, must be at least %d characters length", minStaticTokenLength) //nolint:staticcheck // Backstage's message
	case !nonSpace.MatchString(subject):
		return nil, errors.New("Illegal subject, must be a set of non-space characters") //nolint:staticcheck // Backstage's message
	}
	return &externalEntry{kind: "static", token: token, subject: subject}, nil
}

// readLegacy reads a shared-secret entry. Entries of backend.auth.keys all
// get Backstage's fixed subject.
func readLegacy(opts *config.Config, old bool) (*externalEntry, error) {
	secret, _, err := opts.ReadString("secret")
	if err != nil {
		return nil, err
	}
	subject := "external:backstage-plugin"
	if !old {
		if subject, _, err = opts.ReadString("subject"); err != nil {
			return nil, err
		}
	}
	if secret == "" || !nonSpace.MatchString(secret) {
		return nil, errors.New("Illegal secret, must be a valid base64 string") //nolint:staticcheck // Backstage's message
	}
	if subject == "" || !nonSpace.MatchString(subject) {
		return nil, errors.New("Illegal subject, must be a set of non-space characters") //nolint:staticcheck // Backstage's message
	}
	key, err := decodeBase64URL(secret)
	if err != nil {
		return nil, errors.New("Illegal secret, must be a valid base64 string") //nolint:staticcheck // Backstage's message
	}
	return &externalEntry{kind: "legacy", secret: key, subject: subject}, nil
}

// decodeBase64URL decodes like jose's base64url.decode: padding optional,
// and standard-alphabet input accepted too.
func decodeBase64URL(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("+", "-", "/", "_").Replace(s)
	return base64.RawURLEncoding.DecodeString(s)
}

func readRestrictions(ec *config.Config, e *externalEntry) error {
	list, _, err := ec.ReadList("accessRestrictions")
	if err != nil {
		return err
	}
	for _, rc := range list {
		for _, k := range rc.Keys() {
			if k != "plugin" && k != "permission" && k != "permissionAttribute" {
				return fmt.Errorf("Invalid key '%s' in 'accessRestrictions' config, expected one of 'plugin', 'permission', 'permissionAttribute'", k) //nolint:staticcheck // Backstage's message
			}
		}
		plugin, _, err := rc.ReadString("plugin")
		if err != nil {
			return err
		}
		if plugin == "" {
			return fmt.Errorf("missing required config value at '%s'", rc.Key()+".plugin")
		}
		if _, dup := e.restrictions[plugin]; dup {
			return fmt.Errorf("Attempted to declare 'accessRestrictions' twice for plugin '%s', which is not permitted", plugin) //nolint:staticcheck // Backstage's message
		}
		var r AccessRestriction
		if r.PermissionNames, err = stringOrList(rc, "permission", nil); err != nil {
			return err
		}
		if ac, ok, err := rc.ReadSub("permissionAttribute"); err != nil {
			return err
		} else if ok {
			for _, k := range ac.Keys() {
				if k != "action" {
					return fmt.Errorf("Invalid key '%s' in 'permissionAttribute' config, expected 'action'", k) //nolint:staticcheck // Backstage's message
				}
			}
			actions, err := stringOrList(ac, "action", []string{"create", "read", "update", "delete"})
			if err != nil {
				return err
			}
			if actions != nil {
				r.PermissionAttributes = map[string][]string{"action": actions}
			}
		}
		if e.restrictions == nil {
			e.restrictions = map[string]AccessRestriction{}
		}
		e.restrictions[plugin] = r
		e.pluginOrder = append(e.pluginOrder, plugin)
	}
	return nil
}

// stringOrList reads a string or string list, splitting on spaces and
// commas and dropping duplicates, like readStringOrStringArrayFromConfig.
func stringOrList(c *config.Config, key string, valid []string) ([]string, error) {
	if !c.Has(key) {
		return nil, nil
	}
	var raw []string
	if l, ok, err := c.ReadStringList(key); err == nil && ok {
		raw = l
	} else {
		s, _, err := c.ReadString(key)
		if err != nil {
			return nil, err
		}
		raw = []string{s}
	}
	var out []string
	for _, r := range raw {
		for _, v := range strings.FieldsFunc(r, func(c rune) bool { return c == ' ' || c == ',' }) {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	for _, v := range out {
		if valid != nil && !slices.Contains(valid, v) {
			q := make([]string, len(valid))
			for i, x := range valid {
				q[i] = "'" + x + "'"
			}
			return nil, fmt.Errorf("Invalid value '%s' at '%s' in 'permissionAttributes' config, valid values are %s", v, key, strings.Join(q, ", ")) //nolint:staticcheck // Backstage's message
		}
	}
	return out, nil
}

// match reports whether token belongs to this entry. A legacy token that
// is correctly signed but expired is an error rather than a miss.
func (e *externalEntry) match(token string, now int64) (bool, error) {
	switch e.kind {
	case "static":
		return subtle.ConstantTimeCompare([]byte(token), []byte(e.token)) == 1, nil
	case "legacy":
		c, err := parseCompact(token)
		if err != nil || c.headerString("alg") != "HS256" {
			return false, nil
		}
		if sub, _ := c.claimString("sub"); sub != "backstage-server" {
			return false, nil
		}
		if _, hasAud := c.payload["aud"]; hasAud {
			return false, nil
		}
		if !verifyCompact(e.secret, c.token, jwa.HS256()) {
			return false, nil
		}
		// Backstage lets jose's claim errors escape as a 500 here; a 401
		// with jose's message is what a caller can act on.
		if _, present := c.payload["exp"]; present {
			if exp, ok := c.claimNumber("exp"); !ok || exp <= float64(now) {
				return false, backend.Authentication(`"exp" claim timestamp check failed`)
			}
		}
		if _, present := c.payload["nbf"]; present {
			if nbf, ok := c.claimNumber("nbf"); !ok || nbf > float64(now) {
				return false, backend.Authentication(`"nbf" claim timestamp check failed`)
			}
		}
		return true, nil
	}
	return false, nil
}

// restrictionFor applies the entry's access restrictions for pluginID: the
// restriction (nil when unrestricted), or Backstage's NotAllowedError when
// the token may not be used on this plugin at all.
func (e *externalEntry) restrictionFor(pluginID string) (*AccessRestriction, error) {
	if e.restrictions == nil {
		return nil, nil
	}
	r, ok := e.restrictions[pluginID]
	if !ok {
		q := make([]string, len(e.pluginOrder))
		for i, p := range e.pluginOrder {
			q[i] = "'" + p + "'"
		}
		return nil, backend.NotAllowed("This token's access is restricted to plugin(s) %s", strings.Join(q, ", "))
	}
	return &r, nil
}
