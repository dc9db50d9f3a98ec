package builtin

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/understage/understage/plugins/backend"
)

// escapeMessage is Backstage's wording for a path that leaves its base.
const escapeMessage = "Relative path is not allowed to refer to a directory outside its parent"

// ResolveSafeChildPath joins p (relative, or absolute) onto base and returns
// the result if it stays inside base once every symlink on the way is
// resolved, as Backstage's resolveSafeChildPath does: the longest existing
// ancestor is resolved with the real file system, dangling symlinks are
// followed through their link text, and the rest is appended lexically.
// Otherwise it fails with NotAllowedError "Relative path is not allowed to
// refer to a directory outside its parent". The returned path is the lexical
// join, not the resolved one, so that a symlink inside base stays a symlink.
func ResolveSafeChildPath(base, p string) (string, error) {
	target := p
	if !filepath.IsAbs(target) {
		target = filepath.Join(base, p)
	}
	target = filepath.Clean(target)
	ok, err := isChildPath(base, target)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", backend.NotAllowed(escapeMessage)
	}
	return target, nil
}

// isChildPath reports whether p is base or inside it, comparing real paths.
func isChildPath(base, p string) (bool, error) {
	rb, err := realPath(filepath.Clean(base), 0)
	if err != nil {
		return false, err
	}
	rp, err := realPath(filepath.Clean(p), 0)
	if err != nil {
		return false, err
	}
	return within(rb, rp), nil
}

// within is the lexical containment test on cleaned absolute paths.
func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	if err != nil {
		return false
	}
	return rel == "." || (rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel))
}

// realPath resolves symlinks like fs.realpathSync, but also for paths that
// do not exist (yet): a missing tail is appended to the resolved parent and
// a dangling symlink is followed through its text.
func realPath(p string, depth int) (string, error) {
	if depth > 40 {
		// A symlink loop: treat as unresolvable and refuse.
		return "", backend.NotAllowed(escapeMessage)
	}
	r, err := filepath.EvalSymlinks(p)
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, fs.ErrNotExist) && !isNotDir(err) {
		return "", err
	}
	if fi, lerr := os.Lstat(p); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		link, rerr := os.Readlink(p)
		if rerr != nil {
			return "", rerr
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(p), link)
		}
		return realPath(filepath.Clean(link), depth+1)
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p, nil
	}
	rp, err := realPath(parent, depth)
	if err != nil {
		return "", err
	}
	return filepath.Join(rp, filepath.Base(p)), nil
}

func isNotDir(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "not a directory")
}
