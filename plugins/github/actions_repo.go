package github

import (
	"context"
	"crypto/rand"
	_ "embed"
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

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// ---- publish:github ----

//go:embed schemas/publish_github.input.json
var publishGithubInput []byte

//go:embed schemas/publish_github.output.json
var publishGithubOutput []byte

// publishGithubAction declares publish:github: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o ActionOptions) publishGithubAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "publish:github",
		Description: "Initializes a git repository of contents in workspace and publishes it to GitHub.",
		Examples: []scaffolder.ActionExample{
			{Description: "Initializes a git repository with the content in the workspace, and publishes it to GitHub with the default configuration.",
				Example: `steps:
  - id: publish
    action: publish:github
    name: Publish to GitHub
    input:
      repoUrl: github.com?repo=repo&owner=owner
`},
			{Description: "Initializes a GitHub repository with a description.",
				Example: `steps:
  - id: publish
    action: publish:github
    name: Publish to GitHub
    input:
      repoUrl: github.com?repo=repo&owner=owner
      description: Initialize a git repository
`},
			{Description: "Initializes a GitHub repository with public repo visibility, if not set defaults to private",
				Example: `steps:
  - id: publish
    action: publish:github
    name: Publish to GitHub
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: public
`},
		},
		Input:          publishGithubInput,
		Output:         publishGithubOutput,
		SupportsDryRun: false,
		Run:            o.publishGithub,
	}
}

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

//go:embed schemas/github_repo_create.input.json
var githubRepoCreateInput []byte

//go:embed schemas/github_repo_create.output.json
var githubRepoCreateOutput []byte

// githubRepoCreateAction declares github:repo:create: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o ActionOptions) githubRepoCreateAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "github:repo:create",
		Description: "Creates a GitHub repository.",
		Examples: []scaffolder.ActionExample{
			{Description: "Creates a GitHub repository with default configuration.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository
    input:
      repoUrl: github.com?repo=repo&owner=owner
`},
			{Description: "Add a description.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with a description
    input:
      repoUrl: github.com?repo=repo&owner=owner
      description: My new repository
`},
			{Description: "Disable wiki and issues.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository without wiki and issues
    input:
      repoUrl: github.com?repo=repo&owner=owner
      hasIssues: false
      hasWiki: false
`},
			{Description: "Set repository homepage.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with homepage
    input:
      repoUrl: github.com?repo=repo&owner=owner
      homepage: https://example.com
`},
			{Description: "Create a private repository.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new private GitHub repository
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: private
`},
			{Description: "Enable required code owner reviews.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with required code owner reviews
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requireCodeOwnerReviews: true
`},
			{Description: "Set required approving review count to 2.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with required approving review count
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredApprovingReviewCount: 2
`},
			{Description: "Allow squash merge only.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository allowing only squash merge
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowMergeCommit: false
      allowSquashMerge: true
      allowRebaseMerge: false
`},
			{Description: "Set squash merge commit title to pull request title.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with squash merge commit title set to pull
      request title
    input:
      repoUrl: github.com?repo=repo&owner=owner
      squashMergeCommitTitle: pull_request_title
`},
			{Description: "Set squash merge commit message to blank.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with squash merge commit message set to
      blank
    input:
      repoUrl: github.com?repo=repo&owner=owner
      squashMergeCommitMessage: blank
`},
			{Description: "Allow auto-merge.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository allowing auto-merge
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowAutoMerge: true
`},
			{Description: "Set collaborators with push access.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with collaborators having push access
    input:
      repoUrl: github.com?repo=repo&owner=owner
      collaborators:
        - username: user1
          permission: push
        - username: user2
          permission: push
`},
			{Description: "Add topics to repository.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with topics
    input:
      repoUrl: github.com?repo=repo&owner=owner
      topics:
        - devops
        - kubernetes
        - ci-cd
`},
			{Description: "Add secret variables to repository.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with secret variables
    input:
      repoUrl: github.com?repo=repo&owner=owner
      secrets:
        - name: SECRET_KEY
          value: supersecretkey
        - name: API_TOKEN
          value: tokenvalue
`},
			{Description: "Enable branch protection requiring status checks.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch protection requiring status
      checks
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredStatusCheckContexts:
        - "ci/circleci: build"
`},
			{Description: "Require branches to be up-to-date before merging.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository requiring branches to be up-to-date before
      merging
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requireBranchesToBeUpToDate: true
`},
			{Description: "Require conversation resolution before merging.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository requiring conversation resolution before
      merging
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredConversationResolution: true
`},
			{Description: "Delete branch on merge.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch deletion on merge
    input:
      repoUrl: github.com?repo=repo&owner=owner
      deleteBranchOnMerge: true
`},
			{Description: "Customize OIDC token.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with OIDC token customization
    input:
      repoUrl: github.com?repo=repo&owner=owner
      oidcCustomization:
        sub: repo:owner/repo
        aud: https://github.com
`},
			{Description: "Require commit signing.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository requiring commit signing
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredCommitSigning: true
`},
			{Description: "Set multiple properties including description, homepage, and visibility.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with multiple properties
    input:
      repoUrl: github.com?repo=repo&owner=owner
      description: A repository for project XYZ
      homepage: https://project-xyz.com
      repoVisibility: internal
`},
			{Description: "Configure branch protection with multiple settings.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch protection settings
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredStatusCheckContexts:
        - "ci/circleci: build"
        - "ci/circleci: test"
      requireBranchesToBeUpToDate: true
      requiredConversationResolution: true
      requiredApprovingReviewCount: 2
`},
			{Description: "Set repository access to private and add collaborators with admin access.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new private GitHub repository with collaborators
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: private
      collaborators:
        - username: admin1
          permission: admin
        - username: admin2
          permission: admin
`},
			{Description: "Enable GitHub Projects for the repository.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with GitHub Projects enabled
    input:
      repoUrl: github.com?repo=repo&owner=owner
      hasProjects: true
`},
			{Description: "Disable merge commits and allow only rebase and squash merges.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository allowing only rebase and squash merges
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowMergeCommit: false
      allowRebaseMerge: true
      allowSquashMerge: true
`},
			{Description: "Set repository access to internal with no projects and issues.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new internal GitHub repository without projects and issues
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: internal
      hasProjects: false
      hasIssues: false
`},
			{Description: "Create repository with OIDC customization for specific audience.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with OIDC customization for specific
      audience
    input:
      repoUrl: github.com?repo=repo&owner=owner
      oidcCustomization:
        sub: repo:owner/repo
        aud: https://specific-audience.com
`},
			{Description: "Require all branches to be up-to-date before merging.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository requiring all branches to be up-to-date
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requireBranchesToBeUpToDate: true
`},
			{Description: "Set description and topics for the repository.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with description and topics
    input:
      repoUrl: github.com?repo=repo&owner=owner
      description: Repository for project ABC
      topics:
        - python
        - machine-learning
        - data-science
`},
			{Description: "Set repository visibility to public and enable commit signing.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new public GitHub repository with commit signing required
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: public
      requiredCommitSigning: true
`},
			{Description: "Create a repository with collaborators and default branch protection.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with collaborators and branch protection
    input:
      repoUrl: github.com?repo=repo&owner=owner
      collaborators:
        - username: contributor1
          permission: write
        - username: contributor2
          permission: write
      requiredStatusCheckContexts:
        - "ci/travis: build"
`},
			{Description: "Add multiple secret variables.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with multiple secret variables
    input:
      repoUrl: github.com?repo=repo&owner=owner
      secrets:
        - name: SECRET_KEY_1
          value: value1
        - name: SECRET_KEY_2
          value: value2
`},
			{Description: "Require a minimum of 2 approving reviews for merging.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with 2 required approving reviews
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredApprovingReviewCount: 2
`},
			{Description: "Enable branch protection with conversation resolution required.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch protection and conversation
      resolution required
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredConversationResolution: true
`},
			{Description: "Set repository visibility to internal with description and homepage.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new internal GitHub repository with description and homepage
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: internal
      description: Internal repository for team collaboration
      homepage: https://internal.example.com
`},
			{Description: "Disable auto-merge.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with auto-merge disabled
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowAutoMerge: false
`},
			{Description: "Set repository topics and enable GitHub Projects.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with topics and GitHub Projects enabled
    input:
      repoUrl: github.com?repo=repo&owner=owner
      topics:
        - opensource
        - nodejs
        - api
      hasProjects: true
`},
			{Description: "Create a private repository with collaborators having admin and write access.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new private GitHub repository with multiple collaborators
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: private
      collaborators:
        - username: admin1
          permission: admin
        - username: writer1
          permission: write
`},
			{Description: "Disable branch deletion on merge.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch deletion on merge disabled
    input:
      repoUrl: github.com?repo=repo&owner=owner
      deleteBranchOnMerge: false
`},
			{Description: "Set repository visibility to internal and enable commit signing.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new internal GitHub repository with commit signing required
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: internal
      requiredCommitSigning: true
`},
			{Description: "Create repository with description, homepage, and required status checks.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with description, homepage, and status
      checks
    input:
      repoUrl: github.com?repo=repo&owner=owner
      description: Repository for web application project
      homepage: https://webapp.example.com
      requiredStatusCheckContexts:
        - "ci/travis: build"
        - "ci/travis: lint"
`},
			{Description: "Enable squash merges only and set commit message to pull request description.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository allowing only squash merges with commit
      message set to pull request description
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowMergeCommit: false
      allowSquashMerge: true
      allowRebaseMerge: false
      squashMergeCommitMessage: pull_request_description
`},
			{Description: "Enable rebase merges only and require commit signing.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository allowing only rebase merges with commit
      signing required
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowMergeCommit: false
      allowRebaseMerge: true
      allowSquashMerge: false
      requiredCommitSigning: true
`},
			{Description: "Create repository with OIDC customization for multiple audiences.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with OIDC customization for multiple
      audiences
    input:
      repoUrl: github.com?repo=repo&owner=owner
      oidcCustomization:
        sub: repo:owner/repo
        aud:
          - https://audience1.com
          - https://audience2.com
`},
			{Description: "Enable branch protection with required approving reviews and status checks.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch protection requiring approving
      reviews and status checks
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredApprovingReviewCount: 2
      requiredStatusCheckContexts:
        - "ci/circleci: build"
        - "ci/circleci: test"
`},
			{Description: "Create a public repository with topics and secret variables.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new public GitHub repository with topics and secret variables
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: public
      topics:
        - javascript
        - react
        - frontend
      secrets:
        - name: API_KEY
          value: apikeyvalue
        - name: DB_PASSWORD
          value: dbpasswordvalue
`},
			{Description: "Set repository description and disable issues and wiki.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with description, and disable issues and
      wiki
    input:
      repoUrl: github.com?repo=repo&owner=owner
      description: Repository for backend service
      hasIssues: false
      hasWiki: false
`},
			{Description: "Enable required conversation resolution and commit signing.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with required conversation resolution and
      commit signing
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredConversationResolution: true
      requiredCommitSigning: true
`},
			{Description: "Set repository visibility to private and require branches to be up-to-date.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new private GitHub repository requiring branches to be up-to-date
    input:
      repoUrl: github.com?repo=repo&owner=owner
      repoVisibility: private
      requireBranchesToBeUpToDate: true
`},
			{Description: "Create a repository with default settings and add multiple topics.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with default settings and topics
    input:
      repoUrl: github.com?repo=repo&owner=owner
      topics:
        - devops
        - ci-cd
        - automation
`},
			{Description: "Disable merge commits, enable auto-merge, and require commit signing.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository disabling merge commits, enabling
      auto-merge, and requiring commit signing
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowMergeCommit: false
      allowAutoMerge: true
      requiredCommitSigning: true
`},
			{Description: "Create a repository with homepage, collaborators, and topics.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with homepage, collaborators, and topics
    input:
      repoUrl: github.com?repo=repo&owner=owner
      homepage: https://example.com
      collaborators:
        - username: user1
          permission: push
        - username: user2
          permission: admin
      topics:
        - opensource
        - contribution
`},
			{Description: "Create a repository with branch protection and description.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch protection and description
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredStatusCheckContexts:
        - "ci/travis: build"
      requiredApprovingReviewCount: 1
      description: Repository for microservice development
`},
			{Description: "Create a repository with OIDC customization and topics.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with OIDC customization and topics
    input:
      repoUrl: github.com?repo=repo&owner=owner
      oidcCustomization:
        sub: repo:owner/repo
        aud: https://api.example.com
      topics:
        - api
        - security
`},
			{Description: "Enable required code owner reviews and branch deletion on merge.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with required code owner reviews and branch
      deletion on merge
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requireCodeOwnerReviews: true
      deleteBranchOnMerge: true
`},
			{Description: "Create a repository with multiple secret variables and collaborators.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with multiple secret variables and
      collaborators
    input:
      repoUrl: github.com?repo=repo&owner=owner
      secrets:
        - name: API_SECRET
          value: secretvalue
        - name: DB_USER
          value: dbuser
      collaborators:
        - username: dev1
          permission: write
        - username: dev2
          permission: push
`},
			{Description: "Enable branch protection requiring status checks and conversation resolution.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with branch protection requiring status
      checks and conversation resolution
    input:
      repoUrl: github.com?repo=repo&owner=owner
      requiredStatusCheckContexts:
        - ci/build
      requiredConversationResolution: true
`},
			{Description: "Allow branch updates.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository allowing branch updates
    input:
      repoUrl: github.com?repo=repo&owner=owner
      allowUpdateBranch: true
`},
			{Description: "Create a repository with an initial commit.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository with an initial (signed) commit containing
      a README
    input:
      repoUrl: github.com?repo=repo&owner=owner
      autoInit: true
`},
			{Description: "Allow workflow access for organization.",
				Example: `steps:
  - action: github:repo:create
    name: Create a new GitHub repository that allows org-wide access to its workflows
    input:
      repoUrl: github.com?owner=owner&repo=repo
      workflowAccess: organization
`},
		},
		Input:          githubRepoCreateInput,
		Output:         githubRepoCreateOutput,
		SupportsDryRun: false,
		Run:            o.repoCreate,
	}
}

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

//go:embed schemas/github_repo_push.input.json
var githubRepoPushInput []byte

//go:embed schemas/github_repo_push.output.json
var githubRepoPushOutput []byte

// githubRepoPushAction declares github:repo:push: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o ActionOptions) githubRepoPushAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "github:repo:push",
		Description: "Initializes a git repository of contents in workspace and publishes it to GitHub.",
		Examples: []scaffolder.ActionExample{
			{Description: "Setup repo with no modifications to branch protection rules",
				Example: `steps:
  - action: github:repo:push
    name: Create test repo with testuser as owner.
    input:
      repoUrl: github.com?repo=test&owner=testuser
`},
			{Description: "Setup repo with required codeowners check",
				Example: `steps:
  - action: github:repo:push
    name: Require codeowner branch protection rule
    input:
      repoUrl: github.com?repo=reponame&owner=owner
      requireCodeOwnerReviews: true
`},
			{Description: "Change the default required number of approvals",
				Example: `steps:
  - action: github:repo:push
    name: Require two approvals before merging
    input:
      repoUrl: github.com?repo=reponame&owner=owner
      requiredApprovingReviewCount: 2
`},
		},
		Input:          githubRepoPushInput,
		Output:         githubRepoPushOutput,
		SupportsDryRun: false,
		Run:            o.repoPush,
	}
}

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
