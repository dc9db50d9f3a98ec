package github

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/glob"
)

// Refresher refreshes the Location entities whose spec.target is one of
// urls (the catalog's side of the webhook: it makes them due now and wakes
// the engine). Unknown URLs are ignored.
type Refresher interface {
	RefreshLocations(ctx context.Context, urls []string) error
}

// WebhookOptions configure the GitHub webhook handler.
type WebhookOptions struct {
	// Secrets are the accepted webhook secrets: a delivery is accepted when
	// its X-Hub-Signature-256 verifies with any of them. With no secret
	// every delivery is refused (Backstage would accept unsigned events;
	// letting anyone trigger refreshes and API traffic is not worth it).
	Secrets []string
	// Providers are the discovery providers whose repositories pushes may
	// concern.
	Providers []*DiscoveryProvider
	// Refresher refreshes the affected locations (nil: pushes only trigger
	// provider runs).
	Refresher Refresher
	// Trigger starts a run of the named provider (catalogplugin.Extensions.TriggerProvider). When a
	// push adds a catalog file, or a repository is created, archived,
	// renamed or transferred, the provider's next run picks it up. Optional.
	Trigger func(provider string) bool
	Logger  *slog.Logger
}

// WebhookSecrets reads the secrets the webhook accepts:
// events.modules.github.webhookSecret and integrations.github[].apps[].webhookSecret
// (where Backstage's events module reads them), plus
// integrations.github[].webhookSecret.
func WebhookSecrets(cfg *config.Config) ([]string, error) {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	s, _, err := cfg.ReadString("events.modules.github.webhookSecret")
	if err != nil {
		return nil, err
	}
	add(s)
	integs, _, err := cfg.ReadList("integrations.github")
	if err != nil {
		return nil, err
	}
	for _, in := range integs {
		s, _, err := in.ReadString("webhookSecret")
		if err != nil {
			return nil, err
		}
		add(s)
		apps, _, err := in.ReadList("apps")
		if err != nil {
			return nil, err
		}
		for _, a := range apps {
			s, _, err := a.ReadString("webhookSecret")
			if err != nil {
				return nil, err
			}
			add(s)
		}
	}
	return out, nil
}

// maxWebhookBody bounds a delivery; GitHub caps payloads at 25 MB.
const maxWebhookBody = 25 << 20

// NewWebhook returns the handler for GitHub webhook deliveries (POST). It
// answers like Backstage's events ingress (/api/events/http/github): 202
// {"status":"accepted"}, 403 {"message":"invalid signature"}, 415 for a
// body that is not application/json.
//
// push: every file the pushed commits added, modified or removed is turned
// into its blob and tree URLs on the pushed branch; for each discovery
// provider covering the repository whose catalogPath is a glob that one of
// the files matches, the provider's own target is added. The Refresher is
// called with exactly those URLs, so only Locations reading a changed file
// are re-read. An added catalog file also triggers the provider's run.
//
// repository (created, deleted, archived, unarchived, renamed,
// transferred, edited): triggers the runs of the providers of that org.
func NewWebhook(o WebhookOptions) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &webhook{o: o}
}

type webhook struct{ o WebhookOptions }

func writeJSONStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSONStatus(w, http.StatusMethodNotAllowed, map[string]string{"message": "method not allowed"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxWebhookBody))
	if err != nil {
		writeJSONStatus(w, http.StatusRequestEntityTooLarge, map[string]string{"message": "payload too large"})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		writeJSONStatus(w, http.StatusUnsupportedMediaType, map[string]string{"message": "Unsupported media type: " + r.Header.Get("Content-Type")})
		return
	}
	if !h.verify(body, r.Header.Get("X-Hub-Signature-256")) {
		writeJSONStatus(w, http.StatusForbidden, map[string]string{"message": "invalid signature"})
		return
	}
	var status int
	var msg string
	switch ev := r.Header.Get("X-GitHub-Event"); ev {
	case "push":
		status, msg = h.push(r.Context(), body)
	case "repository":
		status, msg = h.repository(body)
	default:
		status = http.StatusAccepted
	}
	if status != http.StatusAccepted {
		writeJSONStatus(w, status, map[string]string{"message": msg})
		return
	}
	writeJSONStatus(w, http.StatusAccepted, map[string]string{"status": "accepted"})
}

// verify checks sha256=<hex HMAC of the body> against every secret, in
// constant time per secret.
func (h *webhook) verify(body []byte, sig string) bool {
	hexSig, ok := strings.CutPrefix(sig, "sha256=")
	if !ok {
		return false
	}
	want, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	for _, s := range h.o.Secrets {
		m := hmac.New(sha256.New, []byte(s))
		m.Write(body)
		if hmac.Equal(m.Sum(nil), want) {
			return true
		}
	}
	return false
}

// eventRepo is the repository object of push and repository payloads.
type eventRepo struct {
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	HTMLURL       string   `json:"html_url"`
	DefaultBranch string   `json:"default_branch"`
	Topics        []string `json:"topics"`
	Archived      bool     `json:"archived"`
	Fork          bool     `json:"fork"`
	Private       bool     `json:"private"`
	Visibility    string   `json:"visibility"`
	Owner         struct {
		Login string `json:"login"`
		Name  string `json:"name"`
	} `json:"owner"`
}

type pushEvent struct {
	Ref          string    `json:"ref"`
	Repository   eventRepo `json:"repository"`
	Organization *struct {
		Login string `json:"login"`
	} `json:"organization"`
	Commits []struct {
		Added    []string `json:"added"`
		Removed  []string `json:"removed"`
		Modified []string `json:"modified"`
	} `json:"commits"`
}

// org is the organisation (or owner) of the repository.
func (r eventRepo) org() string {
	if owner, _, ok := strings.Cut(r.FullName, "/"); ok {
		return owner
	}
	if r.Owner.Login != "" {
		return r.Owner.Login
	}
	return r.Owner.Name
}

func (r eventRepo) repo() repo {
	owner, name, ok := strings.Cut(r.FullName, "/")
	if !ok {
		owner, name = r.org(), r.Name
	}
	vis := r.Visibility
	if vis == "" {
		vis = "public"
		if r.Private {
			vis = "private"
		}
	}
	return repo{Owner: owner, Name: name, DefaultBranch: r.DefaultBranch, Topics: r.Topics,
		Archived: r.Archived, Fork: r.Fork, Visibility: vis}
}

// covers reports whether p discovers the repository of an event.
func (p *DiscoveryProvider) covers(host string, r eventRepo) bool {
	return strings.EqualFold(host, p.client.integ.Host) && strings.EqualFold(r.org(), p.cfg.Organization)
}

func (h *webhook) push(ctx context.Context, body []byte) (int, string) {
	var ev pushEvent
	if err := json.Unmarshal(body, &ev); err != nil {
		return http.StatusBadRequest, "invalid push payload: " + err.Error()
	}
	branch, ok := strings.CutPrefix(ev.Ref, "refs/heads/")
	if !ok || ev.Repository.HTMLURL == "" {
		return http.StatusAccepted, "" // tags and odd payloads concern no location
	}
	repoURL := strings.TrimSuffix(ev.Repository.HTMLURL, "/")
	u, err := url.Parse(repoURL)
	if err != nil || u.Host == "" {
		return http.StatusBadRequest, "invalid repository html_url"
	}
	var added, changed []string
	for _, c := range ev.Commits {
		added = append(added, c.Added...)
		changed = append(changed, c.Added...)
		changed = append(changed, c.Modified...)
		changed = append(changed, c.Removed...)
	}
	slices.Sort(changed)
	changed = slices.Compact(changed)
	var urls []string
	for _, p := range changed {
		urls = append(urls, repoURL+"/blob/"+branch+"/"+p, repoURL+"/tree/"+branch+"/"+p)
	}
	rp := ev.Repository.repo()
	for _, p := range h.o.Providers {
		if !p.covers(u.Host, ev.Repository) || !p.matches(rp) {
			continue
		}
		pb := p.cfg.Filters.Branch
		if pb == "" {
			pb = rp.DefaultBranch
		}
		if pb != branch {
			continue
		}
		pattern := strings.TrimPrefix(p.cfg.CatalogPath, "/")
		match := func(f string) bool { return glob.Match(pattern, f, searchGlob) }
		if glob.HasMeta(pattern) && slices.ContainsFunc(changed, match) {
			urls = append(urls, p.TargetURL(rp.Owner, rp.Name, rp.DefaultBranch))
		}
		if slices.ContainsFunc(added, match) && h.o.Trigger != nil {
			// A repository that had no catalog file may not be emitted yet
			// (validateLocationsExist), or may be new to the listing.
			h.o.Trigger(p.Name())
		}
	}
	if len(urls) == 0 || h.o.Refresher == nil {
		return http.StatusAccepted, ""
	}
	slices.Sort(urls)
	urls = slices.Compact(urls)
	if err := h.o.Refresher.RefreshLocations(ctx, urls); err != nil {
		// A failed answer lets GitHub (or an operator) redeliver.
		h.o.Logger.ErrorContext(ctx, "github push: refresh failed", "repository", ev.Repository.FullName, "error", err)
		return http.StatusInternalServerError, fmt.Sprintf("refresh failed: %v", err)
	}
	h.o.Logger.InfoContext(ctx, fmt.Sprintf("Processed Github push event for %s: %d files changed, %d location urls refreshed",
		ev.Repository.FullName, len(changed), len(urls)))
	return http.StatusAccepted, ""
}

// repository events change what a discovery run finds; the run itself
// decides, with the conditional listing, what to emit or drop.
func (h *webhook) repository(body []byte) (int, string) {
	var ev struct {
		Action     string    `json:"action"`
		Repository eventRepo `json:"repository"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return http.StatusBadRequest, "invalid repository payload: " + err.Error()
	}
	u, err := url.Parse(ev.Repository.HTMLURL)
	if err != nil || h.o.Trigger == nil {
		return http.StatusAccepted, ""
	}
	for _, p := range h.o.Providers {
		if p.covers(u.Host, ev.Repository) {
			h.o.Trigger(p.Name())
		}
	}
	return http.StatusAccepted, ""
}
