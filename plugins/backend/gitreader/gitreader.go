// Package gitreader reads plain git repositories (any host, or a local
// directory) as a catalog.URLReader, through go-git: something Backstage
// can only do with a provider-specific integration.
//
// URL form: the repository URL, then a fragment naming ref and path:
//
//	git+https://git.example.com/team/repo.git#main:catalog-info.yaml
//	https://git.example.com/team/repo.git#v1.2:services/**/catalog-info.yaml
//	file:///srv/git/repo.git#main:catalog-info.yaml
//	git+file:///srv/git/repo.git#catalog-info.yaml          (no ref: HEAD)
//
// The fragment is [<ref>:]<path>; ref is a branch, tag, commit or HEAD (the
// default), path is relative to the repository root (empty for the root in
// ReadTree) and may hold globs for Search. The git+ prefix is optional and
// makes a URL unambiguous where another reader also claims its host.
//
// What may be read is configured under integrations.git: entries with host
// (plus optional username and password/token) admit remote repositories on
// that host over https (or http when insecure: true); entries with
// localPath admit repositories under that directory. Nothing else is claimed.
//
// Local repositories are opened in place. Remote ones are cloned shallowly
// (depth 1, the one ref) into a cache directory and fetched again on every
// read. ETags are git object ids: the blob for ReadURL, the directory's tree
// for ReadTree and the root tree for Search, so a commit that does not touch
// what was read reports not modified.
package gitreader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/glob"
)

// Remote admits repositories on one host.
type Remote struct {
	Host     string // host[:port]
	Username string // default "git" when Password is set
	Password string // password or token
	Insecure bool   // allow http:// as well as https://
}

// Config configures a Reader.
type Config struct {
	Remotes []Remote
	// LocalRoots are directories under which local repositories may be read.
	LocalRoots []string
	// CacheDir holds clones of remote repositories. Default
	// <os.TempDir()>/understage-git.
	CacheDir string
	Logger   *slog.Logger
}

// ReadConfig reads integrations.git from the root config.
func ReadConfig(cfg *config.Config) (Config, error) {
	list, _, err := cfg.ReadList("integrations.git")
	if err != nil {
		return Config{}, err
	}
	var out Config
	for _, c := range list {
		host, hasHost, err := c.ReadString("host")
		if err != nil {
			return Config{}, err
		}
		local, hasLocal, err := c.ReadString("localPath")
		if err != nil {
			return Config{}, err
		}
		switch {
		case hasHost == hasLocal:
			return Config{}, fmt.Errorf("each integrations.git entry needs exactly one of host and localPath")
		case hasLocal:
			if !filepath.IsAbs(local) {
				local = filepath.Join(c.BaseDir(), local)
			}
			out.LocalRoots = append(out.LocalRoots, filepath.Clean(local))
		default:
			if strings.ContainsAny(host, "/@ *") {
				return Config{}, fmt.Errorf("invalid integrations.git host '%s'", host)
			}
			insecure, _, err := c.ReadBool("insecure")
			if err != nil {
				return Config{}, err
			}
			out.Remotes = append(out.Remotes, Remote{Host: strings.ToLower(host), Username: c.OptionalString("username"),
				Password: firstNonEmpty(c.OptionalString("password"), c.OptionalString("token")), Insecure: insecure})
		}
	}
	return out, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Reader reads git URLs.
type Reader struct {
	cfg   Config
	mu    sync.Mutex
	locks map[string]*sync.Mutex // cache dir → lock, so one clone is not fetched twice at once
}

// New returns a reader; it does no I/O.
func New(cfg Config) *Reader {
	if cfg.CacheDir == "" {
		cfg.CacheDir = filepath.Join(os.TempDir(), "understage-git")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Reader{cfg: cfg, locks: map[string]*sync.Mutex{}}
}

// target is a parsed git URL.
type target struct {
	repoURL string // without git+ and fragment
	local   string // local directory, for file URLs
	remote  *Remote
	ref     string // "" = HEAD
	path    string
}

// Claims reports whether u is a git URL this reader may read.
func (r *Reader) Claims(u *url.URL) bool {
	_, err := r.parse(u)
	return err == nil
}

func (r *Reader) parse(u *url.URL) (target, error) {
	scheme, explicit := strings.CutPrefix(u.Scheme, "git+")
	frag := u.Fragment
	if !explicit && frag == "" && scheme != "file" {
		return target{}, errors.New("not a git URL")
	}
	var t target
	if ref, p, ok := strings.Cut(frag, ":"); ok {
		t.ref, t.path = ref, p
	} else {
		t.path = frag
	}
	t.path = strings.Trim(t.path, "/")
	if t.path != "" && path.Clean(t.path) != t.path || strings.HasPrefix(t.path, "../") || t.path == ".." {
		return target{}, errors.New("path escapes the repository")
	}
	if strings.HasPrefix(t.ref, "-") || strings.Contains(t.ref, "..") {
		return target{}, errors.New("invalid ref")
	}
	repo := *u
	// The query is not part of the repository's address (the frontend's
	// import page adds ?path=...), and git would append /info/refs after it.
	repo.Scheme, repo.Fragment, repo.RawFragment, repo.RawQuery = scheme, "", "", ""
	t.repoURL = repo.String()
	switch scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return target{}, errors.New("file URL with a host")
		}
		dir := filepath.Clean(filepath.FromSlash(u.Path))
		for _, root := range r.cfg.LocalRoots {
			if rel, err := filepath.Rel(root, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.local = dir
				return t, nil
			}
		}
		return target{}, errors.New("not under a configured localPath")
	case "https", "http":
		for i := range r.cfg.Remotes {
			rm := &r.cfg.Remotes[i]
			if strings.EqualFold(u.Host, rm.Host) && (scheme == "https" || rm.Insecure) && u.User == nil {
				t.remote = rm
				return t, nil
			}
		}
		return target{}, errors.New("host not configured")
	}
	return target{}, errors.New("unsupported scheme")
}

func (r *Reader) target(raw string) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, catalog.NotAllowedURL(raw)
	}
	t, err := r.parse(u)
	if err != nil {
		return target{}, catalog.NotAllowedURL(raw)
	}
	return t, nil
}

// open returns the repository and the root tree of the target's ref.
func (r *Reader) open(ctx context.Context, t target, raw string) (*object.Tree, error) {
	var repo *git.Repository
	var err error
	if t.local != "" {
		repo, err = git.PlainOpen(t.local)
		if err != nil {
			return nil, backend.NotFound("%s is not a git repository", raw)
		}
	} else if repo, err = r.sync(ctx, t); err != nil {
		return nil, err
	}
	rev := t.ref
	if rev == "" {
		rev = "HEAD"
	}
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, backend.NotFound("%s: ref %s not found", raw, rev)
	}
	commit, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("%s: commit %s: %w", raw, h, err)
	}
	return commit.Tree()
}

// sync clones or fetches the target's ref into the cache.
func (r *Reader) sync(ctx context.Context, t target) (*git.Repository, error) {
	sum := sha256.Sum256([]byte(t.repoURL + "\x00" + t.ref))
	dir := filepath.Join(r.cfg.CacheDir, hex.EncodeToString(sum[:12]))
	r.mu.Lock()
	l := r.locks[dir]
	if l == nil {
		l = &sync.Mutex{}
		r.locks[dir] = l
	}
	r.mu.Unlock()
	l.Lock()
	defer l.Unlock()

	var auth *githttp.BasicAuth
	if t.remote.Password != "" {
		auth = &githttp.BasicAuth{Username: firstNonEmpty(t.remote.Username, "git"), Password: t.remote.Password}
	}
	authMethod := transportAuth(auth)
	repo, err := git.PlainOpen(dir)
	if err == nil {
		// Fetch straight into the ref the clone resolves (a bare clone has
		// no remote-tracking refs): the branch HEAD points to, the tag, or
		// the branch named by the URL.
		name := plumbing.NewBranchReferenceName(t.ref)
		if t.ref == "" {
			if head, err := repo.Storer.Reference(plumbing.HEAD); err == nil && head.Type() == plumbing.SymbolicReference {
				name = head.Target()
			}
		} else if _, err := repo.Reference(plumbing.NewTagReferenceName(t.ref), false); err == nil {
			name = plumbing.NewTagReferenceName(t.ref)
		}
		spec := gitconfig.RefSpec(fmt.Sprintf("+%[1]s:%[1]s", name))
		err = repo.FetchContext(ctx, &git.FetchOptions{RefSpecs: []gitconfig.RefSpec{spec}, Depth: 1, Auth: authMethod,
			Tags: git.NoTags, Force: true})
		if err == nil || errors.Is(err, git.NoErrAlreadyUpToDate) {
			return repo, nil
		}
		r.cfg.Logger.Warn("git fetch failed, cloning again", "url", t.repoURL, "err", err)
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	opts := &git.CloneOptions{URL: t.repoURL, Depth: 1, SingleBranch: true, Tags: git.NoTags, Auth: authMethod}
	if t.ref != "" {
		opts.ReferenceName = plumbing.NewBranchReferenceName(t.ref)
	}
	repo, err = git.PlainCloneContext(ctx, dir, true, opts)
	if err != nil && t.ref != "" {
		// Not a branch: a tag, then.
		_ = os.RemoveAll(dir)
		opts.ReferenceName = plumbing.NewTagReferenceName(t.ref)
		repo, err = git.PlainCloneContext(ctx, dir, true, opts)
	}
	if err != nil {
		_ = os.RemoveAll(dir)
		var noRef git.NoMatchingRefSpecError
		if errors.As(err, &noRef) || errors.Is(err, plumbing.ErrReferenceNotFound) {
			return nil, &backend.Error{Kind: backend.ErrNotFound, Message: fmt.Sprintf("%s: ref %s not found", t.repoURL, t.ref), Cause: err}
		}
		return nil, fmt.Errorf("clone %s: %w", t.repoURL, err)
	}
	if t.ref != "" {
		// Make the ref resolvable under its short name in the bare clone.
		if ref, err := repo.Head(); err == nil {
			_ = repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(t.ref), ref.Hash()))
		}
	}
	return repo, nil
}

// ReadURL reads one file; its ETag is the blob id.
func (r *Reader) ReadURL(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.ReadResult, error) {
	t, err := r.target(raw)
	if err != nil {
		return catalog.ReadResult{}, err
	}
	tree, err := r.open(ctx, t, raw)
	if err != nil {
		return catalog.ReadResult{}, err
	}
	f, err := tree.File(t.path)
	if err != nil {
		return catalog.ReadResult{}, backend.NotFound("%s does not exist", raw)
	}
	if o.ETag != "" && o.ETag == f.Hash.String() {
		return catalog.ReadResult{}, fmt.Errorf("%s: %w", raw, backend.ErrNotModified)
	}
	data, err := fileBytes(f)
	if err != nil {
		return catalog.ReadResult{}, fmt.Errorf("read %s: %w", raw, err)
	}
	return catalog.ReadResult{Data: data, ETag: f.Hash.String()}, nil
}

func fileBytes(f *object.File) ([]byte, error) {
	rd, err := f.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// ReadTree reads every file under the URL's directory; its ETag is the
// directory's tree id.
func (r *Reader) ReadTree(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.Tree, error) {
	t, err := r.target(raw)
	if err != nil {
		return catalog.Tree{}, err
	}
	tree, err := r.open(ctx, t, raw)
	if err != nil {
		return catalog.Tree{}, err
	}
	if t.path != "" {
		if tree, err = tree.Tree(t.path); err != nil {
			return catalog.Tree{}, backend.NotFound("%s is not a directory", raw)
		}
	}
	if o.ETag != "" && o.ETag == tree.Hash.String() {
		return catalog.Tree{}, fmt.Errorf("%s: %w", raw, backend.ErrNotModified)
	}
	out := catalog.Tree{ETag: tree.Hash.String()}
	err = tree.Files().ForEach(func(f *object.File) error {
		data, err := fileBytes(f)
		if err != nil {
			return err
		}
		out.Files = append(out.Files, catalog.TreeFile{Path: f.Name, Data: data})
		return nil
	})
	if err != nil {
		return catalog.Tree{}, fmt.Errorf("read tree %s: %w", raw, err)
	}
	return out, nil
}

// Search reads the files matching the path glob; its ETag is the root tree id.
func (r *Reader) Search(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.SearchResult, error) {
	t, err := r.target(raw)
	if err != nil {
		return catalog.SearchResult{}, err
	}
	tree, err := r.open(ctx, t, raw)
	if err != nil {
		return catalog.SearchResult{}, err
	}
	if o.ETag != "" && o.ETag == tree.Hash.String() {
		return catalog.SearchResult{}, fmt.Errorf("%s: %w", raw, backend.ErrNotModified)
	}
	out := catalog.SearchResult{Files: []catalog.SearchFile{}, ETag: tree.Hash.String()}
	base, _, _ := strings.Cut(raw, "#")
	// Segment globs, "*" taking dotfiles, as the other readers match.
	pat, err := glob.Compile(t.path, glob.Options{Dot: true})
	if err != nil {
		return catalog.SearchResult{}, backend.Input("%v", err)
	}
	err = tree.Files().ForEach(func(f *object.File) error {
		if !pat.Match(f.Name) {
			return nil
		}
		data, err := fileBytes(f)
		if err != nil {
			return err
		}
		frag := f.Name
		if t.ref != "" {
			frag = t.ref + ":" + f.Name
		}
		out.Files = append(out.Files, catalog.SearchFile{URL: base + "#" + frag, Data: data})
		return nil
	})
	if err != nil {
		return catalog.SearchResult{}, fmt.Errorf("search %s: %w", raw, err)
	}
	return out, nil
}

var _ catalog.URLReader = (*Reader)(nil)

// transportAuth keeps a nil *BasicAuth from becoming a non-nil interface.
func transportAuth(a *githttp.BasicAuth) transport.AuthMethod {
	if a == nil {
		return nil
	}
	return a
}
