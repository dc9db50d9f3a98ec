package builtin

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/workspace"
)

// entry is one file, directory or symlink of a fetched tree.
type entry struct {
	Path string      // slash-separated, relative to the tree root, never "." or ".."-bearing
	Dir  bool        // a directory
	Link string      // symlink text, when the entry is a symlink
	Mode fs.FileMode // permission bits of files
	Data []byte
}

// isAbsoluteURL is JavaScript's `new URL(x)` succeeding: x has a scheme.
func isAbsoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && len(u.Scheme) > 1 // "C:" is a drive, not a scheme
}

// localBase returns the template's directory on disk when the template was
// loaded from a file:// location, for relative fetch URLs. Backstage copies
// those straight from disk (keeping modes and symlinks) instead of going
// through a URL reader.
func localBase(ac *scaffolder.ActionContext, fetchURL string) (string, bool) {
	if isAbsoluteURL(fetchURL) || !strings.HasPrefix(ac.TemplateInfo.BaseURL, "file://") {
		return "", false
	}
	u, err := url.Parse(ac.TemplateInfo.BaseURL)
	if err != nil {
		return "", false
	}
	dir := u.ResolveReference(&url.URL{Path: "."})
	return filepath.FromSlash(dir.Path), true
}

// readURL resolves a fetch URL against the template's base URL.
func (o Options) readURL(ac *scaffolder.ActionContext, fetchURL string) (string, error) {
	if isAbsoluteURL(fetchURL) {
		return fetchURL, nil
	}
	base := ac.TemplateInfo.BaseURL
	if base == "" {
		return "", backend.Input("Failed to fetch, template location could not be determined and the fetch URL is relative, %s", fetchURL)
	}
	return o.resolveURL(base, fetchURL)
}

// resolveURL is Backstage's SCM resolveUrl: absolute URLs verbatim, "/x"
// relative to the repository root of an SCM base, other paths by URL
// resolution; the base's query string is kept.
func (o Options) resolveURL(base, ref string) (string, error) {
	if isAbsoluteURL(ref) {
		return ref, nil
	}
	bu, err := url.Parse(base)
	if err != nil {
		return "", backend.Input("Invalid URL %s", base)
	}
	var out *url.URL
	if strings.HasPrefix(ref, "/") && bu.Scheme != "file" {
		root := repoRoot(bu.Path)
		out = &url.URL{Scheme: bu.Scheme, User: bu.User, Host: bu.Host, Path: root + ref}
	} else {
		r, err := url.Parse(ref)
		if err != nil {
			return "", backend.Input("Invalid URL %s", ref)
		}
		out = bu.ResolveReference(r)
	}
	out.RawQuery = bu.RawQuery
	out.Fragment = ""
	return out.String(), nil
}

// repoRoot strips the file path from a repository URL path such as
// /owner/repo/blob/main/dir/file (GitHub), /group/repo/-/tree/main/dir
// (GitLab) or /owner/repo/src/main/dir (Bitbucket), keeping the ref.
func repoRoot(p string) string {
	segs := strings.Split(strings.Trim(p, "/"), "/")
	for i := 2; i+1 < len(segs); i++ {
		switch segs[i] {
		case "blob", "tree", "src", "raw", "edit":
			return "/" + strings.Join(segs[:i+2], "/")
		}
	}
	return strings.TrimRight(p, "/")
}

// fetchTree reads the directory a fetch URL names.
func (o Options) fetchTree(ctx context.Context, ac *scaffolder.ActionContext, fetchURL string) ([]entry, error) {
	if base, ok := localBase(ac, fetchURL); ok {
		src, err := workspace.ResolveSafeChildPath(base, fetchURL)
		if err != nil {
			return nil, err
		}
		return readLocalTree(ctx, src)
	}
	u, err := o.readURL(ac, fetchURL)
	if err != nil {
		return nil, err
	}
	if ac.Reader == nil {
		return nil, fmt.Errorf("no URL reader available to read %s", u)
	}
	tree, err := ac.Reader.ReadTree(ctx, u, catalog.ReadOptions{})
	if err != nil {
		return nil, err
	}
	return treeEntries(tree)
}

// fetchFile reads the single file a fetch URL names.
func (o Options) fetchFile(ctx context.Context, ac *scaffolder.ActionContext, fetchURL string) ([]byte, fs.FileMode, error) {
	if base, ok := localBase(ac, fetchURL); ok {
		src, err := workspace.ResolveSafeChildPath(base, fetchURL)
		if err != nil {
			return nil, 0, err
		}
		fi, err := os.Stat(src)
		if err != nil {
			return nil, 0, err
		}
		if !fi.Mode().IsRegular() {
			return nil, 0, backend.Input("%s is not a file", fetchURL)
		}
		b, err := os.ReadFile(src)
		return b, fi.Mode().Perm(), err
	}
	u, err := o.readURL(ac, fetchURL)
	if err != nil {
		return nil, 0, err
	}
	if ac.Reader == nil {
		return nil, 0, fmt.Errorf("no URL reader available to read %s", u)
	}
	res, err := ac.Reader.ReadURL(ctx, u, catalog.ReadOptions{})
	if err != nil {
		return nil, 0, err
	}
	return res.Data, 0o644, nil
}

// readLocalTree walks a directory without following symlinks. Symlinks
// whose target resolves outside the directory are left out, as Backstage's
// copy filter does; the others are kept as links.
func readLocalTree(ctx context.Context, root string) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root {
			if !d.IsDir() {
				return backend.Input("%s is not a directory", root)
			}
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			out = append(out, entry{Path: rel, Dir: true})
		case d.Type()&fs.ModeSymlink != 0:
			inside, err := workspace.IsChildPath(root, p)
			if err != nil || !inside {
				return nil
			}
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out = append(out, entry{Path: rel, Link: link})
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out = append(out, entry{Path: rel, Mode: fi.Mode().Perm(), Data: b})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	walkOrder(out)
	return out, nil
}

// walkOrder sorts entries as Backstage's globby walk lists them (see
// scaffolder.WalkLess).
func walkOrder(entries []entry) {
	sort.SliceStable(entries, func(i, j int) bool { return scaffolder.WalkLess(entries[i].Path, entries[j].Path) })
}

// treeEntries turns a reader's tree into entries, with the directories its
// file paths imply; paths that would leave the tree are refused.
func treeEntries(t catalog.Tree) ([]entry, error) {
	dirs := map[string]bool{}
	var out []entry
	for _, f := range t.Files {
		p, err := cleanRel(f.Path)
		if err != nil {
			return nil, err
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if !dirs[d] {
				dirs[d] = true
				out = append(out, entry{Path: d, Dir: true})
			}
		}
		out = append(out, entry{Path: p, Mode: 0o644, Data: f.Data})
	}
	walkOrder(out)
	return out, nil
}

// cleanRel validates a relative slash path from an untrusted source.
func cleanRel(p string) (string, error) {
	c := path.Clean(strings.ReplaceAll(p, "\\", "/"))
	if c == "." || path.IsAbs(c) || c == ".." || strings.HasPrefix(c, "../") {
		return "", backend.NotAllowed(workspace.EscapeMessage)
	}
	return c, nil
}

// writeEntries copies a tree into dir (inside the workspace) the way
// fs-extra's copy does: files overwritten, directories merged, modes kept,
// symlinks recreated as symlinks. Every target is checked against the
// workspace at the moment it is written, so a symlink written earlier
// cannot redirect a later write.
func writeEntries(ws, dir string, entries []entry) error {
	if err := workspace.MkdirAll(ws, dir); err != nil {
		return err
	}
	for _, e := range entries {
		dst, err := workspace.ResolveSafeChildPath(dir, filepath.FromSlash(e.Path))
		if err != nil {
			return err
		}
		if _, err := workspace.ResolveSafeChildPath(ws, dst); err != nil {
			return err
		}
		switch {
		case e.Dir:
			if err := workspace.MkdirAll(ws, dst); err != nil {
				return err
			}
		case e.Link != "":
			if err := workspace.Symlink(ws, dst, e.Link, true); err != nil {
				return err
			}
		default:
			if err := workspace.WriteFile(ws, dst, e.Data, e.Mode, true); err != nil {
				return err
			}
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil || !errors.Is(err, fs.ErrNotExist)
}

// ---- fetch:plain, fetch:plain:file ----

//go:embed schemas/fetch_plain.input.json
var fetchPlainInput []byte

// fetchPlainAction declares fetch:plain: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fetchPlainAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fetch:plain",
		Description: "Downloads content and places it in the workspace, or optionally in a subdirectory specified by the `targetPath` input option.",
		Examples: []scaffolder.ActionExample{
			{Description: "Downloads content and places it in the workspace.",
				Example: `steps:
  - action: fetch:plain
    id: fetch-plain
    name: Fetch plain
    input:
      url: https://github.com/backstage/community/tree/main/backstage-community-sessions/assets
`},
			{Description: "Optionally, if you would prefer the data to be downloaded to a subdirectory in the workspace you may specify the ‘targetPath’ input option.",
				Example: `steps:
  - action: fetch:plain
    id: fetch-plain
    name: Fetch plain
    input:
      url: https://github.com/backstage/community/tree/main/backstage-community-sessions/assets
      targetPath: fetched-data
`},
		},
		Input:          fetchPlainInput,
		SupportsDryRun: true,
		Run:            o.fetchPlain,
	}
}

func (o Options) fetchPlain(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	logf(ac, "Fetching plain content from remote URL")
	fetchURL, err := RequiredStringInput(in, "url")
	if err != nil {
		return err
	}
	target, ok, err := StringInput(in, "targetPath")
	if err != nil {
		return err
	}
	if !ok {
		target = "./"
	}
	out, err := workspace.ResolveSafeChildPath(ac.Workspace, target)
	if err != nil {
		return err
	}
	entries, err := o.fetchTree(ctx, ac, fetchURL)
	if err != nil {
		return err
	}
	return writeEntries(ac.Workspace, out, entries)
}

//go:embed schemas/fetch_plain_file.input.json
var fetchPlainFileInput []byte

// fetchPlainFileAction declares fetch:plain:file: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fetchPlainFileAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fetch:plain:file",
		Description: "Downloads single file and places it in the workspace.",
		Examples: []scaffolder.ActionExample{
			{Description: "Downloads a file and places it in the workspace.",
				Example: `steps:
  - action: fetch:plain:file
    id: fetch-plain-file
    name: Fetch plain file
    input:
      url: https://github.com/backstage/community/tree/main/backstage-community-sessions/assets/Backstage%20Community%20Sessions.png
      targetPath: target-path
`},
		},
		Input:          fetchPlainFileInput,
		SupportsDryRun: true,
		Run:            o.fetchPlainFile,
	}
}

func (o Options) fetchPlainFile(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	logf(ac, "Fetching plain content from remote URL")
	fetchURL, err := RequiredStringInput(in, "url")
	if err != nil {
		return err
	}
	target, err := RequiredStringInput(in, "targetPath")
	if err != nil {
		return err
	}
	out, err := workspace.ResolveSafeChildPath(ac.Workspace, target)
	if err != nil {
		return err
	}
	data, mode, err := o.fetchFile(ctx, ac, fetchURL)
	if err != nil {
		return err
	}
	// Node's copyFile keeps the source mode; a read URL gives a fresh file.
	return workspace.WriteFile(ac.Workspace, out, data, mode, true)
}
