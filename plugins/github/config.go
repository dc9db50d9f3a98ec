// Package github integrates GitHub (github.com and GitHub Enterprise): a
// catalog.URLReader for blob, tree and raw URLs, and organisation listing
// helpers (repositories, members, teams) for entity providers.
//
// All API traffic goes through go-github with a transport stack that (1)
// turns repeated GETs into conditional requests, so unchanged listings cost
// a 304 that GitHub does not count against the rate limit, and (2) owns rate
// limiting: it reads X-RateLimit-Remaining/Reset, waits for the reset when
// the limit is used up, and retries secondary-limit answers after their
// Retry-After, always bounded by ClientOptions.MaxRateLimitWait and the
// request's context.
//
// Entity providers (Providers builds them from catalog.providers.github and
// catalog.providers.githubOrg; the catalog's scheduler runs them) emit
// Backstage's entities under Backstage's provider names and location keys.
// NewWebhook serves GitHub push and repository deliveries (meant for
// POST /api/events/http/github, Backstage's events ingress path, which takes
// no Backstage token: deliveries are authenticated by X-Hub-Signature-256).
//
// Only hosts configured under integrations.github are read; the API base URL
// is whatever that configuration says (an httptest server in tests), and
// owners, repositories, refs and paths taken from URLs are checked so that a
// crafted URL cannot address another API endpoint.
package github

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/understage/understage/plugins/backend/config"
)

// DefaultHost is the host of github.com's integration.
const DefaultHost = "github.com"

// Integration is one entry of integrations.github.
type Integration struct {
	// Host is the web host of URLs to read. Default github.com.
	Host string
	// APIBaseURL is the REST API root. Default https://api.github.com for
	// github.com and https://<host>/api/v3 for any other host.
	APIBaseURL string
	// RawBaseURL is the root of raw file URLs. Default
	// https://raw.githubusercontent.com for github.com and https://<host>/raw
	// for any other host.
	RawBaseURL string
	// Token authenticates API requests (optional).
	Token string
}

// WithDefaults fills the documented defaults.
func (i Integration) WithDefaults() Integration {
	if i.Host == "" {
		i.Host = DefaultHost
	}
	if i.APIBaseURL == "" {
		if i.Host == DefaultHost {
			i.APIBaseURL = "https://api.github.com"
		} else {
			i.APIBaseURL = "https://" + i.Host + "/api/v3"
		}
	}
	if i.RawBaseURL == "" {
		if i.Host == DefaultHost {
			i.RawBaseURL = "https://raw.githubusercontent.com"
		} else {
			i.RawBaseURL = "https://" + i.Host + "/raw"
		}
	}
	i.APIBaseURL = strings.TrimRight(i.APIBaseURL, "/")
	i.RawBaseURL = strings.TrimRight(i.RawBaseURL, "/")
	return i
}

// ReadIntegrations reads integrations.github from the root config. Like
// Backstage, a github.com integration without a token is added when none is
// configured, so public github.com URLs are readable by default.
func ReadIntegrations(cfg *config.Config) ([]Integration, error) {
	list, _, err := cfg.ReadList("integrations.github")
	if err != nil {
		return nil, err
	}
	var out []Integration
	seen := map[string]bool{}
	for _, c := range list {
		var in Integration
		for key, dst := range map[string]*string{"host": &in.Host, "apiBaseUrl": &in.APIBaseURL,
			"rawBaseUrl": &in.RawBaseURL, "token": &in.Token} {
			v, _, err := c.ReadString(key)
			if err != nil {
				return nil, err
			}
			*dst = strings.TrimSpace(v)
		}
		in = in.WithDefaults()
		if strings.ContainsAny(in.Host, "/@ ") {
			return nil, fmt.Errorf("invalid integrations.github host '%s'", in.Host)
		}
		for _, u := range []string{in.APIBaseURL, in.RawBaseURL} {
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return nil, fmt.Errorf("invalid url '%s' in integrations.github for host %s", u, in.Host)
			}
		}
		if seen[in.Host] {
			return nil, fmt.Errorf("duplicate integrations.github host '%s'", in.Host)
		}
		seen[in.Host] = true
		out = append(out, in)
	}
	if !seen[DefaultHost] {
		out = append(out, Integration{}.WithDefaults())
	}
	return out, nil
}
