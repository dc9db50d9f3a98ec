package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/opa"
	"github.com/understage/understage/plugins/permission"
	permissionservice "github.com/understage/understage/plugins/permission/service"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/httpapi"
)

// ownTasksPolicy lets every user do anything except read or cancel the
// tasks of others (IS_TASK_OWNER on the user's own ref).
const ownTasksPolicy = `package understage.authz

decision := {
	"result": "CONDITIONAL",
	"conditions": {"rule": "IS_TASK_OWNER", "resourceType": "scaffolder-task", "params": {"createdBy": [input.user.ref]}},
} if {
	input.permission.name in {"scaffolder.task.read", "scaffolder.task.cancel"}
} else := {"result": "ALLOW"}
`

// userAPI is the scaffolder API behind the auth middleware, with a Rego
// policy, and a user token per name.
type userAPI struct {
	*bundle
	tokens map[string]string
}

func setupWithPolicy(t *testing.T, policy string, users ...string) *userAPI {
	t.Helper()
	ctx := context.Background()
	b := setup(t, sqliteDB, false)
	file := filepath.Join(t.TempDir(), "policy.rego")
	if err := os.WriteFile(file, []byte(policy), 0o644); err != nil {
		t.Fatal(err)
	}
	engine, err := opa.New(ctx, opa.Options{Policies: []string{file}})
	if err != nil {
		t.Fatal(err)
	}
	perms := permissionservice.New(permissionservice.Options{Enabled: true, Policy: engine})
	perms.AddIntegration(permission.ScaffolderIntegration(nil))
	authSvc, err := auth.New(ctx, auth.Options{Config: config.FromValue(map[string]any{}, ""), BaseURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	u := &userAPI{bundle: b, tokens: map[string]string{}}
	for _, name := range users {
		ref := "user:default/" + name
		tok, err := authSvc.IssueToken(ctx, ref, []string{ref})
		if err != nil {
			t.Fatal(err)
		}
		u.tokens[name] = tok.Token
	}
	hs := httpserver.New(httpserver.Options{})
	g := hs.Plugin("scaffolder")
	g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "scaffolder"}))
	httpapi.Register(g, httpapi.Options{Service: b.svc, Permissions: perms, Caller: func(c echo.Context) (httpapi.Caller, error) {
		cred, err := auth.CredentialsOf(c)
		if err != nil || !cred.IsUser() {
			return httpapi.Caller{}, err
		}
		return httpapi.Caller{User: scaffolder.UserInfo{Ref: cred.Principal.UserEntityRef}, Token: auth.BearerToken(c.Request().Header.Get("Authorization"))}, nil
	}})
	b.srv.Config.Handler = hs.Handler()
	return u
}

func (u *userAPI) as(t *testing.T, user, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u.srv.URL+"/api/scaffolder"+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+u.tokens[user])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(out)
}

// TestRetryChecksTaskPermissions: retry needs what Backstage's router asks
// for it, scaffolder.task.create and scaffolder.task.read on that task
// (IS_TASK_OWNER), so a user who may not read another user's task cannot
// retry it either; its owner can. Cancel asks task.cancel and task.read.
func TestRetryChecksTaskPermissions(t *testing.T) {
	u := setupWithPolicy(t, ownTasksPolicy, "alice", "mallory")
	code, out := u.as(t, "alice", "POST", "/v2/tasks", `{"templateRef":"flaky","values":{}}`)
	if code != 201 {
		t.Fatalf("create %d %s", code, out)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(out, `{"id":"`), `"}`)
	waitFor(t, "the task to fail", func() bool {
		_, o := u.as(t, "alice", "GET", "/v2/tasks/"+id, "")
		return strings.Contains(o, `"status":"failed"`)
	})
	denied := `{"error":{"name":"NotAllowedError","message":""},"request":{"method":"%s","url":"/v2/tasks/%s%s"},"response":{"statusCode":403}}`
	for _, c := range []struct{ method, suffix, body string }{
		{"GET", "", ""},
		{"POST", "/cancel", ""},
		{"POST", "/retry", "{}"},
	} {
		code, out := u.as(t, "mallory", c.method, "/v2/tasks/"+id+c.suffix, c.body)
		if want := fmt.Sprintf(denied, c.method, id, c.suffix); code != 403 || out != want {
			t.Errorf("mallory %s %s: %d %s, want %s", c.method, c.suffix, code, out, want)
		}
	}
	if _, o := u.as(t, "alice", "GET", "/v2/tasks/"+id, ""); !strings.Contains(o, `"status":"failed"`) {
		t.Fatalf("mallory's retry reopened the task: %s", o)
	}
	if code, out := u.as(t, "mallory", "POST", "/v2/tasks/nope/retry", "{}"); code != 404 {
		t.Errorf("retry of an unknown task: %d %s", code, out)
	}
	if code, out := u.as(t, "alice", "POST", "/v2/tasks/"+id+"/retry", "{}"); code != 201 || out != `{"id":"`+id+`"}` {
		t.Fatalf("owner's retry %d %s", code, out)
	}
	waitFor(t, "the retried task to complete", func() bool {
		_, o := u.as(t, "alice", "GET", "/v2/tasks/"+id, "")
		return strings.Contains(o, `"status":"completed"`)
	})
}

// TestRetryNeedsTaskCreate: a user allowed to read their task but not to
// create tasks cannot retry it.
func TestRetryNeedsTaskCreate(t *testing.T) {
	const noCreate = `package understage.authz

decision := {"result": "DENY"} if {
	input.permission.name == "scaffolder.task.create"
	input.user.ref == "user:default/bob"
} else := {"result": "ALLOW"}
`
	u := setupWithPolicy(t, noCreate, "alice", "bob")
	code, out := u.as(t, "alice", "POST", "/v2/tasks", `{"templateRef":"flaky","values":{}}`)
	if code != 201 {
		t.Fatalf("create %d %s", code, out)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(out, `{"id":"`), `"}`)
	waitFor(t, "the task to fail", func() bool {
		_, o := u.as(t, "alice", "GET", "/v2/tasks/"+id, "")
		return strings.Contains(o, `"status":"failed"`)
	})
	if code, out := u.as(t, "bob", "POST", "/v2/tasks/"+id+"/retry", "{}"); code != 403 {
		t.Errorf("bob's retry %d %s", code, out)
	}
}

// TestCancelAlsoNeedsTaskRead: Backstage's cancel asks task.cancel and
// task.read; a policy that allows everyone to cancel but lets only owners
// read still keeps others from cancelling.
func TestCancelAlsoNeedsTaskRead(t *testing.T) {
	const readOwnOnly = `package understage.authz

decision := {
	"result": "CONDITIONAL",
	"conditions": {"rule": "IS_TASK_OWNER", "resourceType": "scaffolder-task", "params": {"createdBy": [input.user.ref]}},
} if {
	input.permission.name == "scaffolder.task.read"
} else := {"result": "ALLOW"}
`
	u := setupWithPolicy(t, readOwnOnly, "alice", "mallory")
	code, out := u.as(t, "alice", "POST", "/v2/tasks", `{"templateRef":"t2","values":{}}`)
	if code != 201 {
		t.Fatalf("create %d %s", code, out)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(out, `{"id":"`), `"}`)
	if code, out := u.as(t, "mallory", "POST", "/v2/tasks/"+id+"/cancel", ""); code != 403 {
		t.Errorf("mallory's cancel %d %s", code, out)
	}
	if code, out := u.as(t, "alice", "POST", "/v2/tasks/"+id+"/cancel", ""); code != 200 || out != `{"status":"cancelled"}` {
		t.Errorf("owner's cancel %d %s", code, out)
	}
}
