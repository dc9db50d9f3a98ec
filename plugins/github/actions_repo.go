package github

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	gitconfig "github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
	"golang.org/x/crypto/nacl/box"

	"github.com/understage/understage/catalog/ojson"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// ---- publish:github ----

func (o ActionOptions) publishGithub(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := builtin.Input(ac)
	t, err := o.target(in)
	if err != nil {
		return err
	}
	branch := strOr(in, "defaultBranch", "main")
	repo, err := o.createRepo(ctx, ac, t, in, false)
	if err != nil {
		return err
	}
	hash, err := o.pushAndProtect(ctx, ac, t, in, repo.cloneURL, branch,
		firstNonEmpty(strOr(in, "gitCommitMessage", ""), o.DefaultCommitMessage, "initial commit"))
	if err != nil {
		return err
	}
	ac.Output("commitHash", hash)
	ac.Output("remoteUrl", repo.cloneURL)
	ac.Output("repoContentsUrl", repo.htmlURL+"/blob/"+branch)
	return nil
}

// ---- github:repo:create ----

func (o ActionOptions) repoCreate(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := builtin.Input(ac)
	t, err := o.target(in)
	if err != nil {
		return err
	}
	repo, err := o.createRepo(ctx, ac, t, in, true)
	if err != nil {
		return err
	}
	// Backstage's handler outputs only remoteUrl, although the schema also
	// declares repoContentsUrl.
	ac.Output("remoteUrl", repo.cloneURL)
	return nil
}

// ---- github:repo:push ----

func (o ActionOptions) repoPush(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := builtin.Input(ac)
	t, err := o.target(in)
	if err != nil {
		return err
	}
	branch := strOr(in, "defaultBranch", "main")
	var r struct {
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
	}
	if _, err := t.client.call(ctx, http.MethodGet, repoPath(t, ""), nil, &r); err != nil {
		return apiError(err, "")
	}
	// The input's own default ("initial commit") wins over
	// scaffolder.defaultCommitMessage here, as in Backstage.
	hash, err := o.pushAndProtect(ctx, ac, t, in, r.CloneURL, branch, strOr(in, "gitCommitMessage", "initial commit"))
	if err != nil {
		return err
	}
	ac.Output("remoteUrl", r.CloneURL)
	ac.Output("repoContentsUrl", r.HTMLURL+"/blob/"+branch)
	ac.Output("commitHash", hash)
	return nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func repoPath(t *target, rest string) string {
	p := "repos/" + url.PathEscape(t.owner) + "/" + url.PathEscape(t.repo)
	if rest != "" {
		p += "/" + rest
	}
	return p
}

// ---- repository creation ----

type createdRepo struct{ cloneURL, htmlURL string }

// createRepo creates t's repository under its owner (an organisation or the
// authenticated user) with the step's settings, then grants access, sets
// topics, Actions variables and secrets, and the other extras asked for.
// Collaborator and topic failures are logged and skipped, as in Backstage.
func (o ActionOptions) createRepo(ctx context.Context, ac *scaffolder.ActionContext, t *target, in *ojson.Object, withRepoCreateExtras bool) (*createdRepo, error) {
	c := t.client
	var owner struct {
		Type string `json:"type"`
	}
	if _, err := c.call(ctx, http.MethodGet, "users/"+url.PathEscape(t.owner), nil, &owner); err != nil {
		return nil, apiError(err, "")
	}
	access := strOr(in, "access", "")
	if org, team, ok := strings.Cut(access, "/"); ok && org == t.owner {
		if _, err := c.call(ctx, http.MethodGet, "orgs/"+url.PathEscape(org)+"/teams/"+url.PathEscape(team), nil, nil); err != nil && statusOf(err) == http.StatusNotFound {
			return nil, backend.NotFound("Received 'Not Found' from the API; one of org:\n        %s or team: %s was not found within GitHub.", org, team)
		}
	}
	visibility := strOr(in, "repoVisibility", "private")
	body := map[string]any{
		"allow_auto_merge":            boolOr(in, "allowAutoMerge", false),
		"allow_merge_commit":          boolOr(in, "allowMergeCommit", true),
		"allow_rebase_merge":          boolOr(in, "allowRebaseMerge", true),
		"allow_squash_merge":          boolOr(in, "allowSquashMerge", true),
		"allow_update_branch":         boolOr(in, "allowUpdateBranch", false),
		"delete_branch_on_merge":      boolOr(in, "deleteBranchOnMerge", false),
		"name":                        t.repo,
		"private":                     visibility == "private",
		"squash_merge_commit_message": strOr(in, "squashMergeCommitMessage", "COMMIT_MESSAGES"),
		"squash_merge_commit_title":   strOr(in, "squashMergeCommitTitle", "COMMIT_OR_PR_TITLE"),
	}
	if withRepoCreateExtras {
		setIf(body, "auto_init", optBool(in, "autoInit"))
	}
	for key, field := range map[string]string{"description": "description", "homepage": "homepage"} {
		if s, ok, _ := builtin.StringInput(in, key); ok {
			body[field] = s
		}
	}
	setIf(body, "has_issues", optBool(in, "hasIssues"))
	setIf(body, "has_projects", optBool(in, "hasProjects"))
	setIf(body, "has_wiki", optBool(in, "hasWiki"))
	path := "user/repos"
	if owner.Type == "Organization" {
		path = "orgs/" + url.PathEscape(t.owner) + "/repos"
		body["visibility"] = visibility
		setIf(body, "custom_properties", plain(in, "customProperties"))
	}
	var created struct {
		CloneURL string `json:"clone_url"`
		HTMLURL  string `json:"html_url"`
	}
	if _, err := c.call(ctx, http.MethodPost, path, body, &created); err != nil {
		if apiMessage(err) == "Resource not accessible by integration" {
			warnf(ac, "The GitHub app or token provided may not have the required permissions to create the %s repository %s/%s.", owner.Type, t.owner, t.repo)
		}
		return nil, apiError(err, "Failed to create the %s repository %s/%s", owner.Type, t.owner, t.repo)
	}
	if org, team, ok := strings.Cut(access, "/"); ok && org == t.owner {
		if err := addTeam(ctx, c, t, team, "admin"); err != nil {
			return nil, apiError(err, "")
		}
	} else if access != "" && access != t.owner {
		if err := addCollaborator(ctx, c, t, access, "admin"); err != nil {
			return nil, apiError(err, "")
		}
	}
	if v, _ := in.Get("collaborators"); v != nil {
		list, _ := v.([]any)
		for _, e := range list {
			col, _ := e.(*ojson.Object)
			if col == nil {
				continue
			}
			perm := col.String("access")
			var err error
			switch {
			case col.Has("user"):
				err = addCollaborator(ctx, c, t, entityRefToName(col.String("user")), perm)
			case col.Has("team"):
				err = addTeam(ctx, c, t, entityRefToName(col.String("team")), perm)
			}
			if err != nil {
				name := col.String("username")
				if name == "" {
					name = col.String("user")
				}
				if name == "" {
					name = col.String("team")
				}
				warnf(ac, "Skipping %s access for %s, %s", perm, name, apiMessage(err))
			}
		}
	}
	if topics := strList(in, "topics"); topics != nil {
		names := make([]string, len(topics))
		for i, tp := range topics {
			names[i] = strings.ToLower(tp)
		}
		if _, err := c.call(ctx, http.MethodPut, repoPath(t, "topics"), map[string]any{"names": names}, nil); err != nil {
			warnf(ac, "Skipping topics %s, %s", strings.Join(topics, " "), apiMessage(err))
		}
	}
	if vars := in.Object("repoVariables"); vars != nil {
		for _, m := range vars.Members {
			if _, err := c.call(ctx, http.MethodPost, repoPath(t, "actions/variables"),
				map[string]any{"name": m.Key, "value": fmt.Sprint(ojson.ToGo(m.Value))}, nil); err != nil {
				return nil, apiError(err, "")
			}
		}
	}
	if secrets := in.Object("secrets"); secrets != nil {
		if err := putSecrets(ctx, c, t, secrets); err != nil {
			return nil, err
		}
	}
	if oidc := in.Object("oidcCustomization"); oidc != nil {
		b := map[string]any{}
		setIf(b, "use_default", plain(oidc, "useDefault"))
		setIf(b, "include_claim_keys", plain(oidc, "includeClaimKeys"))
		if _, err := c.call(ctx, http.MethodPut, repoPath(t, "actions/oidc/customization/sub"), b, nil); err != nil {
			return nil, apiError(err, "")
		}
	}
	if boolOr(in, "subscribe", false) {
		if _, err := c.call(ctx, http.MethodPut, repoPath(t, "subscription"),
			map[string]any{"subscribed": true, "ignored": false}, nil); err != nil {
			return nil, apiError(err, "")
		}
	}
	if wa := strOr(in, "workflowAccess", ""); withRepoCreateExtras && wa != "" {
		if _, err := c.call(ctx, http.MethodPut, repoPath(t, "actions/permissions/access"),
			map[string]any{"access_level": wa}, nil); err != nil {
			return nil, apiError(err, "")
		}
	}
	return &createdRepo{cloneURL: created.CloneURL, htmlURL: created.HTMLURL}, nil
}

var refPrefix = regexp.MustCompile(`^.*[:/]`)

// entityRefToName turns "user:default/jane" or "group:team-a" into the
// bare name GitHub knows.
func entityRefToName(ref string) string { return refPrefix.ReplaceAllString(ref, "") }

func addCollaborator(ctx context.Context, c *Client, t *target, user, perm string) error {
	_, err := c.call(ctx, http.MethodPut, repoPath(t, "collaborators/"+url.PathEscape(user)),
		map[string]any{"permission": perm}, nil)
	return err
}

func addTeam(ctx context.Context, c *Client, t *target, team, perm string) error {
	_, err := c.call(ctx, http.MethodPut, fmt.Sprintf("orgs/%s/teams/%s/repos/%s/%s", url.PathEscape(t.owner),
		url.PathEscape(team), url.PathEscape(t.owner), url.PathEscape(t.repo)), map[string]any{"permission": perm}, nil)
	return err
}

// putSecrets stores Actions secrets: each value is sealed (libsodium's
// crypto_box_seal, which nacl/box.SealAnonymous implements) with the
// repository's public key, so GitHub only ever sees ciphertext.
func putSecrets(ctx context.Context, c *Client, t *target, secrets *ojson.Object) error {
	var key struct {
		KeyID string `json:"key_id"`
		Key   string `json:"key"`
	}
	if _, err := c.call(ctx, http.MethodGet, repoPath(t, "actions/secrets/public-key"), nil, &key); err != nil {
		return apiError(err, "")
	}
	raw, err := base64.StdEncoding.DecodeString(key.Key)
	if err != nil || len(raw) != 32 {
		return fmt.Errorf("repository public key of %s/%s is not a 32-byte base64 key", t.owner, t.repo)
	}
	var pub [32]byte
	copy(pub[:], raw)
	for _, m := range secrets.Members {
		sealed, err := box.SealAnonymous(nil, []byte(fmt.Sprint(ojson.ToGo(m.Value))), &pub, rand.Reader)
		if err != nil {
			return fmt.Errorf("seal secret %s: %w", m.Key, err)
		}
		if _, err := c.call(ctx, http.MethodPut, repoPath(t, "actions/secrets/"+url.PathEscape(m.Key)),
			map[string]any{"encrypted_value": base64.StdEncoding.EncodeToString(sealed), "key_id": key.KeyID}, nil); err != nil {
			return apiError(err, "")
		}
	}
	return nil
}

// ---- push and branch protection ----

// pushAndProtect commits the source directory as the first commit of
// branch, pushes it to remoteURL with the token, then protects the branch
// when protectDefaultBranch (default true) asks for it.
func (o ActionOptions) pushAndProtect(ctx context.Context, ac *scaffolder.ActionContext, t *target, in *ojson.Object, remoteURL, branch, message string) (string, error) {
	dir, err := repoSourceDir(ac.Workspace, strOr(in, "sourcePath", ""))
	if err != nil {
		return "", err
	}
	author := object.Signature{
		Name:  firstNonEmpty(strOr(in, "gitAuthorName", ""), o.DefaultAuthorName, "Scaffolder"),
		Email: firstNonEmpty(strOr(in, "gitAuthorEmail", ""), o.DefaultAuthorEmail, "scaffolder@backstage.io"),
		When:  time.Now(),
	}
	hash, err := initRepoAndPush(ctx, ac, dir, remoteURL, branch, t.token, message, author)
	if err != nil {
		return "", err
	}
	if boolOr(in, "protectDefaultBranch", true) {
		if err := protectBranch(ctx, t, in, branch); err != nil {
			warnf(ac, "Skipping: default branch protection on '%s', %s", t.repo, apiMessage(err))
		}
	}
	return hash, nil
}

// initRepoAndPush is Backstage's initRepoAndPush with go-git: a new
// repository whose work tree is dir, every file added (.gitignore honoured,
// .git never), one commit by author, pushed to remoteURL as branch. The
// repository's objects stay in memory so that nothing is written into the
// workspace and a .git shipped in a skeleton cannot redirect anything.
func initRepoAndPush(ctx context.Context, ac *scaffolder.ActionContext, dir, remoteURL, branch, token, message string, author object.Signature) (string, error) {
	logf(ac, "Init git repository {dir=%s}", dir)
	repo, err := git.InitWithOptions(memory.NewStorage(), osfs.New(dir, osfs.WithBoundOS()),
		git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(branch)})
	if err != nil {
		return "", fmt.Errorf("git init: %w", err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return "", fmt.Errorf("git worktree: %w", err)
	}
	logf(ac, "Adding file {dir=%s,filepath=.}", dir)
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		return "", fmt.Errorf("git add: %w", err)
	}
	logf(ac, "Committing file to repo {dir=%s,message=%s}", dir, message)
	hash, err := wt.Commit(message, &git.CommitOptions{Author: &author, Committer: &author, AllowEmptyCommits: true})
	if err != nil {
		return "", fmt.Errorf("git commit: %w", err)
	}
	if _, err := repo.CreateRemote(&gitconfig.RemoteConfig{Name: "origin", URLs: []string{remoteURL}}); err != nil {
		return "", fmt.Errorf("git remote: %w", err)
	}
	logf(ac, "Pushing directory to remote {dir=%s,remote=origin}", dir)
	ref := plumbing.NewBranchReferenceName(branch)
	err = repo.PushContext(ctx, &git.PushOptions{
		RemoteName: "origin",
		RefSpecs:   []gitconfig.RefSpec{gitconfig.RefSpec(ref + ":" + ref)},
		Auth:       &githttp.BasicAuth{Username: "x-access-token", Password: token},
	})
	if err != nil && err != git.NoErrAlreadyUpToDate {
		return "", fmt.Errorf("git push to %s: %w", redactURL(remoteURL), err)
	}
	return hash.String(), nil
}

// redactURL drops credentials from a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	u.User = nil
	return u.String()
}

// protectBranch is Backstage's enableBranchProtectionOnDefaultRepoBranch: one
// retry after a short wait when GitHub has not seen the pushed branch yet.
func protectBranch(ctx context.Context, t *target, in *ojson.Object, branch string) error {
	reviews := map[string]any{
		"required_approving_review_count": numberOr(in, "requiredApprovingReviewCount", 1),
		"require_code_owner_reviews":      boolOr(in, "requireCodeOwnerReviews", false),
		"dismiss_stale_reviews":           boolOr(in, "dismissStaleReviews", false),
		"require_last_push_approval":      boolOr(in, "requireLastPushApproval", false),
	}
	setIf(reviews, "bypass_pull_request_allowances", plain(in, "bypassPullRequestAllowances"))
	contexts := strList(in, "requiredStatusCheckContexts")
	if contexts == nil {
		contexts = []string{}
	}
	body := map[string]any{
		"required_status_checks": map[string]any{
			"strict":   boolOr(in, "requireBranchesToBeUpToDate", true),
			"contexts": contexts,
		},
		"restrictions":                     plain(in, "restrictions"),
		"enforce_admins":                   boolOr(in, "protectEnforceAdmins", true),
		"required_pull_request_reviews":    reviews,
		"required_conversation_resolution": boolOr(in, "requiredConversationResolution", false),
		"required_linear_history":          boolOr(in, "requiredLinearHistory", false),
		"block_creations":                  false,
	}
	p := repoPath(t, "branches/"+url.PathEscape(branch)+"/protection")
	once := func() error {
		if _, err := t.client.call(ctx, http.MethodPut, p, body, nil); err != nil {
			if strings.Contains(apiMessage(err), "Upgrade to GitHub Pro or make this repository public to enable this feature") {
				return nil
			}
			return err
		}
		if boolOr(in, "requiredCommitSigning", false) {
			if _, err := t.client.call(ctx, http.MethodPost, p+"/required_signatures", nil, nil); err != nil {
				return err
			}
		}
		return nil
	}
	err := once()
	if err == nil || !strings.Contains(apiMessage(err), "Branch not found") {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(600 * time.Millisecond):
	}
	return once()
}
