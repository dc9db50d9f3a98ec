package features

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cucumber/godog"

	"github.com/understage/understage/catalog"
)

// permWorld is the state of the permission scenarios.
type permWorld struct {
	*world
	policy string
	listed []map[string]any
	owners []string
	taskID string
}

const teamPolicy = `package understage.authz

owned := {
	"result": "CONDITIONAL",
	"conditions": {"rule": "IS_ENTITY_OWNER", "resourceType": "catalog-entity", "params": {"claims": input.user.ownershipRefs}},
}

decision := {"result": "DENY"} if {
	input.permission.resourceType == "catalog-entity"
	input.user == null
} else := owned if {
	input.permission.name in {"catalog.entity.read", "catalog.entity.delete"}
} else := {"result": "DENY"} if {
	input.permission.name == "scaffolder.action.execute"
	input.resource.action == "fs:delete"
} else := {"result": "ALLOW"}
`

const denyReadPolicy = `package understage.authz

# Nobody reads the catalog any more.
decision := {"result": "DENY"} if {
	input.permission.name == "catalog.entity.read"
} else := {"result": "ALLOW"}
`

const forbiddenTemplate = `---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: permission-templates
spec:
  targets: [./perm-template.yaml]
`

const permTemplate = `apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata:
  name: tidy-up
  title: Tidy up
spec:
  owner: group:default/team-shop
  type: service
  steps:
    - id: hello
      name: Say hello
      action: debug:log
      input: {message: hello}
    - id: delete
      name: Delete files
      action: fs:delete
      input: {files: [README.md]}
`

func (w *world) registerPermissions(sc *godog.ScenarioContext) {
	p := &permWorld{world: w}
	sc.Step(`^understage serves the example organisation with a Rego policy that lets users read and delete only what their groups own$`, p.serve)
	sc.Step(`^"([^"]*)" has signed in$`, p.signedIn)
	sc.Step(`^they list every entity$`, p.listAll)
	sc.Step(`^every entity they see is owned by "([^"]*)" or "([^"]*)"$`, p.allOwnedBy)
	sc.Step(`^they see every entity the catalog has with those owners$`, p.seeAllOwned)
	sc.Step(`^the by-query total, the kind facet counts and the cursor pages agree with that list$`, p.agree)
	sc.Step(`^they delete the component "([^"]*)"$`, p.deleteComponent)
	sc.Step(`^the delete is refused with a 403 NotAllowedError$`, p.refused)
	sc.Step(`^the component "([^"]*)" is still in the catalog$`, p.stillThere)
	sc.Step(`^they delete a component owned by "([^"]*)"$`, p.deleteOwnedBy)
	sc.Step(`^the delete succeeds$`, p.deleted)
	sc.Step(`^a template whose second step deletes files, which the policy forbids$`, p.templateExists)
	sc.Step(`^they run the template$`, p.runTemplate)
	sc.Step(`^the task fails with the message "([^"]*)"$`, p.taskFails)
	sc.Step(`^the first step of the task has completed$`, p.firstStepDone)
	sc.Step(`^they see at least one entity$`, p.seeSome)
	sc.Step(`^the policy file is changed to deny reading the catalog$`, p.changePolicy)
	sc.Step(`^they eventually see no entity$`, p.eventuallyNone)
}

func (p *permWorld) serve() error {
	if err := p.exampleFolder(); err != nil {
		return err
	}
	p.policy = filepath.Join(p.dir, "policy.rego")
	if err := os.WriteFile(p.policy, []byte(teamPolicy), 0o644); err != nil {
		return err
	}
	cat := filepath.Join(p.dir, "catalog")
	if err := os.WriteFile(filepath.Join(cat, "perm-template.yaml"), []byte(permTemplate), 0o644); err != nil {
		return err
	}
	all, err := os.ReadFile(filepath.Join(cat, "all.yaml"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(cat, "all.yaml"), append(all, forbiddenTemplate...), 0o644); err != nil {
		return err
	}
	extra := fmt.Sprintf(`auth:
  environment: development
  providers:
    guest: {userEntityRef: user:default/tom.becker}
permission:
  enabled: true
  opa:
    policies: [%q]
    pollInterval: {milliseconds: 20}
scaffolder:
  concurrentTasksLimit: 2
`, p.policy)
	if err := p.startWith(fmt.Sprintf("  workingDirectory: %q\n", filepath.Join(p.dir, "work")), extra); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev := p.cancel
	p.cancel = func() { cancel(); prev() }
	p.backend.RunScaffolderWorker(ctx)
	return p.finish()
}

func (p *permWorld) signedIn(name string) error {
	if err := p.signIn(); err != nil {
		return err
	}
	return p.identityIs("user:default/" + name)
}

// do calls the backend with the user's token.
func (p *permWorld) do(method, path, body string) error {
	req, err := http.NewRequest(method, p.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	p.lastStatus = resp.StatusCode
	p.lastBody, err = io.ReadAll(resp.Body)
	return err
}

func (p *permWorld) doJSON(method, path, body string, v any) error {
	if err := p.do(method, path, body); err != nil {
		return err
	}
	if p.lastStatus/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, p.lastStatus, p.lastBody)
	}
	return json.Unmarshal(p.lastBody, v)
}

func (p *permWorld) listAll() error {
	p.listed = nil
	return p.doJSON("GET", "/api/catalog/entities", "", &p.listed)
}

func (p *permWorld) allOwnedBy(a, b string) error {
	p.owners = []string{a, b}
	if len(p.listed) == 0 {
		return fmt.Errorf("saw nothing")
	}
	for _, e := range p.listed {
		if !hasRelation(e, "ownedBy", a) && !hasRelation(e, "ownedBy", b) {
			return fmt.Errorf("sees %s, owned by neither", refOf(e))
		}
	}
	return nil
}

func refsOf(list []map[string]any) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i] = refOf(e)
	}
	sort.Strings(out)
	return out
}

func (p *permWorld) seeAllOwned() error {
	res, err := p.backend.Catalog.ListEntities(context.Background(), catalog.EntitiesRequest{
		Filter: catalog.Field{Key: "relations.ownedby", Op: catalog.OpIn, Values: p.owners}})
	if err != nil {
		return err
	}
	var want []map[string]any
	for _, raw := range res.Entities {
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		want = append(want, e)
	}
	if a, b := strings.Join(refsOf(want), " "), strings.Join(refsOf(p.listed), " "); a != b {
		return fmt.Errorf("catalog has %s\nuser sees %s", a, b)
	}
	return nil
}

func (p *permWorld) agree() error {
	seen := map[string]bool{}
	cursor := ""
	for page := 0; ; page++ {
		path := "/api/catalog/entities/by-query?limit=2&orderField=metadata.name,asc"
		if cursor != "" {
			path = "/api/catalog/entities/by-query?cursor=" + cursor
		}
		var r struct {
			Items      []map[string]any
			TotalItems int
			PageInfo   struct{ NextCursor string }
		}
		if err := p.doJSON("GET", path, "", &r); err != nil {
			return err
		}
		if r.TotalItems != len(p.listed) {
			return fmt.Errorf("page %d reports a total of %d, the list has %d", page, r.TotalItems, len(p.listed))
		}
		for _, e := range r.Items {
			if seen[refOf(e)] {
				return fmt.Errorf("%s on two pages", refOf(e))
			}
			seen[refOf(e)] = true
		}
		if cursor = r.PageInfo.NextCursor; cursor == "" {
			break
		}
	}
	for _, ref := range refsOf(p.listed) {
		if !seen[ref] {
			return fmt.Errorf("%s listed but not on any page", ref)
		}
	}
	if len(seen) != len(p.listed) {
		return fmt.Errorf("pages hold %d entities, the list %d", len(seen), len(p.listed))
	}
	var f struct {
		Facets map[string][]struct {
			Value string
			Count int
		}
	}
	if err := p.doJSON("GET", "/api/catalog/entity-facets?facet=kind", "", &f); err != nil {
		return err
	}
	kinds := map[string]int{}
	for _, e := range p.listed {
		kinds[fmt.Sprint(e["kind"])]++
	}
	total := 0
	for _, fc := range f.Facets["kind"] {
		if kinds[fc.Value] != fc.Count {
			return fmt.Errorf("facet %s counts %d, the list has %d", fc.Value, fc.Count, kinds[fc.Value])
		}
		total += fc.Count
	}
	if total != len(p.listed) {
		return fmt.Errorf("facets count %d, the list has %d", total, len(p.listed))
	}
	return nil
}

func (p *permWorld) uidOf(ref string) (string, error) {
	raw, err := p.backend.Catalog.EntityByRef(context.Background(), ref, nil)
	if err != nil {
		return "", err
	}
	var e struct{ Metadata struct{ UID string } }
	if err := json.Unmarshal(raw, &e); err != nil {
		return "", err
	}
	return e.Metadata.UID, nil
}

func (p *permWorld) deleteComponent(name string) error {
	uid, err := p.uidOf("component:default/" + name)
	if err != nil {
		return err
	}
	return p.do("DELETE", "/api/catalog/entities/by-uid/"+uid, "")
}

func (p *permWorld) refused() error {
	var env struct {
		Error    struct{ Name string }
		Response struct{ StatusCode int }
	}
	if p.lastStatus != 403 || json.Unmarshal(p.lastBody, &env) != nil || env.Error.Name != "NotAllowedError" || env.Response.StatusCode != 403 {
		return fmt.Errorf("answer %d %s", p.lastStatus, p.lastBody)
	}
	return nil
}

func (p *permWorld) stillThere(name string) error {
	_, err := p.uidOf("component:default/" + name)
	return err
}

func (p *permWorld) deleteOwnedBy(owner string) error {
	res, err := p.backend.Catalog.ListEntities(context.Background(), catalog.EntitiesRequest{Filter: catalog.AllOf{Filters: []catalog.Filter{
		catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		catalog.Field{Key: "relations.ownedby", Op: catalog.OpIn, Values: []string{owner}},
	}}})
	if err != nil {
		return err
	}
	if len(res.Entities) == 0 {
		return fmt.Errorf("no component owned by %s", owner)
	}
	var e struct{ Metadata struct{ UID string } }
	if err := json.Unmarshal(res.Entities[0], &e); err != nil {
		return err
	}
	return p.do("DELETE", "/api/catalog/entities/by-uid/"+e.Metadata.UID, "")
}

func (p *permWorld) deleted() error {
	if p.lastStatus != http.StatusNoContent {
		return fmt.Errorf("delete answered %d %s", p.lastStatus, p.lastBody)
	}
	return nil
}

func (p *permWorld) templateExists() error {
	_, err := p.uidOf("template:default/tidy-up")
	return err
}

func (p *permWorld) runTemplate() error {
	var r struct{ ID string }
	if err := p.doJSON("POST", "/api/scaffolder/v2/tasks", `{"templateRef":"template:default/tidy-up","values":{}}`, &r); err != nil {
		return err
	}
	p.taskID = r.ID
	deadline := time.Now().Add(time.Minute)
	for {
		var t struct{ Status string }
		if err := p.doJSON("GET", "/api/scaffolder/v2/tasks/"+p.taskID, "", &t); err != nil {
			return err
		}
		if t.Status == "failed" || t.Status == "completed" || t.Status == "cancelled" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("task still %s", t.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type taskEvent struct {
	Type string
	Body struct {
		Message, StepID, Status string
		Error                   *struct{ Name, Message string }
	}
}

func (p *permWorld) events() ([]taskEvent, error) {
	var evs []taskEvent
	err := p.doJSON("GET", "/api/scaffolder/v2/tasks/"+p.taskID+"/events", "", &evs)
	return evs, err
}

func (p *permWorld) taskFails(msg string) error {
	evs, err := p.events()
	if err != nil {
		return err
	}
	stepFailed := false
	for _, e := range evs {
		if e.Body.StepID == "delete" && e.Body.Status == "failed" && e.Body.Message == "NotAllowedError: "+msg {
			stepFailed = true
		}
		if e.Type == "completion" {
			if e.Body.Error == nil || e.Body.Error.Message != msg || e.Body.Error.Name != "NotAllowedError" {
				return fmt.Errorf("completion %+v", e.Body)
			}
			if !stepFailed {
				return fmt.Errorf("no failed event for the delete step: %+v", evs)
			}
			return nil
		}
	}
	return fmt.Errorf("no completion event: %+v", evs)
}

func (p *permWorld) firstStepDone() error {
	evs, err := p.events()
	if err != nil {
		return err
	}
	for _, e := range evs {
		if e.Body.StepID == "hello" && e.Body.Status == "completed" {
			return nil
		}
	}
	return fmt.Errorf("step hello never completed: %+v", evs)
}

func (p *permWorld) seeSome() error {
	if len(p.listed) == 0 {
		return fmt.Errorf("sees nothing")
	}
	return nil
}

func (p *permWorld) changePolicy() error {
	return os.WriteFile(p.policy, []byte(denyReadPolicy), 0o644)
}

// eventuallyNone lists until the new policy is in force; the backend picks
// up the change on its own (no reload call, no restart).
func (p *permWorld) eventuallyNone() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := p.listAll(); err != nil {
			return err
		}
		if len(p.listed) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still sees %d entities", len(p.listed))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
