package github

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/glob"
)

// Reader reads GitHub URLs of one integration.
//
// ETags: ReadURL returns the HTTP ETag of the contents API answer and sends
// it back as If-None-Match. ReadTree and Search return the ETag of the
// recursive git tree listing of the ref, so a repository whose ref has not
// moved costs one conditional request answered 304.
type Reader struct {
	c *Client
}

// NewReader returns a reader over c.
func NewReader(c *Client) *Reader { return &Reader{c: c} }

// Claims reports whether the reader handles u (the integration's host or raw
// base URL).
func (r *Reader) Claims(u *url.URL) bool { return r.c.integ.Claims(u) }

// DefaultBranch returns the repository's default branch. The answer is
// remembered and revalidated with a conditional request.
func (c *Client) DefaultBranch(ctx context.Context, owner, repo string) (string, error) {
	rp, _, err := c.gh.Repositories.Get(ctx, owner, repo)
	if err != nil {
		return "", classify(err, fmt.Sprintf("repository %s/%s", owner, repo))
	}
	if rp.GetDefaultBranch() == "" {
		return "", fmt.Errorf("repository %s/%s has no default branch", owner, repo)
	}
	return rp.GetDefaultBranch(), nil
}

func (r *Reader) parse(ctx context.Context, raw string) (Location, error) {
	loc, err := r.c.integ.ParseURL(raw)
	if err != nil {
		return loc, err
	}
	if loc.Ref == "" {
		if loc.Ref, err = r.c.DefaultBranch(ctx, loc.Owner, loc.Repo); err != nil {
			return loc, err
		}
	}
	return loc, nil
}

// ReadURL reads one file through the contents API.
func (r *Reader) ReadURL(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.ReadResult, error) {
	loc, err := r.parse(ctx, raw)
	if err != nil {
		return catalog.ReadResult{}, err
	}
	if loc.Path == "" {
		return catalog.ReadResult{}, backend.Input("%s is not a file URL", raw)
	}
	u := fmt.Sprintf("repos/%s/%s/contents/%s?ref=%s", loc.Owner, loc.Repo, escapePath(loc.Path), url.QueryEscape(loc.Ref))
	req, err := r.c.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return catalog.ReadResult{}, err
	}
	req.Header.Set("Accept", "application/vnd.github.raw")
	if o.ETag != "" {
		req.Header.Set("If-None-Match", o.ETag)
	}
	var buf bytes.Buffer
	resp, err := r.c.gh.Do(ctx, req, &buf)
	if err != nil {
		if backend.KindOf(classify(err, "")) == backend.ErrNotFound {
			return catalog.ReadResult{}, backend.NotFound("%s could not be read as %s, 404 Not Found", raw, loc.Path)
		}
		return catalog.ReadResult{}, classify(err, "read "+raw)
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		// A directory listing (or a server without raw support).
		var fc gh.RepositoryContent
		if err := json.Unmarshal(buf.Bytes(), &fc); err != nil || fc.GetType() != "file" {
			return catalog.ReadResult{}, backend.NotFound("%s is not a file", raw)
		}
		s, err := fc.GetContent()
		if err != nil {
			return catalog.ReadResult{}, fmt.Errorf("read %s: %w", raw, err)
		}
		return catalog.ReadResult{Data: []byte(s), ETag: resp.Header.Get("ETag")}, nil
	}
	return catalog.ReadResult{Data: buf.Bytes(), ETag: resp.Header.Get("ETag")}, nil
}

// treeEntries lists every blob of ref, conditionally on etag.
func (r *Reader) treeEntries(ctx context.Context, loc Location, etag, raw string) ([]*gh.TreeEntry, string, error) {
	u := fmt.Sprintf("repos/%s/%s/git/trees/%s?recursive=1", loc.Owner, loc.Repo, url.PathEscape(loc.Ref))
	req, err := r.c.gh.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, "", err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	var tree gh.Tree
	resp, err := r.c.gh.Do(ctx, req, &tree)
	if err != nil {
		if backend.KindOf(classify(err, "")) == backend.ErrNotFound {
			return nil, "", backend.NotFound("%s could not be read, ref %s not found", raw, loc.Ref)
		}
		return nil, "", classify(err, "read tree "+raw)
	}
	if tree.GetTruncated() {
		return nil, "", fmt.Errorf("read tree %s: the repository is too large for one tree listing", raw)
	}
	var blobs []*gh.TreeEntry
	for _, e := range tree.Entries {
		if e.GetType() == "blob" {
			blobs = append(blobs, e)
		}
	}
	return blobs, resp.Header.Get("ETag"), nil
}

// ReadTree reads every file under a tree (or blob) URL's directory.
func (r *Reader) ReadTree(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.Tree, error) {
	loc, err := r.parse(ctx, raw)
	if err != nil {
		return catalog.Tree{}, err
	}
	entries, etag, err := r.treeEntries(ctx, loc, o.ETag, raw)
	if err != nil {
		return catalog.Tree{}, err
	}
	out := catalog.Tree{ETag: etag}
	for _, e := range entries {
		rel, ok := under(loc.Path, e.GetPath())
		if !ok {
			continue
		}
		data, err := r.c.blob(ctx, loc.Owner, loc.Repo, e.GetSHA())
		if err != nil {
			return catalog.Tree{}, err
		}
		out.Files = append(out.Files, catalog.TreeFile{Path: rel, Data: data})
	}
	if len(out.Files) == 0 {
		return catalog.Tree{}, backend.NotFound("%s has no files", raw)
	}
	return out, nil
}

// Search reads every file matching the URL's glob (see searchGlob).
// Without glob characters it reads the
// one file, and a missing file is an empty result.
func (r *Reader) Search(ctx context.Context, raw string, o catalog.ReadOptions) (catalog.SearchResult, error) {
	loc, err := r.parse(ctx, raw)
	if err != nil {
		return catalog.SearchResult{}, err
	}
	if !glob.HasMeta(loc.Path) {
		res, err := r.ReadURL(ctx, raw, o)
		if backend.KindOf(err) == backend.ErrNotFound {
			return catalog.SearchResult{Files: []catalog.SearchFile{}}, nil
		}
		if err != nil {
			return catalog.SearchResult{}, err
		}
		return catalog.SearchResult{Files: []catalog.SearchFile{{URL: raw, Data: res.Data}}, ETag: res.ETag}, nil
	}
	entries, etag, err := r.treeEntries(ctx, loc, o.ETag, raw)
	if err != nil {
		return catalog.SearchResult{}, err
	}
	pat, err := glob.Compile(loc.Path, searchGlob)
	if err != nil {
		return catalog.SearchResult{}, backend.Input("%v", err)
	}
	out := catalog.SearchResult{Files: []catalog.SearchFile{}, ETag: etag}
	for _, e := range entries {
		if !pat.Match(e.GetPath()) {
			continue
		}
		data, err := r.c.blob(ctx, loc.Owner, loc.Repo, e.GetSHA())
		if err != nil {
			return catalog.SearchResult{}, err
		}
		out.Files = append(out.Files, catalog.SearchFile{
			URL: r.c.integ.BlobURL(loc.Owner, loc.Repo, loc.Ref, e.GetPath()), Data: data})
	}
	return out, nil
}

func under(dir, p string) (string, bool) {
	if dir == "" {
		return p, true
	}
	rel, ok := strings.CutPrefix(p, dir+"/")
	return rel, ok
}

// searchGlob matches repository paths of a search and of catalogPath:
// segment globs with "**" across segments, "*" taking dotfiles.
var searchGlob = glob.Options{Dot: true}

var _ catalog.URLReader = (*Reader)(nil)
