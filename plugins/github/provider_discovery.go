package github

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	gh "github.com/google/go-github/v60/github"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/plugins/backend"
)

// DefaultCatalogPath is catalogPath when none is configured.
const DefaultCatalogPath = "/catalog-info.yaml"

// DiscoveryConfig is one entry of catalog.providers.github.
type DiscoveryConfig struct {
	ID           string
	Organization string
	// Host selects the integration (default github.com).
	Host string
	// CatalogPath is the file to register in each repository, relative to
	// its root; it may be a glob ("/**/catalog-info.yaml").
	CatalogPath string
	Filters     DiscoveryFilters
	// ValidateLocationsExist emits only repositories whose catalog file
	// exists (costs one conditional contents request per repository).
	ValidateLocationsExist bool
	Schedule               Schedule
}

// DiscoveryFilters select repositories, as Backstage's filters do.
type DiscoveryFilters struct {
	// Repository must match the whole repository name (Backstage anchors
	// the pattern with ^ and $ unless it already starts or ends with them).
	Repository *regexp.Regexp
	// Branch replaces each repository's default branch in the targets.
	Branch        string
	TopicInclude  []string
	TopicExclude  []string
	Visibility    []string // public, private, internal; empty = all
	AllowForks    bool     // default true
	AllowArchived bool     // default false
}

// DiscoveryProvider is Backstage's GithubEntityProvider: each run lists the
// organisation's repositories and emits one optional url Location per
// matching repository, pointing at its catalog file.
type DiscoveryProvider struct {
	cfg    DiscoveryConfig
	client *Client
	log    *slog.Logger

	mu        sync.Mutex // one run at a time, whoever starts it
	lastHash  [32]byte
	lastApply time.Time
}

// reapplyAfter is how long an unchanged set is not written again. Skipping
// saves the store a transaction per run; re-applying now and then repairs
// a store that lost the provider's rows some other way.
const reapplyAfter = time.Hour

// NewDiscoveryProvider returns a provider over c (the client of the
// integration for cfg.Host).
func NewDiscoveryProvider(cfg DiscoveryConfig, c *Client, log *slog.Logger) *DiscoveryProvider {
	if cfg.CatalogPath == "" {
		cfg.CatalogPath = DefaultCatalogPath
	}
	if log == nil {
		log = slog.Default()
	}
	p := &DiscoveryProvider{cfg: cfg, client: c}
	p.log = log.With("target", p.Name())
	return p
}

// Name is Backstage's provider name, github-provider:<id>.
func (p *DiscoveryProvider) Name() string { return "github-provider:" + p.cfg.ID }

// Schedule is the configured schedule.
func (p *DiscoveryProvider) Schedule() Schedule { return p.cfg.Schedule }

// Config is the provider's configuration.
func (p *DiscoveryProvider) Config() DiscoveryConfig { return p.cfg }

// repo is what filters and targets need of a repository.
type repo struct {
	Owner, Name   string
	DefaultBranch string
	Topics        []string
	Archived      bool
	Fork          bool
	Visibility    string
}

func repoOf(r *gh.Repository) repo {
	vis := r.GetVisibility()
	if vis == "" {
		vis = "public"
		if r.GetPrivate() {
			vis = "private"
		}
	}
	owner := r.GetOwner().GetLogin()
	name := r.GetName()
	if full := r.GetFullName(); full != "" {
		owner, name, _ = strings.Cut(full, "/")
	}
	return repo{Owner: owner, Name: name, DefaultBranch: r.GetDefaultBranch(), Topics: r.Topics,
		Archived: r.GetArchived(), Fork: r.GetFork(), Visibility: vis}
}

// Run lists the organisation and replaces the provider's Location entities.
// A failed listing returns the error and changes nothing.
func (p *DiscoveryProvider) Run(ctx context.Context, store catalog.ProcessingStore) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	list, err := p.client.ListOrgRepos(ctx, p.cfg.Organization)
	if err != nil {
		return fmt.Errorf("%s: list repositories: %w", p.Name(), err)
	}
	var targets []string
	for _, r := range list {
		rp := repoOf(r)
		if !p.matches(rp) {
			continue
		}
		if p.cfg.ValidateLocationsExist {
			ok, err := p.catalogFileExists(ctx, rp)
			if err != nil {
				return fmt.Errorf("%s: %w", p.Name(), err)
			}
			if !ok {
				continue
			}
		}
		targets = append(targets, p.TargetURL(rp.Owner, rp.Name, rp.DefaultBranch))
	}
	h := sha256.Sum256([]byte(strings.Join(targets, "\n")))
	if h == p.lastHash && time.Since(p.lastApply) < reapplyAfter {
		p.log.Debug(fmt.Sprintf("Read %d GitHub repositories (%d matching the pattern), unchanged", len(list), len(targets)))
		return nil
	}
	ents := make([]catalog.DeferredEntity, 0, len(targets))
	for _, t := range targets {
		ents = append(ents, catalog.DeferredEntity{
			Entity:      processing.LocationEntity(processing.LocationSpec{Type: "url", Target: t, Presence: "optional"}),
			LocationKey: p.Name(),
		})
	}
	if err := store.ApplyFullMutation(ctx, p.Name(), ents); err != nil {
		return fmt.Errorf("%s: apply mutation: %w", p.Name(), err)
	}
	p.lastHash, p.lastApply = h, time.Now()
	p.log.Info(fmt.Sprintf("Read %d GitHub repositories (%d matching the pattern)", len(list), len(targets)))
	return nil
}

// TargetURL is the Location target for a repository, built as Backstage
// builds it: <repo url>/blob/<branch>/<catalogPath without leading slash>,
// where branch is filters.branch, else the default branch, else "-".
func (p *DiscoveryProvider) TargetURL(owner, name, defaultBranch string) string {
	branch := p.cfg.Filters.Branch
	if branch == "" {
		branch = defaultBranch
	}
	if branch == "" {
		branch = "-"
	}
	return "https://" + p.client.integ.Host + "/" + owner + "/" + name + "/blob/" + branch + "/" +
		strings.TrimPrefix(p.cfg.CatalogPath, "/")
}

// matches applies Backstage's filters; repositories without a default
// branch (empty ones) never match.
func (p *DiscoveryProvider) matches(r repo) bool {
	f := p.cfg.Filters
	switch {
	case r.Archived && !f.AllowArchived,
		f.Repository != nil && !f.Repository.MatchString(r.Name),
		!topicsMatch(r.Topics, f.TopicInclude, f.TopicExclude),
		r.Fork && !f.AllowForks,
		len(f.Visibility) > 0 && !slices.ContainsFunc(f.Visibility, func(v string) bool { return strings.EqualFold(v, r.Visibility) }),
		r.DefaultBranch == "":
		return false
	}
	return true
}

// topicsMatch: with include set, some topic must be included; with exclude
// set, no topic may be excluded (exclude wins over include).
func topicsMatch(topics, include, exclude []string) bool {
	if len(include) > 0 && !slices.ContainsFunc(topics, func(t string) bool { return slices.Contains(include, t) }) {
		return false
	}
	return !slices.ContainsFunc(topics, func(t string) bool { return slices.Contains(exclude, t) })
}

// catalogFileExists checks the catalog file with a contents request (made
// conditional by the client's cache when it existed before). An empty file
// counts as missing, as in Backstage.
func (p *DiscoveryProvider) catalogFileExists(ctx context.Context, r repo) (bool, error) {
	branch := p.cfg.Filters.Branch
	if branch == "" {
		branch = r.DefaultBranch
	}
	path := strings.TrimPrefix(p.cfg.CatalogPath, "/")
	u := fmt.Sprintf("repos/%s/%s/contents/%s?ref=%s", r.Owner, r.Name, escapePath(path), url.QueryEscape(branch))
	req, err := p.client.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	var fc gh.RepositoryContent
	if _, err := p.client.gh.Do(ctx, req, &fc); err != nil {
		err = classify(err, fmt.Sprintf("catalog file of %s/%s", r.Owner, r.Name))
		if errors.Is(err, backend.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return fc.GetType() == "file" && fc.GetSize() > 0, nil
}

// compileRepositoryFilter anchors a pattern as Backstage's compileRegExp
// does: ^ is prepended unless present, $ appended unless present.
func compileRepositoryFilter(pattern string) (*regexp.Regexp, error) {
	if !strings.HasPrefix(pattern, "^") {
		pattern = "^" + pattern
	}
	if !strings.HasSuffix(pattern, "$") {
		pattern += "$"
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("invalid filters.repository pattern: %w", err)
	}
	return re, nil
}
