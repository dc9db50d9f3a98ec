// Package workspace is the scaffolder's one safe-path layer: every path an
// action or a dry run derives from template input is resolved here, and
// every write, link, rename and removal inside a workspace goes through an
// os.Root opened on it, so the containment check and the file operation are
// one system call and a symlink swapped in between cannot redirect it.
// ResolveSafeChildPath still answers Backstage's NotAllowedError message for
// a path that leaves its base; the os.Root operations are what enforce it.
package workspace

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/understage/understage/plugins/backend"
)

// EscapeMessage is Backstage's wording for a path that leaves its base.
const EscapeMessage = "Relative path is not allowed to refer to a directory outside its parent"

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
	ok, err := IsChildPath(base, target)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", backend.NotAllowed(EscapeMessage)
	}
	return target, nil
}

// IsChildPath reports whether p is base or inside it, comparing real paths.
func IsChildPath(base, p string) (bool, error) {
	rb, err := realPath(filepath.Clean(base), 0)
	if err != nil {
		return false, err
	}
	rp, err := realPath(filepath.Clean(p), 0)
	if err != nil {
		return false, err
	}
	return Within(rb, rp), nil
}

// Within is the lexical containment test on cleaned absolute paths.
func Within(base, p string) bool {
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
		return "", backend.NotAllowed(EscapeMessage)
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

// rel is p relative to ws, refused with Backstage's message when it leaves
// ws lexically (os.Root refuses what leaves it through symlinks).
func rel(ws, p string) (string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(ws, p)
	}
	r, err := filepath.Rel(filepath.Clean(ws), filepath.Clean(p))
	if err != nil || !filepath.IsLocal(r) && r != "." {
		return "", backend.NotAllowed(EscapeMessage)
	}
	return r, nil
}

// withRoot runs op on an os.Root opened at ws with p made relative to it.
func withRoot(ws, p string, op func(r *os.Root, rel string) error) error {
	rp, err := rel(ws, p)
	if err != nil {
		return err
	}
	root, err := os.OpenRoot(ws)
	if err != nil {
		return fmt.Errorf("open workspace: %w", err)
	}
	defer root.Close()
	return op(root, rp)
}

// MkdirAll creates dir (absolute, or relative to ws) and its parents inside
// ws.
func MkdirAll(ws, dir string) error {
	if _, err := ResolveSafeChildPath(ws, dir); err != nil {
		return err
	}
	return withRoot(ws, dir, func(r *os.Root, p string) error {
		if err := r.MkdirAll(p, 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		return nil
	})
}

// WriteFile writes data at dst inside ws, creating its folder. A new file
// gets mode (subject to the umask, as Node's writeFile); chmod makes it
// exact when exactMode (fs-extra's copy sets the source's mode). A symlink
// at dst is replaced, never written through.
func WriteFile(ws, dst string, data []byte, mode fs.FileMode, exactMode bool) error {
	if _, err := ResolveSafeChildPath(ws, dst); err != nil {
		return err
	}
	if mode == 0 {
		mode = 0o644
	}
	return withRoot(ws, dst, func(r *os.Root, p string) error {
		if err := r.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		if fi, err := r.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if err := r.Remove(p); err != nil {
				return fmt.Errorf("replace symlink: %w", err)
			}
		}
		// O_NOFOLLOW: a link planted after the Lstat fails the open.
		f, err := r.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|noFollow, mode.Perm())
		if err != nil {
			return fmt.Errorf("write file: %w", err)
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("write file: %w", err)
		}
		if exactMode {
			if err := f.Chmod(mode.Perm()); err != nil {
				f.Close()
				return fmt.Errorf("chmod: %w", err)
			}
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write file: %w", err)
		}
		return nil
	})
}

// Symlink creates a symlink at dst with the text link, refusing a link
// whose target would resolve outside ws. An existing dst is kept unless
// overwrite.
func Symlink(ws, dst, link string, overwrite bool) error {
	target := link
	if !filepath.IsAbs(target) {
		target = filepath.Join(filepath.Dir(dst), link)
	}
	if _, err := ResolveSafeChildPath(ws, target); err != nil {
		return err
	}
	if _, err := ResolveSafeChildPath(ws, dst); err != nil {
		return err
	}
	return withRoot(ws, dst, func(r *os.Root, p string) error {
		if err := r.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		if _, err := r.Lstat(p); err == nil {
			if !overwrite {
				return nil
			}
			if err := r.RemoveAll(p); err != nil {
				return fmt.Errorf("replace: %w", err)
			}
		}
		if err := r.Symlink(link, p); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return nil
	})
}

// RemoveAll removes p (and what is under it) inside ws; a symlink is
// removed, not followed.
func RemoveAll(ws, p string) error {
	if _, err := ResolveSafeChildPath(ws, p); err != nil {
		return err
	}
	return withRoot(ws, p, func(r *os.Root, rp string) error {
		if rp == "." {
			return backend.NotAllowed(EscapeMessage)
		}
		return r.RemoveAll(rp)
	})
}

// Rename moves src to dst, both inside ws, creating dst's folder.
func Rename(ws, src, dst string) error {
	if _, err := ResolveSafeChildPath(ws, src); err != nil {
		return err
	}
	if _, err := ResolveSafeChildPath(ws, dst); err != nil {
		return err
	}
	rs, err := rel(ws, src)
	if err != nil {
		return err
	}
	return withRoot(ws, dst, func(r *os.Root, rd string) error {
		if err := r.MkdirAll(filepath.Dir(rd), 0o755); err != nil {
			return fmt.Errorf("create directory: %w", err)
		}
		if err := r.Rename(rs, rd); err != nil {
			return fmt.Errorf("rename: %w", err)
		}
		return nil
	})
}

// ReadDir lists dir inside ws.
func ReadDir(ws, dir string) ([]fs.DirEntry, error) {
	var des []fs.DirEntry
	err := withRoot(ws, dir, func(r *os.Root, p string) error {
		var err error
		des, err = fs.ReadDir(r.FS(), filepath.ToSlash(p))
		return err
	})
	return des, err
}
