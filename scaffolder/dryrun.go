package scaffolder

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder/workspace"
)

// DryRunInput is a POST /v2/dry-run request, parsed.
type DryRunInput struct {
	Template *Template
	Values   any
	Secrets  map[string]string
	Files    []File
	User     UserInfo
	Catalog  CatalogClient
}

// File is one file of a dry run's template directory or resulting workspace.
type File struct {
	Path       string
	Content    []byte
	Executable bool
}

// DryRunResult is the body of a dry-run response.
type DryRunResult struct {
	Log    []*ojson.Object // each {body:{stepId?, status?, message}}
	Files  []File
	Output *ojson.Object
	Steps  []any
}

// DryRun runs a template without a task: its files are written to a
// temporary directory that stands for the template's location, actions
// that do not support dry runs are skipped (their outputs come from their
// output schema), and the resulting workspace is returned.
func (r *Runner) DryRun(ctx context.Context, in DryRunInput) (*DryRunResult, error) {
	id := uuid.NewString()
	contents := filepath.Join(r.workingDir(), "dry-run-content-"+id)
	defer os.RemoveAll(contents)
	for _, f := range in.Files {
		if err := os.MkdirAll(contents, 0o755); err != nil {
			return nil, fmt.Errorf("dry run: %w", err)
		}
		if err := workspace.WriteFile(contents, f.Path, f.Content, 0o644, false); err != nil {
			if backend.KindOf(err) != nil {
				return nil, err
			}
			return nil, fmt.Errorf("dry run: %w", err)
		}
	}
	steps := in.Template.NormalizedSteps()
	extractID := id
	specSteps := append(append([]any{}, steps...), ojson.NewObject("id", extractID, "name", "dry-run:extract", "action", "dry-run:extract"))
	spec := ojson.NewObject("apiVersion", APIVersion, "steps", specSteps)
	if o, ok := in.Template.Spec.Get("output"); ok && o != nil {
		spec.Set("output", o)
	} else {
		spec.Set("output", ojson.NewObject())
	}
	if in.Values != nil {
		spec.Set("parameters", in.Values)
	}
	spec.Set("user", userObject(in.User))
	spec.Set("templateInfo", ojson.NewObject(
		"entityRef", "template:default/dry-run",
		"entity", ojson.NewObject("metadata", in.Template.Metadata),
		"baseUrl", FileURL(filepath.Join(contents, "template.yaml"))))

	res := &DryRunResult{Steps: steps}
	var files []File
	extracted := false
	budget := newLogBudget(r.LogLimit)
	run := &Run{
		TaskID:  "dry-run-" + id,
		Spec:    spec,
		Secrets: in.Secrets,
		DryRun:  true,
		User:    in.User,
		Catalog: in.Catalog,
		Emit: func(_ context.Context, body *ojson.Object) error {
			if body.String("stepId") == extractID {
				return nil
			}
			keep, note := budget.admit(body)
			if note != nil {
				res.Log = append(res.Log, ojson.NewObject("body", note))
			}
			if !keep {
				return nil
			}
			// The dry runner spreads the metadata before the message.
			b := ojson.NewObject()
			for _, m := range body.Members {
				if m.Key != "message" {
					b.Set(m.Key, m.Value)
				}
			}
			msg, _ := body.Get("message")
			b.Set("message", msg)
			res.Log = append(res.Log, ojson.NewObject("body", b))
			return nil
		},
		extra: map[string]Action{"dry-run:extract": {
			ID: "dry-run:extract", SupportsDryRun: true,
			Run: func(_ context.Context, ac *ActionContext) error {
				var err error
				files, err = ReadDirectoryContents(ac.Workspace)
				extracted = true
				return err
			},
		}},
	}
	out, err := r.Execute(ctx, run)
	if err != nil {
		return nil, err
	}
	if !extracted {
		return nil, fmt.Errorf("Content extraction step was skipped")
	}
	res.Files = files
	res.Output = out
	return res, nil
}

// ReadDirectoryContents lists the regular files under dir (dotfiles
// included, symlinks not followed) in WalkLess order.
func ReadDirectoryContents(dir string) ([]File, error) {
	var out []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, File{Path: filepath.ToSlash(rel), Content: b, Executable: info.Mode()&0o111 != 0})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read workspace: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return WalkLess(out[i].Path, out[j].Path) })
	return out, nil
}

// WalkLess orders slash paths the way Backstage's globby walks a directory
// (fetch:template's template files, a dry run's resulting files): breadth
// first, so every entry of a directory comes before those of its sub
// directories, which decides among other things which failing file is
// reported. Inside one directory Backstage keeps the file system's readdir
// order, which differs between file systems; names are sorted there
// instead, so that runs repeat.
func WalkLess(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	if len(as) != len(bs) {
		return len(as) < len(bs)
	}
	for k := range as {
		if as[k] != bs[k] {
			return as[k] < bs[k]
		}
	}
	return false
}
