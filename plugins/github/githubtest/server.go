// Package githubtest is a local HTTP server that answers GitHub's REST API
// well enough for go-github: repositories with their files (contents, git
// trees, blobs, branches, commits), organisation repository listings with
// pagination and Link headers, members, teams with members and parents,
// entity tags with 304 answers to If-None-Match, and X-RateLimit headers.
//
// Every request is logged (method, path, status, whether it was conditional)
// so that tests can assert how a client talks to GitHub, e.g. that a second
// pass over unchanged data only makes conditional requests answered 304.
// Failures can be injected per path, and the rate limit can be exhausted.
//
// The server answers both at the root (github.com's api.github.com layout)
// and under /api/v3 (GitHub Enterprise's layout).
package githubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Repo is one repository. Files holds the default branch; Branches holds
// any other branch (name → files).
type Repo struct {
	Owner, Name   string
	DefaultBranch string // default "main"
	Topics        []string
	Archived      bool
	Fork          bool
	Private       bool
	Files         map[string]string
	Branches      map[string]map[string]string

	// Set by the write API (write.go); tests read them after a run.
	Description, Homepage string
	Visibility            string            // public, private or internal; "" means by Private
	Created               map[string]any    // the body of the creating POST
	Collaborators         map[string]string // login → permission
	TeamAccess            map[string]string // team slug → permission
	Protection            map[string]any    // branch → body of the protection PUT
	Variables             map[string]string
	Secrets               map[string]string // name → decrypted value
	Hooks                 []map[string]any
	Dispatches            []Dispatch
	Pulls                 []*Pull
}

// Team is one team of an organisation.
type Team struct {
	Slug        string
	Name        string
	Description string
	Parent      string // slug of the parent team, if any
	Members     []string
}

// User is one user account.
type User struct {
	Login string
	Name  string
	Email string
	Bio   string
}

// Request is one logged request.
type Request struct {
	Method      string
	Path        string // without the /api/v3 prefix
	Query       string
	Status      int
	Conditional bool // it carried If-None-Match
	Auth        string
	Body        []byte // the request body (writes)
}

// Server is the fake GitHub. Its zero value is not usable: call New.
type Server struct {
	*httptest.Server
	// Token, when set, must be presented as a bearer or token authorization.
	Token string

	mu        sync.Mutex
	repos     map[string]*Repo // "owner/name"
	orgs      map[string]bool
	members   map[string][]string // org → logins
	teams     map[string][]*Team  // org → teams
	users     map[string]*User
	log       []Request
	failures  map[string]*failure
	limitLeft int // requests still refused with an exhausted primary limit
	limitIn   time.Duration
	secLeft   int // requests still refused with a secondary limit
	secAfter  int
	remaining int
	objects   map[string][]byte // blob sha → content, for every served version

	// Write API state (write.go).
	Login     string                // the authenticated user; default "octocat"
	commits   map[string]*apiCommit // commits made through git/commits or pushed
	trees     map[string]map[string]string
	heads     map[string]string // "owner/name\x00branch" → commit sha, once written
	gitRoot   string            // bare repositories for git smart HTTP, when ServeGit was called
	secretKey *[32]byte
	secretPub *[32]byte
}

type failure struct {
	status int
	times  int // -1 = forever
}

// RateLimit is the X-RateLimit-Limit the server reports.
const RateLimit = 5000

// New starts a server; it is closed when the test ends.
func New(t interface {
	Helper()
	Cleanup(func())
}) *Server {
	t.Helper()
	s := &Server{
		repos:     map[string]*Repo{},
		orgs:      map[string]bool{},
		members:   map[string][]string{},
		teams:     map[string][]*Team{},
		users:     map[string]*User{},
		failures:  map[string]*failure{},
		objects:   map[string][]byte{},
		remaining: RateLimit,
		Login:     "octocat",
		commits:   map[string]*apiCommit{},
		trees:     map[string]map[string]string{},
		heads:     map[string]string{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL to configure as apiBaseUrl (github.com layout).
func (s *Server) APIURL() string { return s.URL }

// EnterpriseAPIURL is the base URL in GitHub Enterprise's layout.
func (s *Server) EnterpriseAPIURL() string { return s.URL + "/api/v3" }

// AddRepo adds or replaces a repository; its owner becomes an organisation.
func (s *Server) AddRepo(r Repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.DefaultBranch == "" {
		r.DefaultBranch = "main"
	}
	if r.Files == nil {
		r.Files = map[string]string{}
	}
	s.repos[r.Owner+"/"+r.Name] = &r
	s.orgs[r.Owner] = true
	for _, c := range r.Files {
		s.remember(c)
	}
	for _, b := range r.Branches {
		for _, c := range b {
			s.remember(c)
		}
	}
}

// AddRepoFromDir adds a repository whose default branch holds the files of
// dir (a test folder).
func (s *Server) AddRepoFromDir(owner, name, dir string) error {
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	s.AddRepo(Repo{Owner: owner, Name: name, Files: files})
	return nil
}

// SetFile writes a file on a repository's default branch.
func (s *Server) SetFile(repo, p, content string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[repo].Files[p] = content
	s.remember(content)
}

// DeleteFile removes a file from a repository's default branch.
func (s *Server) DeleteFile(repo, p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.repos[repo].Files, p)
}

// AddUser adds a user account.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Login] = &u
}

// AddMember makes a user a member of an organisation (adding the user if new).
func (s *Server) AddMember(org, login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgs[org] = true
	if s.users[login] == nil {
		s.users[login] = &User{Login: login}
	}
	s.members[org] = append(s.members[org], login)
}

// AddTeam adds a team to an organisation.
func (s *Server) AddTeam(org string, t Team) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgs[org] = true
	if t.Name == "" {
		t.Name = t.Slug
	}
	s.teams[org] = append(s.teams[org], &t)
}

// Fail makes requests whose path (without /api/v3) starts with prefix
// answer status, times times (a negative times means until ClearFailures).
func (s *Server) Fail(prefix string, status, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[prefix] = &failure{status: status, times: times}
}

// ClearFailures removes every injected failure.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = map[string]*failure{}
}

// ExhaustRateLimit makes the next n requests fail as GitHub does when the
// primary rate limit is used up: 403, X-RateLimit-Remaining 0 and a reset
// resetIn from now.
func (s *Server) ExhaustRateLimit(n int, resetIn time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.limitLeft, s.limitIn = n, resetIn
}

// SecondaryRateLimit makes the next n requests fail with GitHub's secondary
// rate limit answer (403 with Retry-After).
func (s *Server) SecondaryRateLimit(n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secLeft, s.secAfter = n, retryAfterSeconds
}

// Requests returns a copy of the request log.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// ResetLog empties the request log.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = nil
}

// Count counts logged requests that match.
func (s *Server) Count(match func(Request) bool) int {
	n := 0
	for _, r := range s.Requests() {
		if match(r) {
			n++
		}
	}
	return n
}

// errBody is GitHub's error document.
type errBody struct {
	Message          string `json:"message"`
	DocumentationURL string `json:"documentation_url,omitempty"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/api/v3")
	if p == "" {
		p = "/"
	}
	if strings.HasPrefix(p, "/git/") {
		s.serveGit(w, r, p)
		return
	}
	body := readBody(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := Request{Method: r.Method, Path: p, Query: r.URL.RawQuery,
		Conditional: r.Header.Get("If-None-Match") != "", Auth: r.Header.Get("Authorization"), Body: body}
	status := s.handle(w, r, p)
	rec.Status = status
	s.log = append(s.log, rec)
}

// handle answers one request with s.mu held and returns the status sent.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, p string) int {
	h := w.Header()
	reset := time.Now().Add(time.Hour)
	if s.Token != "" {
		auth := r.Header.Get("Authorization")
		if auth != "Bearer "+s.Token && auth != "token "+s.Token {
			return writeJSON(w, http.StatusUnauthorized, errBody{Message: "Bad credentials"})
		}
	}
	for prefix, f := range s.failures {
		if strings.HasPrefix(p, prefix) && f.times != 0 {
			if f.times > 0 {
				f.times--
			}
			return writeJSON(w, f.status, errBody{Message: http.StatusText(f.status)})
		}
	}
	if s.limitLeft > 0 {
		s.limitLeft--
		s.rateHeaders(h, 0, time.Now().Add(s.limitIn))
		return writeJSON(w, http.StatusForbidden, errBody{
			Message:          "API rate limit exceeded for user ID 1.",
			DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
		})
	}
	if s.secLeft > 0 {
		s.secLeft--
		s.rateHeaders(h, s.remaining, reset)
		h.Set("Retry-After", strconv.Itoa(s.secAfter))
		return writeJSON(w, http.StatusForbidden, errBody{
			Message:          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
			DocumentationURL: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
		})
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		status, body := s.routeWrite(r, p)
		s.use()
		s.rateHeaders(h, s.remaining, reset)
		if status == http.StatusNoContent {
			w.WriteHeader(status)
			return status
		}
		return writeJSON(w, status, body)
	}
	status, body, raw := s.routeRead(r, p)
	if status != http.StatusOK {
		s.use()
		s.rateHeaders(h, s.remaining, reset)
		return writeJSON(w, status, body)
	}
	var data []byte
	if raw != nil {
		data = raw
		h.Set("Content-Type", "application/vnd.github.raw")
	} else {
		data, _ = json.Marshal(body)
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	if link := pageLinks(r, body); link != "" {
		h.Set("Link", link)
	}
	sum := sha256.Sum256(data)
	etag := `W/"` + hex.EncodeToString(sum[:16]) + `"`
	h.Set("ETag", etag)
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		// GitHub does not count conditional requests answered 304.
		s.rateHeaders(h, s.remaining, reset)
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	s.use()
	s.rateHeaders(h, s.remaining, reset)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
	return http.StatusOK
}

func (s *Server) use() {
	if s.remaining > 0 {
		s.remaining--
	}
}

func (s *Server) rateHeaders(h http.Header, remaining int, reset time.Time) {
	h.Set("X-RateLimit-Limit", strconv.Itoa(RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Used", strconv.Itoa(RateLimit-remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
}

func etagMatch(header, etag string) bool {
	weak := func(s string) string { return strings.TrimPrefix(strings.TrimSpace(s), "W/") }
	for _, c := range strings.Split(header, ",") {
		if weak(c) == weak(etag) || strings.TrimSpace(c) == "*" {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) int {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	return status
}

var notFound = errBody{Message: "Not Found", DocumentationURL: "https://docs.github.com/rest"}

// paged is a listing body that route hands back whole; handle cuts the page.
type paged struct {
	items []any
	page  []any
	total int
	per   int
	cur   int
}

// route finds the answer to a GET: (200, JSON value, nil), (200, nil, raw
// bytes) or (error status, errBody, nil).
func (s *Server) route(r *http.Request, p string) (int, any, []byte) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case len(seg) >= 3 && seg[0] == "repos":
		return s.routeRepo(r, seg[1]+"/"+seg[2], seg[3:])
	case len(seg) == 3 && seg[0] == "orgs" && seg[2] == "repos":
		if !s.orgs[seg[1]] {
			return http.StatusNotFound, notFound, nil
		}
		var all []any
		for _, k := range sortedKeys(s.repos) {
			if rp := s.repos[k]; rp.Owner == seg[1] {
				all = append(all, s.repoJSON(rp))
			}
		}
		return s.page(r, all)
	case len(seg) == 2 && seg[0] == "orgs":
		if !s.orgs[seg[1]] {
			return http.StatusNotFound, notFound, nil
		}
		return http.StatusOK, map[string]any{"login": seg[1], "id": idOf(seg[1]), "type": "Organization"}, nil
	case len(seg) == 3 && seg[0] == "orgs" && seg[2] == "members":
		if !s.orgs[seg[1]] {
			return http.StatusNotFound, notFound, nil
		}
		var all []any
		for _, l := range s.members[seg[1]] {
			all = append(all, s.userJSON(l, false))
		}
		return s.page(r, all)
	case len(seg) == 3 && seg[0] == "orgs" && seg[2] == "teams":
		if !s.orgs[seg[1]] {
			return http.StatusNotFound, notFound, nil
		}
		var all []any
		for _, t := range s.teams[seg[1]] {
			all = append(all, s.teamJSON(seg[1], t))
		}
		return s.page(r, all)
	case len(seg) >= 4 && seg[0] == "orgs" && seg[2] == "teams":
		t := s.team(seg[1], seg[3])
		if t == nil {
			return http.StatusNotFound, notFound, nil
		}
		if len(seg) == 4 {
			return http.StatusOK, s.teamJSON(seg[1], t), nil
		}
		if len(seg) == 5 && seg[4] == "members" {
			var all []any
			for _, l := range t.Members {
				all = append(all, s.userJSON(l, false))
			}
			return s.page(r, all)
		}
	case len(seg) == 2 && seg[0] == "users":
		if s.users[seg[1]] == nil && s.orgs[seg[1]] {
			return http.StatusOK, map[string]any{"login": seg[1], "id": idOf(seg[1]), "type": "Organization"}, nil
		}
		if s.users[seg[1]] == nil {
			return http.StatusNotFound, notFound, nil
		}
		return http.StatusOK, s.userJSON(seg[1], true), nil
	}
	return http.StatusNotFound, notFound, nil
}

func (s *Server) team(org, slug string) *Team {
	for _, t := range s.teams[org] {
		if t.Slug == slug {
			return t
		}
	}
	return nil
}

// page cuts a listing by ?page and ?per_page (default 30, at most 100).
func (s *Server) page(r *http.Request, all []any) (int, any, []byte) {
	per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
	if per <= 0 {
		per = 30
	}
	per = min(per, 100)
	cur, _ := strconv.Atoi(r.URL.Query().Get("page"))
	cur = max(cur, 1)
	lo := min((cur-1)*per, len(all))
	hi := min(lo+per, len(all))
	items := all[lo:hi]
	if items == nil {
		items = []any{}
	}
	return http.StatusOK, &paged{items: all, page: items, total: len(all), per: per, cur: cur}, nil
}

// MarshalJSON writes only the current page.
func (p *paged) MarshalJSON() ([]byte, error) { return json.Marshal(p.page) }

// pageLinks builds GitHub's Link header for a paged body.
func pageLinks(r *http.Request, body any) string {
	p, ok := body.(*paged)
	if !ok {
		return ""
	}
	last := max((p.total+p.per-1)/p.per, 1)
	link := func(n int, rel string) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		q := u.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(p.per))
		u.RawQuery = q.Encode()
		return fmt.Sprintf(`<%s>; rel="%s"`, u.String(), rel)
	}
	var parts []string
	if p.cur < last {
		parts = append(parts, link(p.cur+1, "next"), link(last, "last"))
	}
	if p.cur > 1 {
		parts = append(parts, link(1, "first"), link(p.cur-1, "prev"))
	}
	return strings.Join(parts, ", ")
}

func idOf(s string) int64 {
	sum := sha1.Sum([]byte(s))
	var n int64
	for _, b := range sum[:6] {
		n = n<<8 | int64(b)
	}
	return n
}

func (s *Server) repoJSON(rp *Repo) map[string]any {
	full := rp.Owner + "/" + rp.Name
	topics := rp.Topics
	if topics == nil {
		topics = []string{}
	}
	vis := "public"
	if rp.Private {
		vis = "private"
	}
	if rp.Visibility != "" {
		vis = rp.Visibility
	}
	return map[string]any{
		"id": idOf(full), "name": rp.Name, "full_name": full,
		"owner":          map[string]any{"login": rp.Owner, "id": idOf(rp.Owner), "type": "Organization"},
		"html_url":       "https://github.com/" + full,
		"url":            "https://api.github.com/repos/" + full,
		"default_branch": rp.DefaultBranch, "topics": topics,
		"archived": rp.Archived, "fork": rp.Fork, "private": rp.Private, "visibility": vis,
		"clone_url":   s.cloneURL(full),
		"description": rp.Description, "homepage": rp.Homepage,
		"permissions": map[string]any{"admin": true, "push": true, "pull": true},
	}
}

func (s *Server) userJSON(login string, full bool) map[string]any {
	m := map[string]any{"login": login, "id": idOf(login), "type": "User",
		"avatar_url": "https://avatars.example.test/" + login}
	if u := s.users[login]; full && u != nil {
		m["name"], m["email"], m["bio"] = u.Name, u.Email, u.Bio
	}
	return m
}

func (s *Server) teamJSON(org string, t *Team) map[string]any {
	m := map[string]any{"id": idOf(org + "/" + t.Slug), "slug": t.Slug, "name": t.Name,
		"description": t.Description, "privacy": "closed",
		"html_url": "https://github.com/orgs/" + org + "/teams/" + t.Slug}
	if t.Parent != "" {
		if pt := s.team(org, t.Parent); pt != nil {
			m["parent"] = map[string]any{"id": idOf(org + "/" + pt.Slug), "slug": pt.Slug, "name": pt.Name}
		}
	}
	return m
}

// files returns the files of ref (a branch name, HEAD, or a commit sha the
// server produced).
func (rp *Repo) files(ref string) (map[string]string, bool) {
	if ref == "" || ref == "HEAD" || ref == rp.DefaultBranch || ref == commitSHA(rp.Files) {
		return rp.Files, true
	}
	if f, ok := rp.Branches[ref]; ok {
		return f, true
	}
	for _, f := range rp.Branches {
		if ref == commitSHA(f) {
			return f, true
		}
	}
	return nil, false
}

func (s *Server) routeRepo(r *http.Request, full string, rest []string) (int, any, []byte) {
	rp := s.repos[full]
	if rp == nil {
		return http.StatusNotFound, notFound, nil
	}
	if len(rest) == 0 {
		return http.StatusOK, s.repoJSON(rp), nil
	}
	switch rest[0] {
	case "contents":
		files, ok := rp.files(r.URL.Query().Get("ref"))
		if !ok {
			return http.StatusNotFound, errBody{Message: "No commit found for the ref " + r.URL.Query().Get("ref")}, nil
		}
		p := strings.Join(rest[1:], "/")
		if c, ok := files[p]; ok {
			s.remember(c)
			if strings.Contains(r.Header.Get("Accept"), "raw") {
				return http.StatusOK, nil, []byte(c)
			}
			return http.StatusOK, map[string]any{"type": "file", "encoding": "base64", "size": len(c),
				"name": path.Base(p), "path": p, "sha": blobSHA(c),
				"content": base64.StdEncoding.EncodeToString([]byte(c))}, nil
		}
		var entries []any
		seen := map[string]bool{}
		for _, f := range sortedKeys(files) {
			rel, ok := under(p, f)
			if !ok {
				continue
			}
			name, _, isDir := strings.Cut(rel, "/")
			if seen[name] {
				continue
			}
			seen[name] = true
			typ := "file"
			if isDir {
				typ = "dir"
			}
			entries = append(entries, map[string]any{"type": typ, "name": name, "path": path.Join(p, name)})
		}
		if entries == nil {
			return http.StatusNotFound, notFound, nil
		}
		return http.StatusOK, entries, nil
	case "branches", "commits":
		if len(rest) != 2 {
			break
		}
		files, sha, ok := s.resolve(rp, rest[1])
		if !ok {
			return http.StatusNotFound, errBody{Message: "Branch not found"}, nil
		}
		commit := map[string]any{"sha": sha,
			"commit": map[string]any{"tree": map[string]any{"sha": treeSHA(files, "")}}}
		if rest[0] == "commits" {
			return http.StatusOK, commit, nil
		}
		return http.StatusOK, map[string]any{"name": rest[1], "commit": commit}, nil
	case "git":
		if len(rest) == 3 && rest[1] == "trees" {
			return s.tree(r, rp, rest[2])
		}
		if len(rest) == 3 && rest[1] == "blobs" {
			c, ok := s.objects[rest[2]]
			if !ok {
				return http.StatusNotFound, notFound, nil
			}
			return http.StatusOK, map[string]any{"sha": rest[2], "size": len(c), "encoding": "base64",
				"content": base64.StdEncoding.EncodeToString(c)}, nil
		}
	}
	return http.StatusNotFound, notFound, nil
}

// tree answers git/trees/{ref or tree sha}; only ?recursive lists below the
// first level.
func (s *Server) tree(r *http.Request, rp *Repo, ref string) (int, any, []byte) {
	dir := ""
	fs, ok := rp.files(ref)
	if !ok {
		// A subtree sha from an earlier listing.
		for _, cand := range append([]map[string]string{rp.Files}, mapsValues(rp.Branches)...) {
			for _, d := range dirsOf(cand) {
				if treeSHA(cand, d) == ref {
					fs, dir, ok = cand, d, true
				}
			}
		}
	}
	if !ok {
		return http.StatusNotFound, notFound, nil
	}
	recursive := r.URL.Query().Get("recursive") != ""
	var entries []any
	seenDir := map[string]bool{}
	for _, f := range sortedKeys(fs) {
		rel, in := under(dir, f)
		if !in {
			continue
		}
		parts := strings.Split(rel, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if seenDir[d] || (!recursive && i > 1) {
				continue
			}
			seenDir[d] = true
			entries = append(entries, map[string]any{"path": d, "mode": "040000", "type": "tree",
				"sha": treeSHA(fs, path.Join(dir, d))})
		}
		if !recursive && len(parts) > 1 {
			continue
		}
		s.remember(fs[f])
		entries = append(entries, map[string]any{"path": rel, "mode": "100644", "type": "blob",
			"sha": blobSHA(fs[f]), "size": len(fs[f])})
	}
	sort.SliceStable(entries, func(i, j int) bool {
		return entries[i].(map[string]any)["path"].(string) < entries[j].(map[string]any)["path"].(string)
	})
	if entries == nil {
		entries = []any{}
	}
	return http.StatusOK, map[string]any{"sha": treeSHA(fs, dir), "tree": entries, "truncated": false}, nil
}

func (s *Server) remember(c string) { s.objects[blobSHA(c)] = []byte(c) }

func mapsValues(m map[string]map[string]string) []map[string]string {
	var out []map[string]string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// under reports whether f is below dir ("" = root) and its relative path.
func under(dir, f string) (string, bool) {
	if dir == "" {
		return f, true
	}
	rel, ok := strings.CutPrefix(f, dir+"/")
	return rel, ok
}

func dirsOf(files map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for f := range files {
		for d := path.Dir(f); d != "." && !seen[d]; d = path.Dir(d) {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// blobSHA is git's object id of a blob, so clients may treat it as one.
func blobSHA(c string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(c))
	h.Write([]byte(c))
	return hex.EncodeToString(h.Sum(nil))
}

// treeSHA is a content hash of the files under dir: it changes exactly when
// one of them does (not git's tree encoding, which clients never recompute).
func treeSHA(files map[string]string, dir string) string {
	h := sha1.New()
	fmt.Fprintf(h, "tree %s\x00", dir)
	for _, f := range sortedKeys(files) {
		if rel, ok := under(dir, f); ok {
			fmt.Fprintf(h, "%s\x00%s\n", rel, blobSHA(files[f]))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func commitSHA(files map[string]string) string {
	h := sha1.New()
	fmt.Fprintf(h, "commit %s", treeSHA(files, ""))
	return hex.EncodeToString(h.Sum(nil))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
