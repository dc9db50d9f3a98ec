package github

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// OrgConfig is one entry of catalog.providers.githubOrg (Backstage's
// @backstage/plugin-catalog-backend-module-github-org).
type OrgConfig struct {
	ID string
	// GitHubURL selects the integration by host ("https://github.com").
	GitHubURL string
	// Orgs to read. Backstage reads every org a GitHub App is installed in
	// when this is empty; without App support, at least one is required.
	Orgs     []string
	Schedule Schedule
	// DefaultNamespace puts groups in the default namespace instead of one
	// named after their org. Backstage does so when exactly one githubOrg
	// provider reads exactly one org.
	DefaultNamespace bool
}

// OrgProvider is Backstage's GithubMultiOrgEntityProvider: org members
// become User entities and teams Group entities, with memberships,
// parents and children, replaced by a full mutation on every run.
type OrgProvider struct {
	cfg    OrgConfig
	client *Client
	log    *slog.Logger
	mu     sync.Mutex
}

// NewOrgProvider returns a provider over c (the client of cfg.GitHubURL's
// integration).
func NewOrgProvider(cfg OrgConfig, c *Client, log *slog.Logger) *OrgProvider {
	if log == nil {
		log = slog.Default()
	}
	p := &OrgProvider{cfg: cfg, client: c}
	p.log = log.With("target", cfg.GitHubURL)
	return p
}

// Name is Backstage's provider name, GithubMultiOrgEntityProvider:<id>.
func (p *OrgProvider) Name() string { return "GithubMultiOrgEntityProvider:" + p.cfg.ID }

// locationKey is the key Backstage gives every entity of the provider.
func (p *OrgProvider) locationKey() string { return "github-multi-org-provider:" + p.cfg.ID }

// Schedule is the configured schedule.
func (p *OrgProvider) Schedule() Schedule { return p.cfg.Schedule }

// orgUser is a user being built, with the memberships found so far.
type orgUser struct {
	login, name, email, bio, avatar string
	memberOf                        []string
}

// orgGroup is a team being built.
type orgGroup struct {
	org, slug, name, description string
	namespace                    string // "" = default
	parent                       string
	children                     []string
	members                      []string // user refs default/<login>
}

// Run reads every org and replaces the provider's users and groups. Any
// failed request fails the run before anything is written.
func (p *OrgProvider) Run(ctx context.Context, store catalog.ProcessingStore) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var users []*orgUser
	byLogin := map[string]*orgUser{}
	var groups []*orgGroup
	for _, org := range p.cfg.Orgs {
		p.log.Info("Reading GitHub users and teams for org: " + org)
		members, err := p.client.ListOrgMembers(ctx, org)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
		for _, m := range members {
			login := m.GetLogin()
			if byLogin[login] != nil {
				continue
			}
			// The listing has no names or emails; the profile has. Each is
			// a conditional request, free when the profile is unchanged.
			full, err := p.client.GetUser(ctx, login)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name(), err)
			}
			u := &orgUser{login: login, name: full.GetName(), email: full.GetEmail(), bio: full.GetBio(),
				avatar: full.GetAvatarURL()}
			if u.avatar == "" {
				u.avatar = m.GetAvatarURL()
			}
			byLogin[login] = u
			users = append(users, u)
		}
		teams, err := p.client.ListTeams(ctx, org)
		if err != nil {
			return fmt.Errorf("%s: %w", p.Name(), err)
		}
		ns := ""
		if !p.cfg.DefaultNamespace {
			ns = strings.ToLower(org)
		}
		var orgGroups []*orgGroup
		for _, t := range teams {
			g := &orgGroup{org: org, slug: t.GetSlug(), name: t.GetName(), description: t.GetDescription(),
				namespace: ns, parent: t.Parent}
			for _, m := range t.Members {
				g.members = append(g.members, "default/"+m)
			}
			orgGroups = append(orgGroups, g)
		}
		linkHierarchy(orgGroups)
		// Direct memberships only, keyed as Backstage keys them: the bare
		// name in the default namespace, namespace/name otherwise.
		for _, g := range orgGroups {
			key := g.slug
			if g.namespace != "" && g.namespace != "default" {
				key = g.namespace + "/" + g.slug
			}
			for _, m := range g.members {
				if u := byLogin[strings.TrimPrefix(m, "default/")]; u != nil && !slices.Contains(u.memberOf, key) {
					u.memberOf = append(u.memberOf, key)
				}
			}
		}
		groups = append(groups, orgGroups...)
	}
	base := "https://" + p.client.integ.Host
	ents := make([]catalog.DeferredEntity, 0, len(users)+len(groups))
	for _, u := range users {
		ents = append(ents, catalog.DeferredEntity{Entity: u.entity(base), LocationKey: p.locationKey()})
	}
	for _, g := range groups {
		ents = append(ents, catalog.DeferredEntity{Entity: g.entity(base), LocationKey: p.locationKey()})
	}
	if err := store.ApplyFullMutation(ctx, p.Name(), ents); err != nil {
		return fmt.Errorf("%s: apply mutation: %w", p.Name(), err)
	}
	p.log.Info(fmt.Sprintf("Committed %d GitHub users and %d GitHub groups", len(users), len(groups)))
	return nil
}

// linkHierarchy makes every parent list its children and every listed
// child name its parent.
func linkHierarchy(groups []*orgGroup) {
	byName := map[string]*orgGroup{}
	for _, g := range groups {
		byName[g.slug] = g
	}
	for _, g := range groups {
		if par := byName[g.parent]; g.parent != "" && par != nil && !slices.Contains(par.children, g.slug) {
			par.children = append(par.children, g.slug)
		}
	}
	for _, g := range groups {
		for _, c := range g.children {
			if ch := byName[c]; ch != nil && ch.parent == "" {
				ch.parent = g.slug
			}
		}
	}
}

// entity builds the User entity. Keys are in the order Backstage's
// transformer plus its location merge produce (metadata first, location
// annotations ahead of the transformer's).
func (u *orgUser) entity(base string) *ojson.Object {
	loc := "url:" + base + "/" + u.login
	meta := ojson.NewObject(
		"annotations", ojson.NewObject(
			"backstage.io/managed-by-location", loc,
			"backstage.io/managed-by-origin-location", loc,
			"github.com/user-login", u.login,
		),
		"name", u.login,
	)
	if u.bio != "" {
		meta.Set("description", u.bio)
	}
	profile := ojson.NewObject()
	if u.name != "" {
		profile.Set("displayName", u.name)
	}
	if u.email != "" {
		profile.Set("email", u.email)
	}
	if u.avatar != "" {
		profile.Set("picture", u.avatar)
	}
	memberOf := make([]any, 0, len(u.memberOf))
	for _, m := range u.memberOf {
		memberOf = append(memberOf, m)
	}
	return ojson.NewObject(
		"metadata", meta,
		"apiVersion", "backstage.io/v1alpha1",
		"kind", "User",
		"spec", ojson.NewObject("profile", profile, "memberOf", memberOf),
	)
}

// entity builds the Group entity.
func (g *orgGroup) entity(base string) *ojson.Object {
	loc := "url:" + base + "/orgs/" + g.org + "/teams/" + g.slug
	meta := ojson.NewObject(
		"annotations", ojson.NewObject(
			"backstage.io/managed-by-location", loc,
			"backstage.io/managed-by-origin-location", loc,
			"github.com/team-slug", g.org+"/"+g.slug,
			"backstage.io/edit-url", base+"/orgs/"+g.org+"/teams/"+g.slug+"/edit",
		),
		"name", g.slug,
	)
	if g.description != "" {
		meta.Set("description", g.description)
	}
	if g.namespace != "" {
		meta.Set("namespace", g.namespace)
	}
	profile := ojson.NewObject()
	if g.name != "" {
		profile.Set("displayName", g.name)
	}
	children := make([]any, 0, len(g.children))
	for _, c := range g.children {
		children = append(children, c)
	}
	spec := ojson.NewObject("type", "team", "profile", profile, "children", children)
	if g.parent != "" {
		spec.Set("parent", g.parent)
	}
	members := make([]any, 0, len(g.members))
	for _, m := range g.members {
		members = append(members, m)
	}
	spec.Set("members", members)
	return ojson.NewObject(
		"metadata", meta,
		"apiVersion", "backstage.io/v1alpha1",
		"kind", "Group",
		"spec", spec,
	)
}
