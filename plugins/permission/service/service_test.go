package permissionservice_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/permission"
	permissionservice "github.com/understage/understage/plugins/permission/service"
)

const oracleURL = "http://127.0.0.1:7007"

// policyFunc is a Policy from a function.
type policyFunc func(in permission.Input) permission.Decision

func (f policyFunc) Decide(_ context.Context, in permission.Input) (permission.Decision, error) {
	return f(in), nil
}

type fixture struct {
	url   string
	token string // a user token for user:default/tom
	perms *permissionservice.Service
}

const serviceToken = "c2VydmljZS10b2tlbi1mb3ItdGVzdHM"

func setup(t *testing.T, o permissionservice.Options, tasks map[string]string) *fixture {
	t.Helper()
	y := `backend:
  baseUrl: http://127.0.0.1
  auth:
    externalAccess:
      - type: static
        options: {token: ` + serviceToken + `, subject: tests}
`
	cfg, err := config.LoadBytes([]byte(y), filepath.Join(t.TempDir(), "app-config.yaml"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	authSvc, err := auth.New(ctx, auth.Options{Config: cfg, BaseURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := authSvc.IssueToken(ctx, "user:default/tom", []string{"user:default/tom", "group:default/team-shop"})
	if err != nil {
		t.Fatal(err)
	}
	o.User = func(ctx context.Context, cred auth.Credentials) (*permission.User, error) {
		refs, err := authSvc.OwnershipRefs(ctx, cred)
		return &permission.User{Ref: cred.Principal.UserEntityRef, OwnershipRefs: refs, Claims: cred.Claims}, err
	}
	perms := permissionservice.New(o)
	srv := httpserver.New(httpserver.Options{Config: cfg})
	g := srv.Plugin("permission")
	g.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "permission", Unauthenticated: []string{"/"}}))
	perms.Register(g)
	sg := srv.Plugin("scaffolder")
	sg.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "scaffolder", Unauthenticated: []string{"/"}}))
	perms.RegisterIntegration(sg, permission.ScaffolderIntegration(func(_ context.Context, id string) (string, bool, error) {
		by, ok := tasks[id]
		return by, ok, nil
	}))
	cg := srv.Plugin("catalog")
	cg.Use(authSvc.Middleware(auth.MiddlewareOptions{PluginID: "catalog", Unauthenticated: []string{"/"}}))
	perms.RegisterIntegration(cg, permission.CatalogIntegration(nil))
	srv.SetReady()
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &fixture{url: ts.URL, token: tok.Token, perms: perms}
}

func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// oracleToken signs in as guest at the oracle; "" when it is not running.
func oracleToken(t *testing.T) string {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(oracleURL + "/api/auth/guest/refresh")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	var r struct{ BackstageIdentity struct{ Token string } }
	if json.NewDecoder(resp.Body).Decode(&r) != nil {
		return ""
	}
	return r.BackstageIdentity.Token
}

const (
	readPerm   = `{"type":"resource","name":"catalog.entity.read","attributes":{"action":"read"},"resourceType":"catalog-entity"}`
	createPerm = `{"type":"basic","name":"catalog.entity.create","attributes":{"action":"create"}}`
)

var authorizeBodies = []struct{ name, body string }{
	{"basic", `{"items":[{"id":"a","permission":` + createPerm + `}]}`},
	{"resource without ref", `{"items":[{"id":"a","permission":` + createPerm + `},{"id":"b","permission":` + readPerm + `}]}`},
	{"resource with ref", `{"items":[{"id":"b","permission":` + readPerm + `,"resourceRef":"component:default/x"}]}`},
	{"resource with refs", `{"items":[{"id":"b","permission":` + readPerm + `,"resourceRef":["component:default/x","api:default/y"]}]}`},
	{"empty", `{"items":[]}`},
	{"missing items", `{}`},
}

// TestAuthorizeMatchesOracle sends the same requests, as a signed-in user,
// to the oracle (allow-all policy) and to the allow-all service.
func TestAuthorizeMatchesOracle(t *testing.T) {
	otok := oracleToken(t)
	if otok == "" {
		t.Skip("oracle not running")
	}
	f := setup(t, permissionservice.Options{Enabled: true}, nil)
	for _, tc := range authorizeBodies {
		t.Run(tc.name, func(t *testing.T) {
			ws, wb := call(t, "POST", oracleURL+"/api/permission/authorize", otok, tc.body)
			gs, gb := call(t, "POST", f.url+"/api/permission/authorize", f.token, tc.body)
			if ws != gs || wb != gb {
				t.Errorf("oracle %d %s\nours   %d %s", ws, wb, gs, gb)
			}
		})
	}
}

func TestMetadataMatchesOracle(t *testing.T) {
	f := setup(t, permissionservice.Options{Enabled: true}, nil)
	for _, plugin := range []string{"catalog", "scaffolder"} {
		t.Run(plugin, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", "oracle-"+plugin+"-metadata.json"))
			if err != nil {
				t.Fatal(err)
			}
			path := "/api/" + plugin + "/.well-known/backstage/permissions/metadata"
			status, got := call(t, "GET", f.url+path, "", "")
			if status != 200 || got != string(bytes.TrimSpace(want)) {
				t.Errorf("recorded %s\nours %d %s", want, status, got)
			}
			if otok := oracleToken(t); otok != "" {
				_, live := call(t, "GET", oracleURL+path, "", "")
				if live != got {
					t.Errorf("live oracle %s\nours %s", live, got)
				}
			}
		})
	}
}

func TestAuthorizeDecisions(t *testing.T) {
	owner := &permission.Criteria{Rule: "IS_TASK_OWNER", ResourceType: permission.ScaffolderTask,
		Params: map[string]any{"createdBy": []any{"user:default/tom"}}}
	policy := policyFunc(func(in permission.Input) permission.Decision {
		switch in.Permission.Name {
		case "scaffolder.task.read":
			return permission.Decision{Result: permission.Conditional, Conditions: owner}
		case "catalog.entity.create":
			if in.User != nil && in.User.Ref == "user:default/tom" {
				return permission.Decision{Result: permission.Allow}
			}
		}
		return permission.Decision{Result: permission.Deny}
	})
	tasks := map[string]string{"t1": "user:default/tom", "t2": "user:default/ann"}
	taskRead := `{"type":"resource","name":"scaffolder.task.read","attributes":{"action":"read"},"resourceType":"scaffolder-task"}`
	cases := []struct {
		name, token, body string
		disabled          bool
		status            int
		want              string
	}{
		{"basic allowed for tom", "user", `{"items":[{"id":"1","permission":` + createPerm + `}]}`, false, 200,
			`{"items":[{"id":"1","result":"ALLOW"}]}`},
		{"basic denied for anonymous", "", `{"items":[{"id":"1","permission":` + createPerm + `}]}`, false, 200,
			`{"items":[{"id":"1","result":"DENY"}]}`},
		{"conditional for a ref", "user", `{"items":[{"id":"1","permission":` + taskRead + `,"resourceRef":"t1"}]}`, false, 200,
			`{"items":[{"id":"1","result":"ALLOW"}]}`},
		{"conditional for refs", "user", `{"items":[{"id":"1","permission":` + taskRead + `,"resourceRef":["t1","t2","nope"]}]}`, false, 200,
			`{"items":[{"id":"1","result":["ALLOW","DENY","DENY"]}]}`},
		{"user without ref", "user", `{"items":[{"id":"1","permission":` + taskRead + `}]}`, false, 400,
			`{"error":{"name":"InputError","message":"Resource permissions require a resourceRef to be set. Direct user requests without a resourceRef are not allowed."},"request":{"method":"POST","url":"/authorize"},"response":{"statusCode":400}}`},
		{"service callers refused", "service", `{"items":[]}`, false, 403,
			`{"error":{"name":"NotAllowedError","message":"This endpoint does not allow 'service' credentials"},"request":{"method":"POST","url":"/authorize"},"response":{"statusCode":403}}`},
		{"anonymous may get conditions when the auth policy is off", "", `{"items":[{"id":"1","permission":` + taskRead + `}]}`, true, 200,
			`{"items":[{"id":"1","result":"CONDITIONAL","pluginId":"scaffolder","resourceType":"scaffolder-task","conditions":{"rule":"IS_TASK_OWNER","resourceType":"scaffolder-task","params":{"createdBy":["user:default/tom"]}}}]}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, permissionservice.Options{Enabled: true, Policy: policy, DisabledDefaultAuthPolicy: tc.disabled}, tasks)
			tok := map[string]string{"user": f.token, "service": serviceToken}[tc.token]
			status, body := call(t, "POST", f.url+"/api/permission/authorize", tok, tc.body)
			if status != tc.status || body != tc.want {
				t.Errorf("got %d %s\nwant %d %s", status, body, tc.status, tc.want)
			}
		})
	}
}

func TestDisabledAllowsEverything(t *testing.T) {
	deny := policyFunc(func(permission.Input) permission.Decision { return permission.Decision{Result: permission.Deny} })
	f := setup(t, permissionservice.Options{Enabled: false, Policy: deny}, nil)
	status, body := call(t, "POST", f.url+"/api/permission/authorize", f.token, `{"items":[{"id":"1","permission":`+createPerm+`}]}`)
	if status != 200 || body != `{"items":[{"id":"1","result":"ALLOW"}]}` {
		t.Fatalf("%d %s", status, body)
	}
	if err := f.perms.Basic(context.Background(), permission.CatalogEntityCreate); err != nil {
		t.Fatalf("disabled service refused: %v", err)
	}
}

func TestApplyConditions(t *testing.T) {
	f := setup(t, permissionservice.Options{Enabled: true}, map[string]string{"t1": "user:default/tom"})
	item := func(typ, cond string, ref string) string {
		return fmt.Sprintf(`{"items":[{"id":"x","resourceRef":%s,"resourceType":%q,"conditions":%s}]}`, ref, typ, cond)
	}
	owner := `{"rule":"IS_TASK_OWNER","resourceType":"scaffolder-task","params":{"createdBy":["user:default/tom"]}}`
	cases := []struct {
		name, plugin, token, body string
		status                    int
		want                      string
	}{
		{"anonymous", "scaffolder", "", item("scaffolder-task", owner, `"t1"`), 401, `"Missing credentials"`},
		{"user", "scaffolder", "user", item("scaffolder-task", owner, `"t1"`), 403, `"NotAllowedError","message":""`},
		{"task owner", "scaffolder", "service", item("scaffolder-task", owner, `"t1"`), 200, `{"items":[{"id":"x","result":"ALLOW"}]}`},
		{"not owner", "scaffolder", "service", item("scaffolder-task", `{"not":`+owner+`}`, `["t1","t2"]`), 200, `{"items":[{"id":"x","result":["DENY","DENY"]}]}`},
		{"unknown type", "scaffolder", "service", item("catalog-entity", owner, `"t1"`), 400, `"Unexpected resource types: catalog-entity."`},
		{"unknown rule", "scaffolder", "service", item("scaffolder-task", `{"rule":"NOPE","resourceType":"scaffolder-task","params":{}}`, `"t1"`), 400,
			`"Permission rule 'NOPE' does not exist for resource type 'scaffolder-task'"`},
		{"bad params", "scaffolder", "service", item("scaffolder-task", `{"rule":"IS_TASK_OWNER","resourceType":"scaffolder-task","params":{"createdBy":"x"}}`, `"t1"`), 400, `InputError`},
		{"templates cannot be applied", "scaffolder", "service", item("scaffolder-template", `{"rule":"HAS_TAG","resourceType":"scaffolder-template","params":{"tag":"a"}}`, `"t1"`), 501, `NotImplementedError`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := map[string]string{"user": f.token, "service": serviceToken}[tc.token]
			status, body := call(t, "POST", f.url+"/api/"+tc.plugin+"/.well-known/backstage/permissions/apply-conditions", tok, tc.body)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("got %d %s\nwant %d with %s", status, body, tc.status, tc.want)
			}
		})
	}
}

func BenchmarkAuthorizeBatch100(b *testing.B) {
	policy := policyFunc(func(in permission.Input) permission.Decision {
		if in.Permission.IsResource() {
			return permission.Decision{Result: permission.Conditional, Conditions: &permission.Criteria{
				Rule: "IS_TASK_OWNER", ResourceType: permission.ScaffolderTask, Params: map[string]any{"createdBy": []any{in.User.Ref}}}}
		}
		return permission.Decision{Result: permission.Allow}
	})
	t := &testing.T{}
	f := setup(t, permissionservice.Options{Enabled: true, Policy: policy}, map[string]string{"t1": "user:default/tom"})
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		if i%2 == 0 {
			fmt.Fprintf(&sb, `{"id":"%d","permission":%s}`, i, createPerm)
		} else {
			fmt.Fprintf(&sb, `{"id":"%d","permission":{"type":"resource","name":"scaffolder.task.read","attributes":{"action":"read"},"resourceType":"scaffolder-task"},"resourceRef":"t1"}`, i)
		}
	}
	sb.WriteString("]}")
	body := sb.String()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", f.url+"/api/permission/authorize", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "decisions/s")
}
