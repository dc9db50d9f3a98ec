package github

import (
	"context"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing/format/gitignore"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	"github.com/understage/understage/scaffolder/workspace"
)

// dryRunPullRequestNumber is what Backstage's dry run reports.
const dryRunPullRequestNumber = 43

// prFile is one change of the pull request's commit.
type prFile struct {
	mode    string // 100644, 100755 or 120000
	content []byte // nil with remove
	symlink bool
	remove  bool
}

// ---- publish:github:pull-request ----

//go:embed schemas/publish_github_pull_request.input.json
var publishGithubPullRequestInput []byte

//go:embed schemas/publish_github_pull_request.output.json
var publishGithubPullRequestOutput []byte

// publishGithubPullRequestAction declares publish:github:pull-request: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o ActionOptions) publishGithubPullRequestAction() scaffolder.Action {
	return scaffolder.Action{
		ID: "publish:github:pull-request",
		Examples: []scaffolder.ActionExample{
			{Description: "Create a pull request",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
`},
			{Description: "Create a pull request with target branch name",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request with target branch name
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      targetBranchName: test
`},
			{Description: "Create a pull request as draft",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request as draft
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      draft: true
`},
			{Description: "Create a pull request with target path",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request with target path
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      targetPath: targetPath
`},
			{Description: "Create a pull request with source path",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request with source path
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      sourcePath: source
`},
			{Description: "Create a pull request with token",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      token: gph_YourGitHubToken
`},
			{Description: "Create a pull request with reviewers",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request with reviewers
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      reviewers:
        - foobar
`},
			{Description: "Create a pull request with team reviewers",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request with team reviewers
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      teamReviewers:
        - team-foo
`},
			{Description: "Create a pull request with commit message",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      commitMessage: Custom commit message
`},
			{Description: "Create a pull request with a git author name and email",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      gitAuthorName: Foo Bar
      gitAuthorEmail: foo@bar.example
`},
			{Description: "Create a pull request with a git author name",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      gitAuthorName: Foo Bar
`},
			{Description: "Create a pull request with a git author email",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      gitAuthorEmail: foo@bar.example
`},
			{Description: "Do not create empty pull request",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      createWhenEmpty: false
`},
			{Description: "Create a pull request with all parameters",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      targetBranchName: test
      draft: true
      targetPath: targetPath
      sourcePath: source
      token: gph_YourGitHubToken
      reviewers:
        - foobar
      teamReviewers:
        - team-foo
      commitMessage: Commit for foo changes
      gitAuthorName: Foo Bar
      gitAuthorEmail: foo@bar.example
      createWhenEmpty: true
`},
			{Description: "Create a pull request with assignees",
				Example: `steps:
  - action: publish:github:pull-request
    name: Create a pull request with reviewers
    input:
      repoUrl: github.com?repo=repo&owner=owner
      branchName: new-app
      title: Create my new app
      description: This PR is really good
      assignees:
        - foobar
`},
		},
		Input:          publishGithubPullRequestInput,
		Output:         publishGithubPullRequestOutput,
		SupportsDryRun: true,
		Run:            o.pullRequest,
	}
}

func (o ActionOptions) pullRequest(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := builtin.Input(ac)
	repoURL, err := builtin.RequiredStringInput(in, "repoUrl")
	if err != nil {
		return err
	}
	host, owner, repo, err := o.parseRepoURL(repoURL)
	if err != nil {
		return err
	}
	if owner == "" {
		return backend.Input("No owner provided for host: %s, and repo %s", host, repo)
	}
	tok := strOr(in, "token", "")
	if o.RequireSCMUserCredentials && tok == "" {
		return backend.Input("No user credentials provided for host %s, but scaffolder.requireScmUserCredentials is enabled", host)
	}
	client, tok, err := o.clientFor(host, owner, repo, tok)
	if err != nil {
		return err
	}
	t := &target{host: host, owner: owner, repo: repo, token: tok, client: client}
	root := ac.Workspace
	if sp := strOr(in, "sourcePath", ""); sp != "" {
		if root, err = workspace.ResolveSafeChildPath(ac.Workspace, sp); err != nil {
			return err
		}
	}
	targetPath := strOr(in, "targetPath", "")
	files, err := serializeDir(root)
	if err != nil {
		return err
	}
	changes := map[string]prFile{}
	for p, f := range files {
		if targetPath != "" {
			p = path.Join(targetPath, p)
		}
		changes[p] = f
	}
	for _, p := range strList(in, "filesToDelete") {
		if targetPath != "" {
			p = path.Join(targetPath, p)
		}
		changes[p] = prFile{remove: true}
	}
	branchName, err := builtin.RequiredStringInput(in, "branchName")
	if err != nil {
		return err
	}
	if ac.IsDryRun {
		logf(ac, "Performing dry run of creating pull request")
		ac.Output("targetBranchName", branchName)
		ac.Output("remoteUrl", repoURL)
		ac.Output("pullRequestNumber", dryRunPullRequestNumber)
		logf(ac, "Dry run complete")
		return nil
	}
	title := strOr(in, "title", "")
	msg := strOr(in, "commitMessage", "")
	if _, ok, _ := builtin.StringInput(in, "commitMessage"); !ok {
		msg = firstNonEmpty(o.DefaultCommitMessage, title)
	}
	var author map[string]any
	name, email := strOr(in, "gitAuthorName", o.DefaultAuthorName), strOr(in, "gitAuthorEmail", o.DefaultAuthorEmail)
	if !boolOr(in, "forceEmptyGitAuthor", false) && (name != "" || email != "") {
		author = map[string]any{"name": firstNonEmpty(name, "Scaffolder"), "email": firstNonEmpty(email, "scaffolder@backstage.io")}
	}
	pr, err := openPullRequest(ctx, t, prRequest{
		title: title, body: strOr(in, "description", ""), head: branchName, base: strOr(in, "targetBranchName", ""),
		draft: boolOr(in, "draft", false), update: boolOr(in, "update", false), forceFork: boolOr(in, "forceFork", false),
		createWhenEmpty: optBool(in, "createWhenEmpty"), message: msg, author: author, changes: changes,
	})
	if err != nil {
		return &causedError{msg: "Pull request creation failed; caused by " + errorText(err), cause: err}
	}
	if pr == nil {
		logf(ac, "No changes to commit, pull request was not created")
		return nil
	}
	reviewers, teams := strList(in, "reviewers"), strList(in, "teamReviewers")
	if reviewers != nil || teams != nil {
		body := map[string]any{}
		setIf(body, "reviewers", nilIfEmpty(reviewers))
		if teams != nil {
			body["team_reviewers"] = dedupe(teams)
		}
		var res struct {
			Users []struct{ Login string } `json:"requested_reviewers"`
			Teams []struct{ Slug string }  `json:"requested_teams"`
		}
		if _, err := client.call(ctx, http.MethodPost, repoPath(t, fmt.Sprintf("pulls/%d/requested_reviewers", pr.Number)), body, &res); err != nil {
			warnf(ac, "Failure when adding reviewers to Pull request %d", pr.Number)
		} else {
			var us, ts []string
			for _, u := range res.Users {
				us = append(us, u.Login)
			}
			for _, tm := range res.Teams {
				ts = append(ts, tm.Slug)
			}
			logf(ac, "Added users [%s] and teams [%s] as reviewers to Pull request %d", strings.Join(us, ", "), strings.Join(ts, ", "), pr.Number)
		}
	}
	if assignees := strList(in, "assignees"); assignees != nil {
		if len(assignees) > 10 {
			warnf(ac, "Assignees list is too long, only the first 10 will be used.")
		}
		var res struct {
			Assignees []struct{ Login string } `json:"assignees"`
		}
		if _, err := client.call(ctx, http.MethodPost, repoPath(t, fmt.Sprintf("issues/%d/assignees", pr.Number)),
			map[string]any{"assignees": assignees}, &res); err != nil {
			warnf(ac, "Failure when adding assignees to Pull request %d", pr.Number)
		} else {
			var as []string
			for _, a := range res.Assignees {
				as = append(as, a.Login)
			}
			logf(ac, "Added assignees [%s] to Pull request %d", strings.Join(as, ", "), pr.Number)
		}
	}
	ac.Output("targetBranchName", pr.Base.Ref)
	ac.Output("remoteUrl", pr.HTMLURL)
	ac.Output("pullRequestNumber", pr.Number)
	return nil
}

// causedError is Backstage's CustomErrorBase: its message names the cause,
// and it keeps the cause for errors.Is/As.
type causedError struct {
	msg   string
	cause error
}

func (e *causedError) Error() string { return e.msg }
func (e *causedError) Unwrap() error { return e.cause }

func errorText(err error) string {
	var be *backend.Error
	if errors.As(err, &be) {
		return be.Message
	}
	return apiMessage(err)
}

func nilIfEmpty(l []string) any {
	if l == nil {
		return nil
	}
	return l
}

func dedupe(l []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range l {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

type prRequest struct {
	title, body, head, base  string
	draft, update, forceFork bool
	createWhenEmpty          any // nil or bool
	message                  string
	author                   map[string]any
	changes                  map[string]prFile
}

type pullJSON struct {
	Number  int    `json:"number"`
	HTMLURL string `json:"html_url"`
	Base    struct {
		Ref string `json:"ref"`
	} `json:"base"`
}

// openPullRequest does through the REST API what
// octokit-plugin-create-pull-request does for Backstage: one commit with
// the changes on top of base, the head branch created (or, with update,
// moved) to it, and the pull request opened (or updated). It returns nil
// when nothing changed and createWhenEmpty is false.
func openPullRequest(ctx context.Context, t *target, r prRequest) (*pullJSON, error) {
	c := t.client
	if r.head == r.base {
		return nil, errors.New(`[octokit-plugin-create-pull-request] "head" cannot be the same value as "base"`)
	}
	if r.forceFork {
		return nil, backend.Errorf(backend.ErrNotImplemented, "forceFork is not supported")
	}
	var repo struct {
		DefaultBranch string          `json:"default_branch"`
		Permissions   map[string]bool `json:"permissions"`
	}
	if _, err := c.call(ctx, http.MethodGet, repoPath(t, ""), nil, &repo); err != nil {
		return nil, err
	}
	if repo.Permissions == nil {
		return nil, errors.New("[octokit-plugin-create-pull-request] Missing authentication")
	}
	if r.base == "" {
		r.base = repo.DefaultBranch
	}
	var latest struct {
		SHA    string `json:"sha"`
		Commit struct {
			Tree struct {
				SHA string `json:"sha"`
			} `json:"tree"`
		} `json:"commit"`
	}
	if _, err := c.call(ctx, http.MethodGet, repoPath(t, "commits/"+url.PathEscape(r.base)), nil, &latest); err != nil {
		return nil, err
	}
	treeSHA := latest.Commit.Tree.SHA
	var entries []map[string]any
	paths := make([]string, 0, len(r.changes))
	for p := range r.changes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		f := r.changes[p]
		switch {
		case f.remove:
			// Deleting a path the base does not have is an error on GitHub.
			req, err := c.gh.NewRequest(http.MethodHead, repoPath(t, "contents/"+escapePath(p))+"?ref="+url.QueryEscape(r.base), nil)
			if err != nil {
				return nil, err
			}
			if _, err := c.gh.Do(ctx, req, nil); err != nil {
				continue
			}
			entries = append(entries, map[string]any{"path": p, "mode": "100644", "sha": nil})
		case f.symlink:
			entries = append(entries, map[string]any{"path": p, "mode": f.mode, "content": string(f.content)})
		default:
			var blob struct {
				SHA string `json:"sha"`
			}
			if _, err := c.call(ctx, http.MethodPost, repoPath(t, "git/blobs"), map[string]any{
				"mode": f.mode, "encoding": "base64", "content": base64.StdEncoding.EncodeToString(f.content)}, &blob); err != nil {
				return nil, err
			}
			entries = append(entries, map[string]any{"path": p, "mode": f.mode, "sha": blob.SHA})
		}
	}
	newTree := treeSHA
	if len(entries) > 0 {
		var tree struct {
			SHA string `json:"sha"`
		}
		if _, err := c.call(ctx, http.MethodPost, repoPath(t, "git/trees"),
			map[string]any{"base_tree": treeSHA, "tree": entries}, &tree); err != nil {
			return nil, err
		}
		newTree = tree.SHA
	}
	commitBody := map[string]any{"message": r.message, "tree": newTree, "parents": []string{latest.SHA}}
	setIf(commitBody, "author", mapOrNil(r.author))
	var commit struct {
		SHA string `json:"sha"`
	}
	if _, err := c.call(ctx, http.MethodPost, repoPath(t, "git/commits"), commitBody, &commit); err != nil {
		return nil, err
	}
	if newTree == treeSHA && r.createWhenEmpty == false {
		return nil, nil
	}
	branchExists := true
	if _, err := c.call(ctx, http.MethodGet, repoPath(t, "git/ref/heads/"+escapePath(r.head)), nil, nil); err != nil {
		if statusOf(err) != http.StatusNotFound {
			return nil, err
		}
		branchExists = false
	}
	var open []pullJSON
	if branchExists {
		q := url.Values{"head": {t.owner + ":" + r.head}, "state": {"open"}, "per_page": {"1"}}
		if _, err := c.call(ctx, http.MethodGet, repoPath(t, "pulls?"+q.Encode()), nil, &open); err != nil {
			return nil, err
		}
		if len(open) > 0 && !r.update {
			return nil, fmt.Errorf("[octokit-plugin-create-pull-request] Pull request already exists: %s. Set update=true to enable updating", open[0].HTMLURL)
		}
		if _, err := c.call(ctx, http.MethodPatch, repoPath(t, "git/refs/heads/"+escapePath(r.head)),
			map[string]any{"sha": commit.SHA, "force": true}, nil); err != nil {
			return nil, err
		}
	} else if _, err := c.call(ctx, http.MethodPost, repoPath(t, "git/refs"),
		map[string]any{"ref": "refs/heads/" + r.head, "sha": commit.SHA}, nil); err != nil {
		return nil, err
	}
	body := map[string]any{"head": t.owner + ":" + r.head, "base": r.base, "title": r.title, "draft": r.draft}
	if r.body != "" {
		body["body"] = r.body
	}
	var pr pullJSON
	if len(open) > 0 {
		if _, err := c.call(ctx, http.MethodPatch, repoPath(t, fmt.Sprintf("pulls/%d", open[0].Number)), body, &pr); err != nil {
			return nil, err
		}
	} else if _, err := c.call(ctx, http.MethodPost, repoPath(t, "pulls"), body, &pr); err != nil {
		return nil, err
	}
	return &pr, nil
}

func mapOrNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// serializeDir reads the files under root as Backstage's
// serializeDirectoryContents does with gitignore: every file including
// dotfiles, except .git and what .gitignore files exclude; symlinks are
// kept as links (their target text), never followed.
func serializeDir(root string) (map[string]prFile, error) {
	patterns, err := gitignore.ReadPatterns(osfs.New(root, osfs.WithBoundOS()), nil)
	if err != nil {
		return nil, fmt.Errorf("read .gitignore: %w", err)
	}
	matcher := gitignore.NewMatcher(patterns)
	out := map[string]prFile{}
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if d.IsDir() {
			if d.Name() == ".git" || matcher.Match(parts, true) {
				return filepath.SkipDir
			}
			return nil
		}
		if matcher.Match(parts, false) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := prFile{mode: "100644"}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			f.mode, f.symlink, f.content = "120000", true, []byte(link)
		case info.Mode().IsRegular():
			if info.Mode()&0o111 != 0 {
				f.mode = "100755"
			}
			if f.content, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return nil
		}
		out[filepath.ToSlash(rel)] = f
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", root, err)
	}
	return out, nil
}
