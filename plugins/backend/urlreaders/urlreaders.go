// Package urlreaders assembles the catalog's URL readers from config and
// enforces what may be read: GitHub integrations (integrations.github), plain
// git repositories (integrations.git, see plugins/backend/gitreader) and plain HTTP
// reads of hosts listed under backend.reading.allow. A URL none of them
// claims is refused with Backstage's NotAllowedError message.
//
// Server-side request forgery is the threat: whoever may register a location
// may make the backend fetch a URL. So a plain HTTP read is only made to a
// host the allow list names, its path must stay under the listed paths, a
// redirect must land on an allowed URL again, and a wildcard rule
// ("*.example.com") never reaches loopback, private, link-local or
// unspecified addresses, whatever DNS says; only a rule that names the host
// exactly may address such a host.
package urlreaders

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/gitreader"
	"github.com/understage/understage/plugins/github"
)

// Options tune Build.
type Options struct {
	// GitHubClients is the GitHub module's shared client per host; nil
	// builds one from config with GitHub.
	GitHubClients *github.Clients
	// GitHub options for every GitHub integration's client.
	GitHub github.ClientOptions
	// GitCacheDir is where remote git repositories are cloned (default: a
	// directory under os.TempDir()).
	GitCacheDir string
	Logger      *slog.Logger
}

// Build returns the registry for cfg (the root app-config): one reader per
// GitHub integration, then the git reader when integrations.git is set, then
// the allow-listed fetch reader.
func Build(ctx context.Context, cfg *config.Config, o Options) (*catalog.URLReaders, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	readers := catalog.NewURLReaders()
	clients := o.GitHubClients
	if clients == nil {
		co := o.GitHub
		if co.Logger == nil {
			co.Logger = o.Logger
		}
		var err error
		if clients, err = github.ClientsFromConfig(cfg, co); err != nil {
			return nil, err
		}
	}
	for _, in := range clients.Integrations() {
		c, _, err := clients.For(in.Host)
		if err != nil {
			return nil, fmt.Errorf("github integration %s: %w", in.Host, err)
		}
		r := github.NewReader(c)
		readers.Register("github:"+in.Host, r.Claims, r)
	}
	gcfg, err := gitreader.ReadConfig(cfg)
	if err != nil {
		return nil, err
	}
	if len(gcfg.Remotes) > 0 || len(gcfg.LocalRoots) > 0 {
		if o.GitCacheDir != "" {
			gcfg.CacheDir = o.GitCacheDir
		}
		gcfg.Logger = o.Logger.With("integration", "git")
		g := gitreader.New(gcfg)
		readers.Register("git", g.Claims, g)
	}
	allow, err := ReadAllowList(cfg)
	if err != nil {
		return nil, err
	}
	if len(allow) > 0 {
		f := NewFetchReader(allow, FetchOptions{})
		readers.Register("fetch", f.Claims, f)
	}
	return readers, nil
}

// AllowRule is one entry of backend.reading.allow.
type AllowRule struct {
	// Host is "example.com", "example.com:8080" or "*.example.com" (any
	// subdomain, not the apex). Without a port it matches any port.
	Host string
	// Paths, when set, are the path prefixes that may be read.
	Paths []string
}

// ReadAllowList reads backend.reading.allow.
func ReadAllowList(cfg *config.Config) ([]AllowRule, error) {
	list, _, err := cfg.ReadList("backend.reading.allow")
	if err != nil {
		return nil, err
	}
	var out []AllowRule
	for _, c := range list {
		host, _, err := c.ReadString("host")
		if err != nil {
			return nil, err
		}
		if host == "" || strings.ContainsAny(host, "/@ ") || (strings.Contains(host, "*") && !strings.HasPrefix(host, "*.")) {
			return nil, fmt.Errorf("invalid host '%s' at backend.reading.allow", host)
		}
		paths, _, err := c.ReadStringList("paths")
		if err != nil {
			return nil, err
		}
		out = append(out, AllowRule{Host: strings.ToLower(host), Paths: paths})
	}
	return out, nil
}

// match reports whether the rule admits u; exact tells whether the rule
// names the host itself rather than a wildcard.
func (r AllowRule) match(u *url.URL) (ok, exact bool) {
	host := strings.ToLower(u.Host)
	ruleHasPort := strings.Contains(strings.TrimPrefix(r.Host, "*."), ":")
	if !ruleHasPort {
		host = strings.ToLower(u.Hostname())
	}
	if suffix, wild := strings.CutPrefix(r.Host, "*"); wild {
		if !strings.HasSuffix(host, suffix) || len(host) == len(suffix) {
			return false, false
		}
	} else if host != r.Host {
		return false, false
	}
	if len(r.Paths) > 0 {
		p := u.Path
		if p == "" {
			p = "/"
		}
		under := false
		for _, prefix := range r.Paths {
			if strings.HasPrefix(p, prefix) {
				under = true
				break
			}
		}
		if !under {
			return false, false
		}
	}
	return true, !strings.HasPrefix(r.Host, "*")
}
