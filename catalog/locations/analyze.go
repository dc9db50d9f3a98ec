package locations

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
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
// registration of each file would produce them; otherwise a Component
// named after the repository is proposed. A repository that cannot be read
// (unknown, failing, unreachable) also gets the proposal, as from a
// Backstage without the GitHub analyzer, rather than Backstage's 500 with
// it: the page then still offers something to register.
func (s *Service) Analyze(ctx context.Context, typ, target, catalogFilename string) (AnalyzeResult, error) {
	// git-url-parse also reads a GitHub shorthand ("owner/repo") and an
	// SSH address ("git@host:owner/repo.git"). Neither is a URL to the SCM
	// integrations, so nothing reads them and the proposal has no slug.
	if m := githubShorthand.FindStringSubmatch(target); m != nil {
		return proposal(m[2], "", ""), nil
	}
	if m := sshAddress.FindStringSubmatch(target); m != nil {
		_, name, err := gitURLOwnerName(&url.URL{Host: m[1]}, "/"+m[2])
		if err != nil {
			return AnalyzeResult{}, err
		}
		return proposal(name, "", ""), nil
	}
	// A stray "%" is no reason to refuse a URL (WHATWG URLs keep it); the
	// repository name's decoding then fails on it as in Backstage.
	u, err := url.Parse(strayPercent.ReplaceAllStringFunc(target, func(m string) string { return "%25" + m[1:] }))
	if err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "" && u.Path == "") || strings.ContainsAny(target, " \t\n") {
		return AnalyzeResult{}, backend.Input("The given location.target is not a URL")
	}
	owner, name, err := gitURLOwnerName(u, rawPath(target))
	if err != nil {
		return AnalyzeResult{}, err
	}
	for _, h := range s.o.Repos {
		ho, hr, ok := h.Repo(target)
		if !ok || h.Kind() != "github" {
			continue
		}
		existing, err := s.existingFiles(ctx, h, ho, hr, catalogFilename)
		if err != nil {
			s.o.Logger.WarnContext(ctx, "analyze-location could not read the repository, proposing a component", "target", target, "err", err)
		}
		if len(existing) > 0 {
			return AnalyzeResult{Existing: existing, Generated: []GeneratedEntity{}}, nil
		}
		break
	}
	return proposal(name, owner, s.slugPrefix(u)), nil
}

// proposal is the Component Backstage proposes for a repository without
// catalog files; the project-slug annotation needs the integration's prefix.
func proposal(name, owner, slugPrefix string) AnalyzeResult {
	meta := ojson.NewObject("name", name)
	if slugPrefix != "" {
		meta.Set("annotations", ojson.NewObject(slugPrefix+"/project-slug", owner+"/"+name))
	}
	e := ojson.NewObject(
		"apiVersion", "backstage.io/v1alpha1",
		"kind", "Component",
		"metadata", meta,
		"spec", ojson.NewObject("type", "other", "lifecycle", "unknown"),
	)
	return AnalyzeResult{Existing: []ExistingFile{}, Generated: []GeneratedEntity{{Entity: e}}}
}

var (
	githubShorthand = regexp.MustCompile(`(?i)^([a-z\d-]{1,39})/([-.\w]{1,100})$`)
	sshAddress      = regexp.MustCompile(`^[\w.-]+@([\w.-]+):([^/].*)$`)
)

// slugPrefix is the project-slug annotation's prefix for the SCM
// integration serving u, by its type as Backstage's ScmIntegrations.byUrl
// finds it: the configured GitHub hosts and Backstage's default hosts of
// the github, gitlab and azure types. Other types (bitbucketCloud for
// bitbucket.org) get no annotation, as in Backstage.
func (s *Service) slugPrefix(u *url.URL) string {
	host := strings.ToLower(u.Host)
	switch host {
	case "github.com":
		return "github.com"
	case "gitlab.com":
		return "gitlab.com"
	case "dev.azure.com":
		return "dev.azure.com"
	}
	// A configured GitHub host recognises any repository URL on it.
	probe := u.Scheme + "://" + u.Host + "/owner/repo"
	for _, h := range s.o.Repos {
		if _, _, ok := h.Repo(probe); ok && h.Kind() == "github" {
			return "github.com"
		}
	}
	return ""
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

// gitURLOwnerName finds a repository's owner and name in a URL the way the
// git-url-parse package does for Backstage's analyzer: the path decoded as
// decodeURIComponent does (a malformed escape fails like it, as a 500
// URIError), Azure DevOps' _git paths, the blob/tree/... markers, and
// Bitbucket Server's projects/users paths.
func gitURLOwnerName(u *url.URL, rawPath string) (owner, name string, err error) {
	p := strings.TrimPrefix(rawPath, "/")
	p = strings.TrimSuffix(p, "/")
	p = strings.TrimSuffix(p, ".git")
	if name, err = decodeURIComponent(p); err != nil {
		return "", "", err
	}
	parts := strings.Split(strings.ToLower(u.Hostname()), ".")
	source := strings.Join(parts, ".")
	if len(parts) > 2 {
		source = strings.Join(parts[1:], ".")
	}
	splits := strings.Split(name, "/")
	switch {
	case source == "dev.azure.com" || source == "azure.com" || source == "visualstudio.com":
		switch len(splits) {
		case 5:
			owner, name = splits[1], splits[4]
		case 3:
			owner, name = splits[0], splits[2]
			if splits[0] == "DefaultCollection" {
				owner = splits[2]
			}
		case 4:
			owner, name = splits[1], splits[3]
		case 2:
			if source == "visualstudio.com" {
				owner, name = splits[1], splits[1]
			}
		}
	case len(splits) >= 2:
		nameIndex := len(splits) - 1
		index := func(marker string) int {
			for i := 2; i < len(splits); i++ {
				if splits[i] == marker {
					return i
				}
			}
			return -1
		}
		dash, blob, tree := index("-"), index("blob"), index("tree")
		switch {
		case dash > 0:
			nameIndex = dash - 1
		case blob > 0 && tree > 0:
			nameIndex = min(blob, tree) - 1
		case blob > 0:
			nameIndex = blob - 1
		default:
			for _, m := range []string{"issues", "tree", "commit", "src", "raw", "edit"} {
				if i := index(m); i > 0 {
					nameIndex = i - 1
					break
				}
			}
		}
		owner, name = strings.Join(splits[:nameIndex], "/"), splits[nameIndex]
	}
	if rest, ok := strings.CutPrefix(owner, "scm/"); ok {
		owner = rest
	}
	if m := bitbucketServerPath.FindStringSubmatch(rawPath); m != nil {
		owner, name = m[2], m[3]
		if m[1] == "users" {
			owner = "~" + owner
		}
	}
	return owner, name, nil
}

var (
	strayPercent  = regexp.MustCompile(`%([^0-9A-Fa-f]|[0-9A-Fa-f][^0-9A-Fa-f]|[0-9A-Fa-f]?$)`)
	repeatedSlash = regexp.MustCompile(`/{2,}`)
)

// rawPath is a URL's path as written (escapes kept), with repeated slashes
// collapsed as Backstage's URL normalisation does.
func rawPath(target string) string {
	_, rest, ok := strings.Cut(target, "://")
	if !ok {
		return ""
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return ""
	}
	p := rest[i:]
	if j := strings.IndexAny(p, "?#"); j >= 0 {
		p = p[:j]
	}
	return repeatedSlash.ReplaceAllString(p, "/")
}

var bitbucketServerPath = regexp.MustCompile(`(projects|users)/(.*?)/repos/(.*?)((/.*$)|$)`)

// decodeURIComponent decodes %XX escapes as JavaScript does: a malformed
// escape or escaped bytes that are not UTF-8 fail with its URIError.
func decodeURIComponent(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		var run []byte
		for i < len(s) && s[i] == '%' {
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return "", uriMalformed()
			}
			run = append(run, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 3
		}
		if !utf8.Valid(run) {
			return "", uriMalformed()
		}
		b.Write(run)
		i--
	}
	return b.String(), nil
}

func uriMalformed() error {
	return &backend.Error{Kind: backend.ErrURI, Message: "URI malformed"}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}
