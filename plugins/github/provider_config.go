package github

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/understage/understage/plugins/backend/config"
)

// ProviderOptions tune the providers built from config.
type ProviderOptions struct {
	Logger *slog.Logger
	// Clients is the module's shared client per host, which the providers
	// share with the URL readers and actions (one conditional cache and
	// one rate-limit state per host). Nil builds one from config with
	// Client.
	Clients *Clients
	Client  ClientOptions
}

// Providers builds every provider configured under catalog.providers.github
// (discovery) and catalog.providers.githubOrg (users and teams), with
// Backstage's config shapes and errors. The providers do nothing until run
// (the catalog plugin schedules them).
func Providers(ctx context.Context, cfg *config.Config, o ProviderOptions) ([]Provider, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client.Logger == nil {
		o.Client.Logger = o.Logger
	}
	integs, err := ReadIntegrations(cfg)
	if err != nil {
		return nil, err
	}
	if o.Clients == nil {
		o.Clients = NewClients(integs, o.Client)
	}
	clientFor := o.Clients.For
	var out []Provider
	discovery, err := ReadDiscoveryConfigs(cfg)
	if err != nil {
		return nil, err
	}
	for _, d := range discovery {
		c, ok, err := clientFor(d.Host)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("There is no GitHub config that matches host %s. Please add a configuration entry for it under integrations.github", d.Host)
		}
		out = append(out, NewDiscoveryProvider(d, c, o.Logger))
	}
	orgs, err := ReadOrgConfigs(cfg)
	if err != nil {
		return nil, err
	}
	for _, oc := range orgs {
		u, err := url.Parse(oc.GitHubURL)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("invalid githubUrl '%s' in catalog.providers.githubOrg", oc.GitHubURL)
		}
		c, ok, err := clientFor(u.Host)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("There is no GitHub integration that matches %s. Please add a configuration entry for it under integrations.github.", oc.GitHubURL)
		}
		out = append(out, NewOrgProvider(oc, c, o.Logger))
	}
	return out, nil
}

// DiscoveryProviders picks the discovery providers out of providers (what
// the webhook needs).
func DiscoveryProviders(providers []Provider) []*DiscoveryProvider {
	var out []*DiscoveryProvider
	for _, p := range providers {
		if d, ok := p.(*DiscoveryProvider); ok {
			out = append(out, d)
		}
	}
	return out
}

// ReadDiscoveryConfigs reads catalog.providers.github: either one provider
// (the object has organization; its id is "default") or an object of
// providers keyed by id.
func ReadDiscoveryConfigs(cfg *config.Config) ([]DiscoveryConfig, error) {
	root, ok, err := cfg.ReadSub("catalog.providers.github")
	if err != nil || !ok {
		return nil, err
	}
	if root.Has("organization") {
		d, err := readDiscoveryConfig("default", root)
		if err != nil {
			return nil, err
		}
		return []DiscoveryConfig{d}, nil
	}
	var out []DiscoveryConfig
	for _, id := range root.Keys() {
		sub, _, err := root.ReadSub(id)
		if err != nil {
			return nil, err
		}
		d, err := readDiscoveryConfig(id, sub)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func readDiscoveryConfig(id string, c *config.Config) (DiscoveryConfig, error) {
	d := DiscoveryConfig{ID: id, CatalogPath: DefaultCatalogPath, Host: DefaultHost}
	d.Filters.AllowForks = true
	var err error
	var ok bool
	if d.Organization, ok, err = c.ReadString("organization"); err != nil {
		return d, err
	} else if !ok {
		return d, fmt.Errorf("Missing required config value at '%s.organization'", c.Key())
	}
	for key, dst := range map[string]*string{"catalogPath": &d.CatalogPath, "host": &d.Host, "filters.branch": &d.Filters.Branch} {
		if v, ok, err := c.ReadString(key); err != nil {
			return d, err
		} else if ok {
			*dst = v
		}
	}
	if pat, ok, err := c.ReadString("filters.repository"); err != nil {
		return d, err
	} else if ok {
		if d.Filters.Repository, err = compileRepositoryFilter(pat); err != nil {
			return d, fmt.Errorf("%s.filters.repository: %w", c.Key(), err)
		}
	}
	for key, dst := range map[string]*bool{"filters.allowForks": &d.Filters.AllowForks,
		"filters.allowArchived": &d.Filters.AllowArchived, "validateLocationsExist": &d.ValidateLocationsExist} {
		if v, ok, err := c.ReadBool(key); err != nil {
			return d, err
		} else if ok {
			*dst = v
		}
	}
	for key, dst := range map[string]*[]string{"filters.topic.include": &d.Filters.TopicInclude,
		"filters.topic.exclude": &d.Filters.TopicExclude, "filters.visibility": &d.Filters.Visibility} {
		if v, _, err := c.ReadStringList(key); err != nil {
			return d, err
		} else {
			*dst = v
		}
	}
	if d.ValidateLocationsExist && strings.Contains(d.CatalogPath, "*") {
		return d, fmt.Errorf("Error while processing GitHub provider config. The catalog path %s contains a wildcard, which is incompatible with validation of locations existing before emitting them. Ensure that validateLocationsExist is set to false.", d.CatalogPath)
	}
	sched, ok, err := c.ReadSub("schedule")
	if err != nil {
		return d, err
	}
	if !ok {
		return d, fmt.Errorf("No schedule provided neither via code nor config for github-provider:%s.", id)
	}
	if d.Schedule, err = ReadSchedule(sched); err != nil {
		return d, err
	}
	return d, nil
}

// ReadOrgConfigs reads catalog.providers.githubOrg: one object or an array
// of objects with id, githubUrl, orgs and schedule (all but orgs required).
func ReadOrgConfigs(cfg *config.Config) ([]OrgConfig, error) {
	const key = "catalog.providers.githubOrg"
	if !cfg.Has(key) {
		return nil, nil
	}
	var list []*config.Config
	if _, isList := cfg.Get(key).([]any); isList {
		l, _, err := cfg.ReadList(key)
		if err != nil {
			return nil, err
		}
		list = l
	} else {
		sub, _, err := cfg.ReadSub(key)
		if err != nil {
			return nil, err
		}
		list = []*config.Config{sub}
	}
	var out []OrgConfig
	for _, c := range list {
		var oc OrgConfig
		for k, dst := range map[string]*string{"id": &oc.ID, "githubUrl": &oc.GitHubURL} {
			v, ok, err := c.ReadString(k)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, fmt.Errorf("Missing required config value at '%s.%s'", c.Key(), k)
			}
			*dst = v
		}
		orgs, _, err := c.ReadStringList("orgs")
		if err != nil {
			return nil, err
		}
		if len(orgs) == 0 {
			return nil, fmt.Errorf("%s.orgs: list the organizations to read (reading every GitHub App installation is not supported)", c.Key())
		}
		oc.Orgs = orgs
		sched, ok, err := c.ReadSub("schedule")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("Missing required config value at '%s.schedule'", c.Key())
		}
		if oc.Schedule, err = ReadSchedule(sched); err != nil {
			return nil, err
		}
		out = append(out, oc)
	}
	// Backstage keeps groups in the default namespace only when there is
	// no second org they could collide with.
	if len(out) == 1 && len(out[0].Orgs) == 1 {
		out[0].DefaultNamespace = true
	}
	return out, nil
}
