package github_test

import (
	"context"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// fileReader reads file:// URLs under root, as the scaffolder's reader does
// for templates registered from files.
type fileReader struct{ root string }

func (r fileReader) path(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return "", backend.NotAllowed("Reading from '%s' is not allowed", raw)
	}
	p := filepath.Clean(filepath.FromSlash(u.Path))
	if rel, err := filepath.Rel(r.root, p); err != nil || strings.HasPrefix(rel, "..") {
		return "", backend.NotAllowed("Reading from '%s' is not allowed", raw)
	}
	return p, nil
}

func (r fileReader) ReadURL(_ context.Context, raw string, _ catalog.ReadOptions) (catalog.ReadResult, error) {
	p, err := r.path(raw)
	if err != nil {
		return catalog.ReadResult{}, err
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return catalog.ReadResult{}, backend.NotFound("%s not found", raw)
	}
	return catalog.ReadResult{Data: b}, nil
}

func (r fileReader) ReadTree(_ context.Context, raw string, _ catalog.ReadOptions) (catalog.Tree, error) {
	p, err := r.path(raw)
	if err != nil {
		return catalog.Tree{}, err
	}
	var tree catalog.Tree
	err = filepath.WalkDir(p, func(fp string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(fp)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p, fp)
		tree.Files = append(tree.Files, catalog.TreeFile{Path: filepath.ToSlash(rel), Data: b})
		return nil
	})
	return tree, err
}

const templateYAML = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: go-service
spec:
  type: service
  parameters:
    - properties:
        name: {type: string}
        repoUrl: {type: string}
  steps:
    - id: fetch
      name: Fetch skeleton
      action: fetch:template
      input:
        url: ./skeleton
        values:
          name: ${{ parameters.name }}
          owner: ${{ parameters.repoUrl | parseRepoUrl | pick('owner') }}
    - id: publish
      name: Publish
      action: publish:github
      input:
        repoUrl: ${{ parameters.repoUrl }}
        description: Service ${{ parameters.name }}
        repoVisibility: public
        topics: [golden-path]
    - id: dispatch
      name: Start CI
      action: github:actions:dispatch
      input:
        repoUrl: ${{ parameters.repoUrl }}
        workflowId: ci.yaml
        branchOrTagName: main
        workflowInputs:
          commit: ${{ steps.publish.output.commitHash }}
  output:
    links:
      - title: Repository
        url: ${{ steps.publish.output.repoContentsUrl }}
    remoteUrl: ${{ steps.publish.output.remoteUrl }}
    commitHash: ${{ steps.publish.output.commitHash }}
`

// TestTemplateRunPublishesToGitHub runs a whole template through the
// scaffolder's runner: fetch:template renders a skeleton into the
// workspace, publish:github creates the repository and pushes it, and a
// workflow dispatch uses the step's output.
func TestTemplateRunPublishesToGitHub(t *testing.T) {
	e := newEnv(t)
	e.opts.DefaultAuthorName, e.opts.DefaultAuthorEmail = "Golden Path", "golden@example.com"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"template.yaml":                           templateYAML,
		"skeleton/README.md":                      "# ${{ values.name }}\nOwned by ${{ values.owner }}.\n",
		"skeleton/${{ values.name }}/main.go":     "package main // ${{ values.name }}\n",
		"skeleton/catalog-info.yaml":              "metadata:\n  name: ${{ values.name | dump }}\n",
		"skeleton/${{ 'unused' if false }}/x.txt": "skipped\n",
	})
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	if err := acts.Add(githubActions(e)...); err != nil {
		t.Fatal(err)
	}
	entity, err := ojson.DecodeYAML([]byte(templateYAML))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := scaffolder.ParseTemplate(entity.(*ojson.Object))
	if err != nil {
		t.Fatal(err)
	}
	values := ojson.NewObject("name", "payments", "repoUrl", "github.com?owner=acme&repo=payments")
	spec := tmpl.TaskSpec(values, scaffolder.UserInfo{Ref: "user:default/jane"}, "template:default/go-service",
		(&url.URL{Scheme: "file", Path: filepath.ToSlash(dir) + "/template.yaml"}).String())
	runner := &scaffolder.Runner{Actions: acts, WorkingDirectory: t.TempDir(), Reader: fileReader{root: dir}}
	var events []string
	out, err := runner.Execute(context.Background(), &scaffolder.Run{TaskID: "task-1", Spec: spec,
		Emit: func(_ context.Context, body *ojson.Object) error {
			events = append(events, body.String("message"))
			return nil
		}})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, strings.Join(events, "\n"))
	}
	files, commit := pushed(t, e.srv, "acme/payments", "main")
	assertEqualJSON(t, "pushed files", files, map[string]string{
		"README.md":         "# payments\nOwned by acme.\n",
		"payments/main.go":  "package main // payments\n",
		"catalog-info.yaml": "metadata:\n  name: \"payments\"\n",
	})
	if commit.Author.Name != "Golden Path" || commit.Message != "initial commit" {
		t.Errorf("commit by %s: %q", commit.Author.Name, commit.Message)
	}
	body := lastBody(t, e.srv, "POST", "/orgs/acme/repos")
	if body["description"] != "Service payments" || body["visibility"] != "public" || body["name"] != "payments" {
		t.Errorf("create body = %v", body)
	}
	if got := e.srv.Repo("acme/payments").Topics; len(got) != 1 || got[0] != "golden-path" {
		t.Errorf("topics = %v", got)
	}
	dispatch := lastBody(t, e.srv, "POST", "/repos/acme/payments/actions/workflows/ci.yaml/dispatches")
	assertEqualJSON(t, "dispatch body", dispatch, map[string]any{"inputs": map[string]any{"commit": commit.Hash.String()}, "ref": "main"})
	got, _ := ojson.Marshal(out)
	want := `{"links":[{"title":"Repository","url":"https://github.com/acme/payments/blob/main"}],"remoteUrl":"` +
		e.srv.URL + `/git/acme/payments.git","commitHash":"` + commit.Hash.String() + `"}`
	if string(got) != want {
		t.Errorf("output:\n got %s\nwant %s", got, want)
	}
}

func githubActions(e *env) []scaffolder.Action { return github.Actions(e.opts) }
