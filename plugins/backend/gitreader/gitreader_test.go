package gitreader_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/gitreader"
)

// repo is a real git repository in a temp dir, written through go-git.
type repo struct {
	t   *testing.T
	dir string
	g   *git.Repository
}

func newRepo(t *testing.T, root string) *repo {
	t.Helper()
	dir := filepath.Join(root, "repo")
	g, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return &repo{t: t, dir: dir, g: g}
}

// commit writes files (nil content deletes) and commits on the current branch.
func (r *repo) commit(files map[string]*string) {
	r.t.Helper()
	wt, err := r.g.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for p, c := range files {
		full := filepath.Join(r.dir, filepath.FromSlash(p))
		if c == nil {
			if _, err := wt.Remove(p); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(*c), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(p); err != nil {
			r.t.Fatal(err)
		}
	}
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	if _, err := wt.Commit("change", &git.CommitOptions{Author: sig, Committer: sig}); err != nil {
		r.t.Fatal(err)
	}
}

func (r *repo) branch(name string) {
	r.t.Helper()
	head, err := r.g.Head()
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.g.Storer.SetReference(plumbing.NewHashReference(plumbing.NewBranchReferenceName(name), head.Hash())); err != nil {
		r.t.Fatal(err)
	}
}

func s(v string) *string { return &v }

func TestLocalRepository(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	r := newRepo(t, root)
	r.commit(map[string]*string{
		"catalog-info.yaml":            s("name: root\n"),
		"services/a/catalog-info.yaml": s("name: a\n"),
		"services/a/README.md":         s("a"),
		"docs/x.md":                    s("x"),
	})
	r.branch("v1")
	rd := gitreader.New(gitreader.Config{LocalRoots: []string{root}})
	ctx := context.Background()
	base := "file://" + filepath.ToSlash(r.dir)

	tests := []struct {
		name string
		url  string
		want string
		kind *backend.Kind
	}{
		{name: "HEAD implicit", url: base + "#catalog-info.yaml", want: "name: root\n"},
		{name: "branch", url: base + "#v1:services/a/catalog-info.yaml", want: "name: a\n"},
		{name: "git+file", url: "git+" + base + "#master:docs/x.md", want: "x"},
		{name: "missing file", url: base + "#nope.yaml", kind: backend.ErrNotFound},
		{name: "missing ref", url: base + "#gone:catalog-info.yaml", kind: backend.ErrNotFound},
		{name: "traversal", url: base + "#../../etc/passwd", kind: backend.ErrNotAllowed},
		{name: "outside roots", url: "file:///etc#passwd", kind: backend.ErrNotAllowed},
		{name: "root escape by dots", url: base + "/../../..#x", kind: backend.ErrNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := rd.ReadURL(ctx, tc.url, catalog.ReadOptions{})
			if tc.kind != nil {
				if backend.KindOf(err) != tc.kind {
					t.Fatalf("err = %v, want %s", err, tc.kind.Name)
				}
				return
			}
			if err != nil || string(res.Data) != tc.want || res.ETag == "" {
				t.Fatalf("read = %q %q %v", res.Data, res.ETag, err)
			}
		})
	}

	// ETags follow content, not commits.
	u := base + "#services/a/catalog-info.yaml"
	first, err := rd.ReadURL(ctx, u, catalog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	search, err := rd.Search(ctx, base+"#**/catalog-info.yaml", catalog.ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, f := range search.Files {
		urls = append(urls, f.URL)
	}
	if !slices.Equal(urls, []string{base + "#catalog-info.yaml", base + "#services/a/catalog-info.yaml"}) {
		t.Fatalf("search urls = %v", urls)
	}
	tree, err := rd.ReadTree(ctx, base+"#services", catalog.ReadOptions{})
	if err != nil || len(tree.Files) != 2 || tree.Files[0].Path != "a/README.md" {
		t.Fatalf("tree = %+v, %v", tree, err)
	}

	r.commit(map[string]*string{"docs/x.md": s("changed")})
	if _, err := rd.ReadURL(ctx, u, catalog.ReadOptions{ETag: first.ETag}); !errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("untouched file after a commit: %v", err)
	}
	if _, err := rd.ReadTree(ctx, base+"#services", catalog.ReadOptions{ETag: tree.ETag}); !errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("untouched tree after a commit: %v", err)
	}
	if _, err := rd.Search(ctx, base+"#**/catalog-info.yaml", catalog.ReadOptions{ETag: search.ETag}); err != nil {
		t.Fatalf("search after a commit: %v", err)
	}
	r.commit(map[string]*string{"services/a/catalog-info.yaml": s("name: a2\n")})
	res, err := rd.ReadURL(ctx, u, catalog.ReadOptions{ETag: first.ETag})
	if err != nil || string(res.Data) != "name: a2\n" {
		t.Fatalf("changed file = %q, %v", res.Data, err)
	}
	r.commit(map[string]*string{"services/a/catalog-info.yaml": nil})
	if _, err := rd.ReadURL(ctx, u, catalog.ReadOptions{}); backend.KindOf(err) != backend.ErrNotFound {
		t.Fatalf("deleted file: %v", err)
	}
}

func TestClaims(t *testing.T) {
	t.Parallel()
	rd := gitreader.New(gitreader.Config{LocalRoots: []string{"/srv/git"},
		Remotes: []gitreader.Remote{{Host: "git.example.com"}, {Host: "plain.example.com", Insecure: true}}})
	tests := []struct {
		url  string
		want bool
	}{
		{"file:///srv/git/a.git#x.yaml", true},
		{"file:///srv/gitx/a.git#x.yaml", false},
		{"file:///srv/git/../etc#x", false},
		{"file://otherhost/srv/git/a.git#x", false},
		{"git+https://git.example.com/t/r.git#main:c.yaml", true},
		{"https://git.example.com/t/r.git#main:c.yaml", true},
		{"https://git.example.com/t/r.git", false}, // no fragment: not a git URL
		{"http://git.example.com/t/r.git#c.yaml", false},
		{"http://plain.example.com/t/r.git#c.yaml", true},
		{"https://user:pw@git.example.com/t/r.git#c.yaml", false},
		{"https://other.example.com/t/r.git#c.yaml", false},
		{"git+ssh://git.example.com/t/r.git#c.yaml", false},
		{"https://git.example.com/t/r.git#--upload-pack=x:c", false},
	}
	for _, tc := range tests {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := rd.Claims(u); got != tc.want {
			t.Errorf("Claims(%s) = %v, want %v", tc.url, got, tc.want)
		}
	}
}

func TestReadConfig(t *testing.T) {
	t.Parallel()
	cfg := config.FromValue(map[string]any{"integrations": map[string]any{"git": []any{
		map[string]any{"host": "Git.Example.com", "token": "tk"},
		map[string]any{"localPath": "/srv/git/"},
	}}}, "/etc/app-config.yaml")
	got, err := gitreader.ReadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Remotes) != 1 || got.Remotes[0] != (gitreader.Remote{Host: "git.example.com", Password: "tk"}) ||
		!slices.Equal(got.LocalRoots, []string{"/srv/git"}) {
		t.Fatalf("config = %+v", got)
	}
	bad := config.FromValue(map[string]any{"integrations": map[string]any{"git": []any{
		map[string]any{"host": "a", "localPath": "/b"}}}}, "x.yaml")
	if _, err := gitreader.ReadConfig(bad); err == nil {
		t.Fatal("host and localPath together accepted")
	}
}

// TestRemoteRepository clones over smart HTTP served by git's own
// http-backend, then fetches again after a new commit.
func TestRemoteRepository(t *testing.T) {
	t.Parallel()
	gitBin, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git binary not installed; the http-backend server needs it")
	}
	root := t.TempDir()
	r := newRepo(t, root)
	r.commit(map[string]*string{"catalog-info.yaml": s("name: one\n"), "sub/catalog-info.yaml": s("name: sub\n")})
	srv := httptest.NewServer(&cgi.Handler{Path: gitBin, Args: []string{"http-backend"},
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}})
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	rd := gitreader.New(gitreader.Config{CacheDir: t.TempDir(), Remotes: []gitreader.Remote{{Host: host, Insecure: true}}})
	ctx := context.Background()
	u := srv.URL + "/repo#master:catalog-info.yaml"
	first, err := rd.ReadURL(ctx, u, catalog.ReadOptions{})
	if err != nil || string(first.Data) != "name: one\n" {
		t.Fatalf("read = %q, %v", first.Data, err)
	}
	if _, err := rd.ReadURL(ctx, u, catalog.ReadOptions{ETag: first.ETag}); !errors.Is(err, backend.ErrNotModified) {
		t.Fatalf("repeat: %v", err)
	}
	r.commit(map[string]*string{"catalog-info.yaml": s("name: two\n")})
	res, err := rd.ReadURL(ctx, u, catalog.ReadOptions{ETag: first.ETag})
	if err != nil || string(res.Data) != "name: two\n" {
		t.Fatalf("after push = %q, %v", res.Data, err)
	}
	// The frontend's import page may add ?path=...: it is not part of the
	// repository's address.
	if withQuery, err := rd.ReadURL(ctx, srv.URL+"/repo?path=catalog-info.yaml#master:catalog-info.yaml", catalog.ReadOptions{}); err != nil || !bytes.Equal(withQuery.Data, res.Data) {
		t.Errorf("read with a query string: %v", err)
	}
	found, err := rd.Search(ctx, srv.URL+"/repo#**/catalog-info.yaml", catalog.ReadOptions{})
	if err != nil || len(found.Files) != 2 {
		t.Fatalf("search over HEAD = %+v, %v", found, err)
	}
	if _, err := rd.ReadURL(ctx, srv.URL+"/repo#nobranch:catalog-info.yaml", catalog.ReadOptions{}); backend.KindOf(err) != backend.ErrNotFound {
		t.Fatalf("missing branch: %v", err)
	}
	_ = http.StatusOK
}
