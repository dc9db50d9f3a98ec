package locations

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/plugins/backend"
)

// ExistingFile is an entity found in a file the analysed repository
// already has (analyze-location's existingEntityFiles).
type ExistingFile struct {
	Target       string // the file's URL, as a url location would name it
	IsRegistered bool
	Entity       *ojson.Object
}

// GeneratedEntity is an entity proposed for a repository without a
// catalog file (generateEntities); Backstage's analyzers propose no fields.
type GeneratedEntity struct {
	Entity *ojson.Object
}

// AnalyzeResult is the answer to POST /analyze-location.
type AnalyzeResult struct {
	Existing  []ExistingFile
	Generated []GeneratedEntity
}

// Analyze looks at a repository URL the way Backstage's default analyzer
// with the GitHub analyzer does: when the repository of a GitHub
// integration holds catalog files (catalog-info.yaml or catalogFilename,
// anywhere on its default branch) their entities are listed, as a dry run
// registration of each file would produce them; otherwise a Component named
// after the repository is proposed.
func (s *Service) Analyze(ctx context.Context, typ, target, catalogFilename string) (AnalyzeResult, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") || strings.ContainsAny(target, " \t\n") {
		return AnalyzeResult{}, backend.Input("The given location.target is not a URL")
	}
	var host RepoHost
	var owner, repo string
	for _, h := range s.o.Repos {
		if o, r, ok := h.Repo(target); ok {
			host, owner, repo = h, o, r
			break
		}
	}
	if host != nil && host.Kind() == "github" {
		existing, err := s.existingFiles(ctx, host, owner, repo, catalogFilename)
		if err != nil {
			return AnalyzeResult{}, err
		}
		if len(existing) > 0 {
			return AnalyzeResult{Existing: existing, Generated: []GeneratedEntity{}}, nil
		}
	}
	name := repo
	if host == nil {
		name = genericRepoName(u)
	}
	meta := ojson.NewObject("name", name)
	if host != nil && host.Kind() == "github" {
		meta.Set("annotations", ojson.NewObject("github.com/project-slug", owner+"/"+repo))
	}
	e := ojson.NewObject(
		"apiVersion", "backstage.io/v1alpha1",
		"kind", "Component",
		"metadata", meta,
		"spec", ojson.NewObject("type", "other", "lifecycle", "unknown"),
	)
	return AnalyzeResult{Existing: []ExistingFile{}, Generated: []GeneratedEntity{{Entity: e}}}, nil
}

// existingFiles finds the catalog files of a repository and dry-runs each.
// A repository the host does not know has none.
func (s *Service) existingFiles(ctx context.Context, host RepoHost, owner, repo, filename string) ([]ExistingFile, error) {
	if filename == "" {
		filename = "catalog-info.yaml"
	}
	if s.o.URLs == nil {
		return nil, nil
	}
	branch, err := host.DefaultBranch(ctx, owner, repo)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("Couldn't fetch repo data, %w", err)
	}
	found, err := s.o.URLs.Search(ctx, host.BlobURL(owner, repo, branch, "**/"+filename), catalog.ReadOptions{})
	if errors.Is(err, backend.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("Couldn't search repository for metadata file, %w", err)
	}
	var out []ExistingFile
	for _, f := range found.Files {
		res, err := s.dryRun(ctx, Input{Type: "url", Target: f.URL})
		if err != nil {
			return nil, err
		}
		for _, e := range res.Entities {
			out = append(out, ExistingFile{Target: f.URL, IsRegistered: *res.Exists, Entity: e})
		}
	}
	return out, nil
}

// genericRepoName is the repository name git-url-parse finds in a URL of a
// host it does not know: the segment before a blob/tree marker, else the
// last segment, without ".git".
func genericRepoName(u *url.URL) string {
	var segs []string
	for _, s := range strings.Split(u.Path, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) == 0 {
		return ""
	}
	name := segs[len(segs)-1]
	for i, s := range segs {
		if i >= 2 && (s == "blob" || s == "tree") {
			name = segs[i-1]
			break
		}
	}
	return strings.TrimSuffix(name, ".git")
}
