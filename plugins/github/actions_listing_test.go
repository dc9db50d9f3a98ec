package github_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/github"
	"github.com/understage/understage/plugins/github/githubtest"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	schttp "github.com/understage/understage/scaffolder/httpapi"
	coreschemas "github.com/understage/understage/schemas/actions"
	ghschemas "github.com/understage/understage/schemas/actions/github"
)

// TestScaffolderAPIWithGitHubModule serves the scaffolder routes with the
// built-in and GitHub actions and the github autocomplete provider, and
// compares with what a Backstage 1.55 backend with
// @backstage/plugin-scaffolder-backend-module-github 0.10.0 answers (its
// GET /v2/actions body is the built-in listing followed by the module's,
// both kept byte for byte under schemas/actions).
func TestScaffolderAPIWithGitHubModule(t *testing.T) {
	gh := githubtest.New(t)
	opts := github.ActionOptions{Integrations: []github.Integration{{Host: "github.com", APIBaseURL: gh.APIURL()}}}
	acts := scaffolder.NewActions()
	if err := acts.Add(builtin.Actions(builtin.Options{})...); err != nil {
		t.Fatal(err)
	}
	if err := acts.Add(github.Actions(opts)...); err != nil {
		t.Fatal(err)
	}
	hs := httpserver.New(httpserver.Options{})
	hs.SetReady()
	schttp.Register(hs.Plugin("scaffolder"), schttp.Options{
		Service:      &scaffolder.Service{Runner: &scaffolder.Runner{Actions: acts}},
		Autocomplete: map[string]schttp.AutocompleteFunc{"github": github.Autocomplete(opts)},
	})
	srv := httptest.NewServer(hs.Handler())
	t.Cleanup(srv.Close)

	// The module's entries for the implemented actions, each byte for byte.
	var entries []json.RawMessage
	if err := json.Unmarshal(ghschemas.JSON, &entries); err != nil {
		t.Fatal(err)
	}
	implemented := map[string]bool{}
	for _, a := range github.Actions(opts) {
		implemented[a.ID] = true
	}
	var mod []string
	for _, e := range entries {
		var head struct{ ID string }
		_ = json.Unmarshal(e, &head)
		if implemented[head.ID] {
			mod = append(mod, string(e))
		}
	}
	if len(mod) != 6 {
		t.Fatalf("implemented entries = %d", len(mod))
	}
	core := strings.TrimSpace(string(coreschemas.JSON))
	wantActions := core[:len(core)-1] + "," + strings.Join(mod, ",") + "]"
	tests := []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"actions", "GET", "/v2/actions", "", 200, wantActions},
		{"unknown resource", "POST", "/v2/autocomplete/github/foo", `{"token":"t","context":{}}`, 400,
			`{"error":{"name":"InputError","message":"Invalid resource: foo"},"request":{"method":"POST","url":"/v2/autocomplete/github/foo"},"response":{"statusCode":400}}`},
		{"unknown host", "POST", "/v2/autocomplete/github/foo", `{"token":"t","context":{"host":"nope.example"}}`, 400,
			`{"error":{"name":"InputError","message":"No integration for host nope.example"},"request":{"method":"POST","url":"/v2/autocomplete/github/foo"},"response":{"statusCode":400}}`},
		{"branches without context", "POST", "/v2/autocomplete/github/branches", `{"token":"t","context":{"host":"github.com"}}`, 400,
			`{"error":{"name":"InputError","message":"Missing owner and/or repository context parameter"},"request":{"method":"POST","url":"/v2/autocomplete/github/branches"},"response":{"statusCode":400}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+"/api/scaffolder"+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || string(got) != tc.want {
				t.Errorf("%d %s\nwant %d %s", resp.StatusCode, got, tc.status, tc.want)
			}
		})
	}
}
