package builtin

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/glob"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/workspace"
)

// ---- fs:delete ----

//go:embed schemas/fs_delete.input.json
var fsDeleteInput []byte

// fsDeleteAction declares fs:delete: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fsDeleteAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fs:delete",
		Description: "Deletes files and directories from the workspace",
		Examples: []scaffolder.ActionExample{
			{Description: "Delete specified files",
				Example: `steps:
  - action: fs:delete
    id: deleteFiles
    name: Delete files
    input:
      files:
        - file1.txt
        - file2.txt
`},
			{Description: "Delete files with wildcard",
				Example: `steps:
  - action: fs:delete
    id: deleteFiles
    name: Delete files
    input:
      files:
        - "*.txt"
`},
			{Description: "Delete all files in workspace",
				Example: `steps:
  - action: fs:delete
    id: deleteFiles
    name: Delete files
    input:
      files:
        - "**"
`},
		},
		Input:          fsDeleteInput,
		SupportsDryRun: true,
		Run:            o.fsDelete,
	}
}

func (o Options) fsDelete(ctx context.Context, ac *scaffolder.ActionContext) error {
	files, ok, err := strList(Input(ac), "files")
	if err != nil || !ok {
		return backend.Input("files must be an Array")
	}
	for _, file := range files {
		safe, err := workspace.ResolveSafeChildPath(ac.Workspace, file)
		if err != nil {
			return err
		}
		matches, err := globWorkspace(ctx, ac.Workspace, safe)
		if err != nil {
			return err
		}
		for _, m := range matches {
			if err := workspace.RemoveAll(ac.Workspace, m); err != nil {
				logf(ac, "Failed to delete file")
				if backend.KindOf(err) != nil {
					return err
				}
				return fmt.Errorf("delete %s: %w", m, err)
			}
			logf(ac, "File %s deleted successfully", m)
		}
	}
	return nil
}

// globWorkspace finds the files (as globby with onlyFiles does: regular
// files and symlinks, directories never) of the workspace matching an
// absolute glob; a pattern naming a directory means everything under it.
// Symlinked directories are not entered.
func globWorkspace(ctx context.Context, ws, pattern string) ([]string, error) {
	rel, err := filepath.Rel(ws, pattern)
	if err != nil {
		return nil, err
	}
	rel = filepath.ToSlash(rel)
	if fi, err := os.Lstat(pattern); err == nil && fi.IsDir() {
		if rel == "." {
			rel = "**"
		} else {
			rel += "/**"
		}
	}
	pat, err := glob.Compile(rel, templateGlob)
	if err != nil {
		return nil, backend.Input("%v", err)
	}
	var out []string
	err = filepath.WalkDir(ws, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := filepath.Rel(ws, p)
		if err != nil {
			return err
		}
		r = filepath.ToSlash(r)
		if d.IsDir() {
			if r != "." && !pat.CouldContain(r) {
				return filepath.SkipDir
			}
			return nil
		}
		if pat.Match(r) {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// ---- fs:rename ----

//go:embed schemas/fs_rename.input.json
var fsRenameInput []byte

// fsRenameAction declares fs:rename: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fsRenameAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fs:rename",
		Description: "Renames files and directories within the workspace",
		Examples: []scaffolder.ActionExample{
			{Description: "Rename specified files ",
				Example: `steps:
  - action: fs:rename
    id: renameFiles
    name: Rename files
    input:
      files:
        - from: file1.txt
          to: file1Renamed.txt
        - from: file2.txt
          to: file2Renamed.txt
        - from: file3.txt
          to: file3Renamed.txt
          overwrite: true
`},
		},
		Input:          fsRenameInput,
		SupportsDryRun: true,
		Run:            o.fsRename,
	}
}

func (o Options) fsRename(ctx context.Context, ac *scaffolder.ActionContext) error {
	v, _ := Input(ac).Get("files")
	files, ok := v.([]any)
	if !ok {
		return backend.Input("files must be an Array")
	}
	for _, f := range files {
		obj, _ := f.(*ojson.Object)
		if obj == nil {
			return backend.Input("each file must have a from and to property")
		}
		from, to := obj.String("from"), obj.String("to")
		if from == "" || to == "" {
			return backend.Input("each file must have a from and to property")
		}
		src, err := workspace.ResolveSafeChildPath(ac.Workspace, from)
		if err != nil {
			return err
		}
		dst, err := workspace.ResolveSafeChildPath(ac.Workspace, to)
		if err != nil {
			return err
		}
		if err := move(ac.Workspace, src, dst, boolean(obj, "overwrite")); err != nil {
			logf(ac, "Failed to rename file %s to %s:", src, dst)
			return err
		}
		logf(ac, "File %s renamed to %s successfully", src, dst)
	}
	return nil
}

// move is fs-extra's move: parents of dst created, an existing dst is an
// error unless overwrite.
func move(ws, src, dst string, overwrite bool) error {
	if _, err := os.Lstat(src); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("ENOENT: no such file or directory, lstat '%s'", src)
		}
		return err
	}
	if src == dst {
		return errors.New("Source and destination must not be the same.")
	}
	if strings.HasPrefix(dst, src+string(filepath.Separator)) {
		return fmt.Errorf("Cannot move '%s' to a subdirectory of itself, '%s'.", src, dst)
	}
	if exists(dst) {
		if !overwrite {
			return errors.New("dest already exists.")
		}
		if err := workspace.RemoveAll(ws, dst); err != nil {
			return fmt.Errorf("remove %s: %w", dst, err)
		}
	}
	if err := workspace.Rename(ws, src, dst); err != nil {
		return err
	}
	return nil
}

// ---- fs:readdir ----

//go:embed schemas/fs_readdir.input.json
var fsReaddirInput []byte

//go:embed schemas/fs_readdir.output.json
var fsReaddirOutput []byte

// fsReaddirAction declares fs:readdir: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o Options) fsReaddirAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "fs:readdir",
		Description: "Reads files and directories from the workspace",
		Examples: []scaffolder.ActionExample{
			{Description: "Read complete content of workspace",
				Example: `steps:
  - action: fs:readdir
    id: read-workdir
    name: Read workspace directory
    input:
      paths:
        - .
`},
			{Description: "Get content of the docs folder",
				Example: `steps:
  - action: fs:readdir
    id: read-workdir
    name: Read workspace directory
    input:
      paths:
        - docs
      recursive: true
`},
			{Description: "Get content of multiple folders",
				Example: `steps:
  - action: fs:readdir
    id: read-workdir
    name: Read workspace directory
    input:
      paths:
        - foo
        - bar
      recursive: true
`},
		},
		Input:          fsReaddirInput,
		Output:         fsReaddirOutput,
		SupportsDryRun: true,
		Run:            o.fsReaddir,
	}
}

func (o Options) fsReaddir(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := Input(ac)
	paths, ok, err := strList(in, "paths")
	if err != nil {
		return err
	}
	if !ok {
		return backend.Input("paths is required")
	}
	recursive := boolean(in, "recursive")
	files, folders := []any{}, []any{}
	for _, p := range paths {
		full, err := workspace.ResolveSafeChildPath(ac.Workspace, p)
		if err != nil {
			return err
		}
		// Node's recursive readdir: a stack of directories, each listed in
		// full before the most recently found subdirectory is opened.
		type pending struct{ dir string }
		stack := []pending{{full}}
		for len(stack) > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			cur := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if _, err := workspace.ResolveSafeChildPath(ac.Workspace, cur.dir); err != nil {
				return err
			}
			des, err := workspace.ReadDir(ac.Workspace, cur.dir)
			if err != nil {
				return fmt.Errorf("readdir: %w", err)
			}
			sort.Slice(des, func(i, j int) bool { return des[i].Name() < des[j].Name() })
			for _, d := range des {
				fp := filepath.Join(cur.dir, d.Name())
				rel, err := filepath.Rel(ac.Workspace, fp)
				if err != nil {
					return err
				}
				el := ojson.NewObject("name", d.Name(), "path", rel, "fullPath", fp)
				if d.IsDir() {
					folders = append(folders, el)
					if recursive {
						stack = append(stack, pending{fp})
					}
				} else {
					files = append(files, el)
				}
			}
		}
	}
	ac.Output("files", files)
	ac.Output("folders", folders)
	return nil
}
