package github_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
	"github.com/understage/understage/scaffolder"
)

const testToken = "ghp_test_token"

// env is a fake GitHub that also hosts git over smart HTTP, and action
// options pointing at it as the github.com integration.
type env struct {
	srv  *githubtest.Server
	opts github.ActionOptions
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := githubtest.New(t)
	srv.Token = testToken
	if err := srv.ServeGit(t.TempDir()); err != nil {
		t.Skip(err)
	}
	srv.AddMember("acme", "octocat")
	srv.AddUser(githubtest.User{Login: "jane"})
	srv.AddTeam("acme", githubtest.Team{Slug: "team-a"})
	return &env{srv: srv, opts: github.ActionOptions{
		Integrations: []github.Integration{{Host: "github.com", APIBaseURL: srv.APIURL(), Token: testToken}},
	}}
}

type result struct {
	out map[string]any
	log string
}

// run runs one action by id with a JSON input in workspace ws.
func (e *env) run(t *testing.T, id, input, ws string, dryRun bool) (result, error) {
	t.Helper()
	var act *scaffolder.Action
	for _, a := range github.Actions(e.opts) {
		if a.ID == id {
			act = &a
		}
	}
	if act == nil {
		t.Fatalf("no action %s", id)
	}
	in, err := ojson.DecodeObject([]byte(input))
	if err != nil {
		t.Fatalf("input: %v", err)
	}
	var log bytes.Buffer
	res := result{out: map[string]any{}}
	err = act.Run(context.Background(), &scaffolder.ActionContext{Input: in, Workspace: ws, Log: &log,
		IsDryRun: dryRun, Output: func(n string, v any) { res.out[n] = v }})
	res.log = log.String()
	return res, err
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// lastBody is the JSON body of the last logged request with method and path.
func lastBody(t *testing.T, srv *githubtest.Server, method, path string) map[string]any {
	t.Helper()
	var body map[string]any
	found := false
	for _, r := range srv.Requests() {
		if r.Method == method && r.Path == path {
			found = true
			body = map[string]any{}
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatalf("%s %s body: %v", method, path, err)
			}
		}
	}
	if !found {
		t.Fatalf("no %s %s request; log: %+v", method, path, paths(srv))
	}
	return body
}

func paths(srv *githubtest.Server) []string {
	var out []string
	for _, r := range srv.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

// pushed clones the bare repository of full and returns the files of
// branch and its head commit.
func pushed(t *testing.T, srv *githubtest.Server, full, branch string) (map[string]string, *object.Commit) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainClone(dir, false, &git.CloneOptions{URL: srv.GitDir(full),
		ReferenceName: plumbing.NewBranchReferenceName(branch), SingleBranch: true})
	if err != nil {
		t.Fatalf("clone %s: %v", full, err)
	}
	head, err := repo.Head()
	if err != nil {
		t.Fatal(err)
	}
	commit, err := repo.CommitObject(head.Hash())
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tree, _ := commit.Tree()
	_ = tree.Files().ForEach(func(f *object.File) error {
		c, err := f.Contents()
		files[f.Name] = c
		return err
	})
	return files, commit
}

func assertEqualJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func TestPublishGithub(t *testing.T) {
	skeleton := map[string]string{"README.md": "# svc\n", "src/main.go": "package main\n", ".github/ci.yaml": "on: push\n",
		"tmp/x.log": "ignored\n", ".gitignore": "tmp/\n"}
	tests := []struct {
		name      string
		opts      func(*github.ActionOptions)
		input     string
		sourceDir string // the subdirectory of the workspace published
		full      string
		branch    string
		// expectations
		createPath string
		createBody map[string]any
		author     [2]string
		message    string
		protected  bool
		check      func(t *testing.T, e *env)
	}{
		{
			name: "organisation repository with every common setting",
			input: `{"repoUrl":"github.com?owner=acme&repo=svc","description":"A service","homepage":"https://svc.example",
				"repoVisibility":"public","topics":["Go","backend"],"deleteBranchOnMerge":true,"access":"acme/team-a",
				"collaborators":[{"user":"user:default/jane","access":"push"},{"team":"group:default/team-a","access":"maintain"},{"user":"ghost","access":"pull"}],
				"gitAuthorName":"Jane Doe","gitAuthorEmail":"jane@example.com","gitCommitMessage":"first!",
				"requiredStatusCheckContexts":["ci"],"requiredApprovingReviewCount":2}`,
			full: "acme/svc", branch: "main", createPath: "/orgs/acme/repos",
			createBody: map[string]any{"allow_auto_merge": false, "allow_merge_commit": true, "allow_rebase_merge": true,
				"allow_squash_merge": true, "allow_update_branch": false, "delete_branch_on_merge": true,
				"description": "A service", "homepage": "https://svc.example", "name": "svc", "private": false,
				"squash_merge_commit_message": "COMMIT_MESSAGES", "squash_merge_commit_title": "COMMIT_OR_PR_TITLE",
				"visibility": "public"},
			author: [2]string{"Jane Doe", "jane@example.com"}, message: "first!", protected: true,
			check: func(t *testing.T, e *env) {
				rp := e.srv.Repo("acme/svc")
				assertEqualJSON(t, "topics", rp.Topics, []string{"go", "backend"})
				assertEqualJSON(t, "collaborators", rp.Collaborators, map[string]string{"jane": "push"})
				assertEqualJSON(t, "team access", rp.TeamAccess, map[string]string{"team-a": "maintain"})
				prot := lastBody(t, e.srv, "PUT", "/repos/acme/svc/branches/main/protection")
				assertEqualJSON(t, "protection", prot, map[string]any{
					"block_creations": false, "enforce_admins": true, "required_conversation_resolution": false,
					"required_linear_history": false,
					"required_pull_request_reviews": map[string]any{"dismiss_stale_reviews": false,
						"require_code_owner_reviews": false, "require_last_push_approval": false, "required_approving_review_count": 2},
					"required_status_checks": map[string]any{"contexts": []string{"ci"}, "strict": true},
					"restrictions":           nil,
				})
			},
		},
		{
			name: "user repository, configured defaults, source path, no protection",
			opts: func(o *github.ActionOptions) {
				o.DefaultAuthorName, o.DefaultAuthorEmail, o.DefaultCommitMessage = "Bot", "bot@example.com", "Scaffolded"
			},
			input:     `{"repoUrl":"github.com?owner=octocat&repo=mine","defaultBranch":"develop","sourcePath":"./app","protectDefaultBranch":false}`,
			sourceDir: "app", full: "octocat/mine", branch: "develop", createPath: "/user/repos",
			createBody: map[string]any{"allow_auto_merge": false, "allow_merge_commit": true, "allow_rebase_merge": true,
				"allow_squash_merge": true, "allow_update_branch": false, "delete_branch_on_merge": false,
				"name": "mine", "private": true, "squash_merge_commit_message": "COMMIT_MESSAGES",
				"squash_merge_commit_title": "COMMIT_OR_PR_TITLE"},
			author: [2]string{"Bot", "bot@example.com"}, message: "Scaffolded",
		},
		{
			name:  "internal visibility, variables and secrets, Backstage's author and message",
			input: `{"repoUrl":"github.com?owner=acme&repo=internal-svc","repoVisibility":"internal","repoVariables":{"ENV":"prod"},"secrets":{"API_KEY":"s3cr3t"}}`,
			full:  "acme/internal-svc", branch: "main", createPath: "/orgs/acme/repos",
			createBody: map[string]any{"allow_auto_merge": false, "allow_merge_commit": true, "allow_rebase_merge": true,
				"allow_squash_merge": true, "allow_update_branch": false, "delete_branch_on_merge": false,
				"name": "internal-svc", "private": false, "squash_merge_commit_message": "COMMIT_MESSAGES",
				"squash_merge_commit_title": "COMMIT_OR_PR_TITLE", "visibility": "internal"},
			author: [2]string{"Scaffolder", "scaffolder@backstage.io"}, message: "initial commit", protected: true,
			check: func(t *testing.T, e *env) {
				rp := e.srv.Repo("acme/internal-svc")
				assertEqualJSON(t, "variables", rp.Variables, map[string]string{"ENV": "prod"})
				assertEqualJSON(t, "secrets", rp.Secrets, map[string]string{"API_KEY": "s3cr3t"})
				for _, r := range e.srv.Requests() {
					if strings.Contains(string(r.Body), "s3cr3t") {
						t.Errorf("secret sent in clear text: %s %s", r.Method, r.Path)
					}
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.opts != nil {
				tc.opts(&e.opts)
			}
			ws := t.TempDir()
			writeFiles(t, filepath.Join(ws, tc.sourceDir), skeleton)
			if tc.sourceDir != "" {
				writeFiles(t, ws, map[string]string{"outside.txt": "not published"})
			}
			res, err := e.run(t, "publish:github", tc.input, ws, false)
			if err != nil {
				t.Fatalf("publish:github: %v\nlog:\n%s", err, res.log)
			}
			assertEqualJSON(t, "create body", lastBody(t, e.srv, "POST", tc.createPath), tc.createBody)
			files, commit := pushed(t, e.srv, tc.full, tc.branch)
			want := map[string]string{}
			for k, v := range skeleton {
				if !strings.HasPrefix(k, "tmp/") {
					want[k] = v
				}
			}
			assertEqualJSON(t, "pushed files", files, want)
			if commit.Author.Name != tc.author[0] || commit.Author.Email != tc.author[1] ||
				commit.Committer.Name != tc.author[0] {
				t.Errorf("author = %s <%s>, committer %s; want %v", commit.Author.Name, commit.Author.Email, commit.Committer.Name, tc.author)
			}
			if commit.Message != tc.message {
				t.Errorf("message = %q, want %q", commit.Message, tc.message)
			}
			wantOut := map[string]any{"commitHash": commit.Hash.String(),
				"remoteUrl":       e.srv.URL + "/git/" + tc.full + ".git",
				"repoContentsUrl": "https://github.com/" + tc.full + "/blob/" + tc.branch}
			assertEqualJSON(t, "outputs", res.out, wantOut)
			protections := 0
			for _, r := range e.srv.Requests() {
				if strings.HasSuffix(r.Path, "/protection") {
					protections++
				}
				if strings.HasPrefix(r.Path, "/git/") && r.Method == "POST" {
					if u, p, ok := basicAuth(r.Auth); !ok || u != "x-access-token" || p != testToken {
						t.Errorf("git push authenticated as %q", r.Auth)
					}
				}
			}
			if (protections > 0) != tc.protected {
				t.Errorf("protection requests = %d, want protected=%v", protections, tc.protected)
			}
			if _, err := os.Stat(filepath.Join(ws, ".git")); err == nil {
				t.Errorf("publish:github left a .git in the workspace")
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

func basicAuth(h string) (string, string, bool) {
	enc, ok := strings.CutPrefix(h, "Basic ")
	if !ok {
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", "", false
	}
	u, p, ok := strings.Cut(string(b), ":")
	return u, p, ok
}

func TestRepoCreateThenPush(t *testing.T) {
	e := newEnv(t)
	e.opts.DefaultCommitMessage = "not used by github:repo:push"
	res, err := e.run(t, "github:repo:create", `{"repoUrl":"github.com?owner=acme&repo=two-step","description":"d",
		"autoInit":false,"workflowAccess":"organization","hasWiki":false}`, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	remote := e.srv.URL + "/git/acme/two-step.git"
	assertEqualJSON(t, "create outputs", res.out, map[string]any{"remoteUrl": remote})
	body := lastBody(t, e.srv, "POST", "/orgs/acme/repos")
	if body["auto_init"] != false || body["has_wiki"] != false || body["description"] != "d" || body["private"] != true {
		t.Errorf("create body = %v", body)
	}
	if got := lastBody(t, e.srv, "PUT", "/repos/acme/two-step/actions/permissions/access"); got["access_level"] != "organization" {
		t.Errorf("workflow access body = %v", got)
	}

	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"docs/index.md": "hello\n", "catalog-info.yaml": "kind: Component\n"})
	res, err = e.run(t, "github:repo:push", `{"repoUrl":"github.com?owner=acme&repo=two-step","sourcePath":"docs","protectDefaultBranch":false}`, ws, false)
	if err != nil {
		t.Fatalf("push: %v\n%s", err, res.log)
	}
	files, commit := pushed(t, e.srv, "acme/two-step", "main")
	assertEqualJSON(t, "files", files, map[string]string{"index.md": "hello\n"})
	if commit.Message != "initial commit" {
		t.Errorf("message = %q", commit.Message)
	}
	assertEqualJSON(t, "push outputs", res.out, map[string]any{"remoteUrl": remote,
		"repoContentsUrl": "https://github.com/acme/two-step/blob/main", "commitHash": commit.Hash.String()})
	// The API sees what was pushed.
	if got := e.srv.Repo("acme/two-step").Files; got["index.md"] != "hello\n" {
		t.Errorf("API view after push = %v", got)
	}
}

func TestPullRequest(t *testing.T) {
	base := map[string]string{"README.md": "old\n", "config/old.yaml": "a: 1\n", "keep.txt": "k\n"}
	setup := func(t *testing.T) (*env, string) {
		e := newEnv(t)
		e.srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "mono", Files: base})
		ws := t.TempDir()
		writeFiles(t, ws, map[string]string{"README.md": "new\n", "svc/app.txt": "app\n", "node_modules/x.js": "x", ".gitignore": "node_modules/\n"})
		if err := os.Chmod(filepath.Join(ws, "svc/app.txt"), 0o755); err != nil {
			t.Fatal(err)
		}
		return e, ws
	}

	t.Run("opens the pull request with reviewers and assignees", func(t *testing.T) {
		e, ws := setup(t)
		res, err := e.run(t, "publish:github:pull-request", `{"repoUrl":"github.com?owner=acme&repo=mono","branchName":"feature/x",
			"title":"Add svc","description":"Adds the service","draft":true,"targetPath":"services/x","filesToDelete":["../../config/old.yaml"],
			"reviewers":["jane"],"teamReviewers":["team-a","team-a"],"assignees":["jane"],"commitMessage":"feat: svc",
			"gitAuthorName":"Jane","gitAuthorEmail":"jane@example.com"}`, ws, false)
		if err != nil {
			t.Fatalf("%v\n%s", err, res.log)
		}
		assertEqualJSON(t, "pull body", lastBody(t, e.srv, "POST", "/repos/acme/mono/pulls"), map[string]any{
			"base": "main", "body": "Adds the service", "draft": true, "head": "acme:feature/x", "title": "Add svc"})
		assertEqualJSON(t, "reviewers body", lastBody(t, e.srv, "POST", "/repos/acme/mono/pulls/1/requested_reviewers"),
			map[string]any{"reviewers": []string{"jane"}, "team_reviewers": []string{"team-a"}})
		assertEqualJSON(t, "assignees body", lastBody(t, e.srv, "POST", "/repos/acme/mono/issues/1/assignees"),
			map[string]any{"assignees": []string{"jane"}})
		assertEqualJSON(t, "outputs", res.out, map[string]any{"targetBranchName": "main",
			"remoteUrl": "https://github.com/acme/mono/pull/1", "pullRequestNumber": 1})
		rp := e.srv.Repo("acme/mono")
		assertEqualJSON(t, "branch files", rp.Branches["feature/x"], map[string]string{
			"README.md": "old\n", "keep.txt": "k\n", "services/x/.gitignore": "node_modules/\n",
			"services/x/README.md": "new\n", "services/x/svc/app.txt": "app\n"})
		assertEqualJSON(t, "base untouched", rp.Files, base)
		commit := lastBody(t, e.srv, "POST", "/repos/acme/mono/git/commits")
		if commit["message"] != "feat: svc" {
			t.Errorf("commit message = %v", commit["message"])
		}
		assertEqualJSON(t, "author", commit["author"], map[string]any{"name": "Jane", "email": "jane@example.com"})
		tree := lastBody(t, e.srv, "POST", "/repos/acme/mono/git/trees")
		modes := map[string]any{}
		for _, en := range tree["tree"].([]any) {
			m := en.(map[string]any)
			modes[m["path"].(string)] = m["mode"]
		}
		if modes["services/x/svc/app.txt"] != "100755" {
			t.Errorf("executable mode = %v", modes["services/x/svc/app.txt"])
		}
		pr := rp.Pulls[0]
		if !pr.Draft || pr.Head != "feature/x" || pr.Base != "main" {
			t.Errorf("pull = %+v", pr)
		}
	})

	t.Run("deleted file of the base branch", func(t *testing.T) {
		e, ws := setup(t)
		_, err := e.run(t, "publish:github:pull-request", `{"repoUrl":"github.com?owner=acme&repo=mono","branchName":"cleanup",
			"title":"Cleanup","description":"d","filesToDelete":["config/old.yaml","missing.txt"]}`, ws, false)
		if err != nil {
			t.Fatal(err)
		}
		files := e.srv.Repo("acme/mono").Branches["cleanup"]
		if _, ok := files["config/old.yaml"]; ok {
			t.Errorf("config/old.yaml not deleted: %v", files)
		}
		if commit := lastBody(t, e.srv, "POST", "/repos/acme/mono/git/commits"); commit["message"] != "Cleanup" || commit["author"] != nil {
			t.Errorf("commit = %v (title is the default message, no author without one configured)", commit)
		}
	})

	t.Run("nothing to change and createWhenEmpty false", func(t *testing.T) {
		e, _ := setup(t)
		ws := t.TempDir()
		writeFiles(t, ws, map[string]string{"README.md": "old\n"})
		res, err := e.run(t, "publish:github:pull-request", `{"repoUrl":"github.com?owner=acme&repo=mono","branchName":"noop",
			"title":"t","description":"d","createWhenEmpty":false}`, ws, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.out) != 0 || !strings.Contains(res.log, "No changes to commit, pull request was not created") {
			t.Errorf("outputs %v log %q", res.out, res.log)
		}
		if n := e.srv.Count(func(r githubtest.Request) bool { return r.Path == "/repos/acme/mono/pulls" }); n != 0 {
			t.Errorf("pulls requests = %d", n)
		}
	})

	t.Run("existing pull request needs update", func(t *testing.T) {
		e, ws := setup(t)
		in := `{"repoUrl":"github.com?owner=acme&repo=mono","branchName":"again","title":"t","description":"d"%s}`
		if _, err := e.run(t, "publish:github:pull-request", strings.Replace(in, "%s", "", 1), ws, false); err != nil {
			t.Fatal(err)
		}
		writeFiles(t, ws, map[string]string{"README.md": "newer\n"})
		_, err := e.run(t, "publish:github:pull-request", strings.Replace(in, "%s", "", 1), ws, false)
		if err == nil || !strings.Contains(err.Error(), "Pull request creation failed; caused by [octokit-plugin-create-pull-request] Pull request already exists: https://github.com/acme/mono/pull/1. Set update=true to enable updating") {
			t.Fatalf("err = %v", err)
		}
		res, err := e.run(t, "publish:github:pull-request", strings.Replace(in, "%s", `,"update":true,"title":"t2"`, 1), ws, false)
		if err != nil {
			t.Fatal(err)
		}
		rp := e.srv.Repo("acme/mono")
		if len(rp.Pulls) != 1 || rp.Pulls[0].Title != "t2" || rp.Branches["again"]["README.md"] != "newer\n" || res.out["pullRequestNumber"] != 1 {
			t.Errorf("pulls %+v branch %v out %v", rp.Pulls, rp.Branches["again"], res.out)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		e, ws := setup(t)
		res, err := e.run(t, "publish:github:pull-request", `{"repoUrl":"github.com?owner=acme&repo=mono","branchName":"b","title":"t","description":"d"}`, ws, true)
		if err != nil {
			t.Fatal(err)
		}
		assertEqualJSON(t, "dry-run outputs", res.out, map[string]any{"targetBranchName": "b",
			"remoteUrl": "github.com?owner=acme&repo=mono", "pullRequestNumber": 43})
		if n := len(e.srv.Requests()); n != 0 {
			t.Errorf("dry run made %d requests: %v", n, paths(e.srv))
		}
	})
}

func TestActionsDispatch(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		wantBody map[string]any
		wantOut  []string
	}{
		{"plain", `{"repoUrl":"github.com?owner=acme&repo=svc","workflowId":"ci.yaml","branchOrTagName":"main","workflowInputs":{"env":"prod"}}`,
			map[string]any{"ref": "main", "inputs": map[string]any{"env": "prod"}}, nil},
		{"with run details", `{"repoUrl":"github.com?owner=acme&repo=svc","workflowId":"42","branchOrTagName":"v1","returnWorkflowRunDetails":true}`,
			map[string]any{"ref": "v1", "return_run_details": true}, []string{"workflowRunHtmlUrl", "workflowRunId", "workflowRunUrl"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "svc"})
			res, err := e.run(t, "github:actions:dispatch", tc.input, t.TempDir(), false)
			if err != nil {
				t.Fatal(err)
			}
			rp := e.srv.Repo("acme/svc")
			if len(rp.Dispatches) != 1 {
				t.Fatalf("dispatches = %+v", rp.Dispatches)
			}
			d := rp.Dispatches[0]
			assertEqualJSON(t, "body", lastBody(t, e.srv, "POST", "/repos/acme/svc/actions/workflows/"+d.Workflow+"/dispatches"), tc.wantBody)
			var keys []string
			for k := range res.out {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			assertEqualJSON(t, "output keys", keys, tc.wantOut)
			if tc.wantOut != nil {
				if res.out["workflowRunId"] != d.RunID || !strings.HasSuffix(res.out["workflowRunHtmlUrl"].(string), "/acme/svc/actions/runs/"+jsonNum(d.RunID)) {
					t.Errorf("outputs = %v (run %d)", res.out, d.RunID)
				}
			}
			if !strings.Contains(res.log, "Workflow "+d.Workflow+" dispatched successfully") {
				t.Errorf("log = %q", res.log)
			}
		})
	}
	t.Run("failure fails the step", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.run(t, "github:actions:dispatch", `{"repoUrl":"github.com?owner=acme&repo=none","workflowId":"ci.yaml","branchOrTagName":"main"}`, t.TempDir(), false)
		if !errors_Is(err, backend.ErrNotFound) {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestActionErrorKinds: a failed GitHub API call fails the step with the
// kind of GitHub's status (backend.KindForUpstreamStatus) and GitHub's
// message; a status without a kind is an internal error.
func TestActionErrorKinds(t *testing.T) {
	tests := []struct {
		status int
		kind   *backend.Kind
	}{
		{http.StatusUnauthorized, backend.ErrAuthentication},
		{http.StatusForbidden, backend.ErrNotAllowed},
		{http.StatusNotFound, backend.ErrNotFound},
		{http.StatusConflict, backend.ErrConflict},
		{http.StatusUnprocessableEntity, backend.ErrInput},
		{http.StatusInternalServerError, nil},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "svc"})
			e.srv.Fail("/repos/acme/svc/actions/workflows", tc.status, -1)
			_, err := e.run(t, "github:actions:dispatch", `{"repoUrl":"github.com?owner=acme&repo=svc","workflowId":"ci.yaml","branchOrTagName":"main"}`, t.TempDir(), false)
			if err == nil {
				t.Fatal("no error")
			}
			if k := backend.KindOf(err); k != tc.kind {
				t.Errorf("kind %v, want %v (err %v)", k, tc.kind, err)
			}
			if msg := http.StatusText(tc.status); tc.kind != nil && err.Error() != msg || tc.kind == nil && !strings.HasPrefix(err.Error(), msg+": ") {
				t.Errorf("message %q, want %q", err, msg)
			}
		})
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func errors_Is(err error, kind *backend.Kind) bool { return backend.KindOf(err) == kind }

func TestWebhook(t *testing.T) {
	e := newEnv(t)
	e.srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "svc"})
	res, err := e.run(t, "github:webhook", `{"repoUrl":"github.com?owner=acme&repo=svc","webhookUrl":"https://hooks.example/x"}`, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualJSON(t, "defaults body", lastBody(t, e.srv, "POST", "/repos/acme/svc/hooks"), map[string]any{
		"active": true, "config": map[string]any{"content_type": "form", "insecure_ssl": "0", "url": "https://hooks.example/x"},
		"events": []string{"push"}})
	if !strings.Contains(res.log, "Webhook 'https://hooks.example/x' created successfully") {
		t.Errorf("log = %q", res.log)
	}
	_, err = e.run(t, "github:webhook", `{"repoUrl":"github.com?owner=acme&repo=svc","webhookUrl":"https://hooks.example/y",
		"webhookSecret":"shh","events":["push","pull_request"],"active":false,"contentType":"json","insecureSsl":true}`, t.TempDir(), false)
	if err != nil {
		t.Fatal(err)
	}
	assertEqualJSON(t, "explicit body", lastBody(t, e.srv, "POST", "/repos/acme/svc/hooks"), map[string]any{
		"active": false, "config": map[string]any{"content_type": "json", "insecure_ssl": "1", "secret": "shh", "url": "https://hooks.example/y"},
		"events": []string{"push", "pull_request"}})

	e.srv.ResetLog()
	if _, err := e.run(t, "github:webhook", `{"repoUrl":"github.com?owner=acme&repo=svc","webhookUrl":"https://hooks.example/z"}`, t.TempDir(), true); err != nil {
		t.Fatal(err)
	}
	if len(e.srv.Requests()) != 0 {
		t.Errorf("dry run made requests: %v", paths(e.srv))
	}
	// Backstage only warns when the webhook cannot be created.
	res, err = e.run(t, "github:webhook", `{"repoUrl":"github.com?owner=acme&repo=missing","webhookUrl":"https://hooks.example/z"}`, t.TempDir(), false)
	if err != nil || !strings.Contains(res.log, "Failed: create webhook 'https://hooks.example/z' on repo: 'missing', Not Found") {
		t.Errorf("err = %v, log = %q", err, res.log)
	}
}

func TestActionErrors(t *testing.T) {
	tests := []struct {
		name, action, input string
		opts                func(*github.ActionOptions)
		kind                *backend.Kind
		msg                 string
	}{
		{name: "unknown host", action: "publish:github", input: `{"repoUrl":"git.example.com?owner=o&repo=r"}`, kind: backend.ErrInput,
			msg: "No matching integration configuration for host git.example.com, please check your integrations config"},
		{name: "host of another integration", action: "github:repo:create", input: `{"repoUrl":"gitlab.com?owner=o&repo=r"}`, kind: backend.ErrInput,
			msg: "No integration for host gitlab.com"},
		{name: "missing owner", action: "publish:github", input: `{"repoUrl":"github.com?repo=r"}`, kind: backend.ErrInput,
			msg: "Invalid repo URL passed to publisher: https://github.com?repo=r, missing owner"},
		{name: "missing owner (pull request)", action: "publish:github:pull-request", input: `{"repoUrl":"github.com?repo=r","branchName":"b","title":"t","description":"d"}`,
			kind: backend.ErrInput, msg: "Invalid repo URL passed to publisher: https://github.com?repo=r, missing owner"},
		{name: "no token", action: "github:webhook", input: `{"repoUrl":"github.com?owner=acme&repo=r","webhookUrl":"https://x"}`,
			opts: func(o *github.ActionOptions) { o.Integrations[0].Token = "" }, kind: backend.ErrInput,
			msg: "No token available for host: github.com, with owner acme, and repo r. Make sure GitHub auth is configured correctly. See https://backstage.io/docs/auth/github/provider for more details."},
		{name: "user credentials required", action: "github:actions:dispatch", input: `{"repoUrl":"github.com?owner=acme&repo=r","workflowId":"w","branchOrTagName":"main"}`,
			opts: func(o *github.ActionOptions) { o.RequireSCMUserCredentials = true }, kind: backend.ErrInput,
			msg: "No user credentials provided for host github.com, but scaffolder.requireScmUserCredentials is enabled"},
		{name: "repository exists", action: "publish:github", input: `{"repoUrl":"github.com?owner=acme&repo=taken"}`, kind: backend.ErrInput,
			msg: "Failed to create the Organization repository acme/taken, Repository creation failed.: name already exists on this account"},
		{name: "unknown owner", action: "github:repo:create", input: `{"repoUrl":"github.com?owner=nobody&repo=r"}`, kind: backend.ErrNotFound, msg: "Not Found"},
		{name: "unknown access team", action: "github:repo:create", input: `{"repoUrl":"github.com?owner=acme&repo=r","access":"acme/nope"}`, kind: backend.ErrNotFound,
			msg: "Received 'Not Found' from the API; one of org:\n        acme or team: nope was not found within GitHub."},
		{name: "bad token", action: "github:repo:push", input: `{"repoUrl":"github.com?owner=acme&repo=taken","token":"wrong"}`, kind: backend.ErrAuthentication, msg: "Bad credentials"},
		{name: "source path through a symlink", action: "github:repo:push", input: `{"repoUrl":"github.com?owner=acme&repo=taken","sourcePath":"escape"}`, msg: "Invalid source path"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.srv.AddRepo(githubtest.Repo{Owner: "acme", Name: "taken"})
			if tc.opts != nil {
				tc.opts(&e.opts)
			}
			ws := t.TempDir()
			if err := os.Symlink(t.TempDir(), filepath.Join(ws, "escape")); err != nil {
				t.Fatal(err)
			}
			_, err := e.run(t, tc.action, tc.input, ws, false)
			if err == nil {
				t.Fatal("no error")
			}
			if backend.KindOf(err) != tc.kind || err.Error() != tc.msg {
				t.Errorf("err = %v (%v), want %q (%v)", err, backend.KindOf(err), tc.msg, tc.kind)
			}
		})
	}
}

func TestActionMetadata(t *testing.T) {
	acts := github.Actions(github.ActionOptions{})
	var ids []string
	for _, a := range acts {
		ids = append(ids, a.ID)
		if len(a.Input) == 0 || len(a.Examples) == 0 {
			t.Errorf("%s: no schema or examples", a.ID)
		}
	}
	assertEqualJSON(t, "ids", ids, []string{"github:actions:dispatch", "github:repo:create", "github:repo:push",
		"github:webhook", "publish:github", "publish:github:pull-request"})
	dry := map[string]bool{}
	for _, a := range acts {
		dry[a.ID] = a.SupportsDryRun
	}
	assertEqualJSON(t, "dry run", dry, map[string]bool{"github:actions:dispatch": false, "github:repo:create": false,
		"github:repo:push": false, "github:webhook": true, "publish:github": false, "publish:github:pull-request": true})
	reg := scaffolder.NewActions()
	if err := reg.Add(acts...); err != nil {
		t.Fatal(err)
	}
}
