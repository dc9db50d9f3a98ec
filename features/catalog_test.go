// Package features runs the acceptance scenarios in this folder: a
// Backstage user's journeys, told in Gherkin and played against an
// in-process understage built by the same wiring as the binary, over real
// HTTP and a real SQLite database (PostgreSQL with UNDERSTAGE_FEATURES_DB=pg).
package features

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cucumber/godog"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/database/databasetest"
	"github.com/understage/understage/plugins/backend/ojson"
)

func TestFeatures(t *testing.T) {
	suite := godog.TestSuite{
		Name: "understage",
		ScenarioInitializer: func(sc *godog.ScenarioContext) {
			w := &world{t: t}
			sc.After(func(ctx context.Context, _ *godog.Scenario, err error) (context.Context, error) {
				w.close()
				return ctx, nil
			})
			w.register(sc)
		},
		Options: &godog.Options{Format: "pretty", Paths: []string{"."}, Strict: true, TestingT: t},
	}
	if suite.Run() != 0 {
		t.Fatal("acceptance scenarios failed")
	}
}

// world is one scenario's state: a catalog folder and a running backend.
type world struct {
	t       *testing.T
	dir     string
	backend *wire.Backend
	srv     *httptest.Server
	cancel  context.CancelFunc

	expected map[string]bool // refs of the example organisation as first loaded
	token    string
	identity string

	lastStatus int
	lastBody   []byte
	listed     []map[string]any
	pages      [][]map[string]any
	pageTotals []int

	loc *locationsState // registration scenarios (locations_test.go)
}

func (w *world) close() {
	if w.srv != nil {
		w.srv.Close()
	}
	if w.cancel != nil {
		w.cancel()
	}
	if w.backend != nil {
		w.backend.Close()
	}
	if w.dir != "" {
		os.RemoveAll(w.dir)
	}
}

func (w *world) register(sc *godog.ScenarioContext) {
	sc.Step(`^a catalog folder with the example organisation$`, w.exampleFolder)
	sc.Step(`^understage is configured with that folder as a file location$`, w.start)
	sc.Step(`^understage serves the example organisation$`, w.servesExamples)
	sc.Step(`^understage serves the example organisation with the default auth policy and the guest provider$`, w.servesWithAuth)
	sc.Step(`^I list entities without a token$`, w.listNoToken)
	sc.Step(`^I sign in as guest$`, w.signIn)
	sc.Step(`^my identity is "([^"]*)"$`, w.identityIs)
	sc.Step(`^I can list entities with my token$`, w.listWithToken)
	sc.Step(`^I list entities with a token signed by another key$`, w.forgedToken)
	sc.Step(`^understage has ingested (\d+) generated components$`, w.generated)
	sc.Step(`^the catalog has finished processing(?: again)?$`, w.finish)
	sc.Step(`^the catalog lists every entity of the example organisation$`, w.listsEveryExample)
	sc.Step(`^every entity of the example organisation is still in the catalog$`, w.listsEveryExample)
	sc.Step(`^every entity has a uid, an etag and its location annotations$`, w.everyEntityStamped)
	sc.Step(`^component "([^"]*)" is owned by "([^"]*)"$`, w.ownedBy)
	sc.Step(`^group "([^"]*)" has the relation "([^"]*)" to "([^"]*)"$`, w.groupRelation)
	sc.Step(`^the file "([^"]*)" holds one valid component "([^"]*)" and one component with an invalid name$`, w.mixedFile)
	sc.Step(`^the catalog has the component "([^"]*)"$`, w.hasComponent)
	sc.Step(`^the catalog has no entity named "([^"]*)"$`, w.noEntityNamed)
	sc.Step(`^the file "([^"]*)" is replaced by malformed YAML$`, w.malformed)
	sc.Step(`^the location entity for "([^"]*)" reports a processing error$`, w.locationError)
	sc.Step(`^the component "([^"]*)" is edited to have the description "([^"]*)"$`, w.editDescription)
	sc.Step(`^the component "([^"]*)" has the description "([^"]*)"$`, w.hasDescription)
	sc.Step(`^the component "([^"]*)" is removed from its file$`, w.removeFromFile)
	sc.Step(`^I list entities with the filter "([^"]*)"$`, w.listFilter)
	sc.Step(`^every entity returned is a component owned by "([^"]*)"$`, w.allOwnedBy)
	sc.Step(`^the number of entities returned equals the number of components that group owns$`, w.countMatchesOwnerOf)
	sc.Step(`^every entity returned is a component of type "([^"]*)" or "([^"]*)"$`, w.allOfTypes)
	sc.Step(`^I ask for the facet "([^"]*)" of components$`, w.facet)
	sc.Step(`^each facet count equals the number of components listed with that type$`, w.facetCountsAgree)
	sc.Step(`^I list entities with the raw query "([^"]*)"$`, w.rawQuery)
	sc.Step(`^the answer is a (\d+) (\w+)$`, w.answerIs)
	sc.Step(`^I ask for entities by (\d+) refs in one request$`, w.manyRefs)
	sc.Step(`^the catalog still answers queries$`, w.stillAnswers)
	sc.Step(`^I page through components ordered by "([^"]*)" with (\d+) per page following next cursors$`, w.pageForward)
	sc.Step(`^I see (\d+) distinct components in ascending name order$`, w.seeAscending)
	sc.Step(`^every page reports a total of (\d+)$`, w.totals)
	sc.Step(`^I have paged forwards to the last page of components ordered by "([^"]*)" with (\d+) per page$`, w.pageForward)
	sc.Step(`^I follow previous cursors back to the first page$`, w.pageBackward)
	sc.Step(`^I see (\d+) distinct components$`, w.seeDistinct)
	sc.Step(`^the first page has no previous cursor$`, w.firstPageNoPrev)
	w.registerLocations(sc)
	w.registerPermissions(sc)
	w.registerScaffolder(sc)
}

func repoRoot() string {
	dir, _ := os.Getwd()
	return filepath.Dir(dir)
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}

func (w *world) exampleFolder() error {
	dir, err := os.MkdirTemp("", "understage-features-*")
	if err != nil {
		return err
	}
	w.dir = dir
	return copyDir(filepath.Join(repoRoot(), "examples", "catalog"), filepath.Join(dir, "catalog"))
}

func (w *world) start() error {
	return w.startWith("  auth: {dangerouslyDisableDefaultAuthPolicy: true}\n", "")
}

// startWith builds the backend with extra backend: lines and extra top-level config.
func (w *world) startWith(backendExtra, extra string) error {
	dbConf, err := dbConfig(w.t, w.dir)
	if err != nil {
		return err
	}
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
%s  database: %s
catalog:
  processingInterval: PT10M
  rules:
    - allow: [Component, System, API, Resource, Location, Template, Group, User, Domain]
  locations:
    - type: file
      target: %s
%s`, backendExtra, dbConf, filepath.Join(w.dir, "catalog", "all.yaml"), extra)
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(w.dir, "app-config.yaml"), nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	b, err := wire.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	w.backend = b
	b.Server.SetReady()
	w.srv = httptest.NewServer(b.Server.Handler())
	return nil
}

func (w *world) servesExamples() error {
	if err := w.exampleFolder(); err != nil {
		return err
	}
	if err := w.start(); err != nil {
		return err
	}
	return w.finish()
}

// finish makes every location re-read its files and waits until the
// catalog is settled.
func (w *world) finish() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := w.backend.Engine.Drain(ctx); err != nil {
		return err
	}
	locs, err := w.backend.Catalog.ListEntities(ctx, catalog.EntitiesRequest{Filter: catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"location"}}})
	if err != nil {
		return err
	}
	for _, raw := range locs.Entities {
		var e struct {
			Metadata struct{ Name, Namespace string }
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			return err
		}
		if err := w.backend.Catalog.RequestRefresh(ctx, "location:"+e.Metadata.Namespace+"/"+e.Metadata.Name); err != nil {
			return err
		}
	}
	return w.backend.Engine.Drain(ctx)
}

func (w *world) get(path string) (int, []byte, error) {
	resp, err := http.Get(w.srv.URL + "/api/catalog" + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	w.lastStatus, w.lastBody = resp.StatusCode, body
	return resp.StatusCode, body, err
}

func (w *world) getJSON(path string, v any) error {
	status, body, err := w.get(path)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("GET %s: %d %s", path, status, body)
	}
	return json.Unmarshal(body, v)
}

func (w *world) entity(ref string) (map[string]any, error) {
	parts := strings.SplitN(ref, ":", 2)
	ns, name, _ := strings.Cut(parts[1], "/")
	var e map[string]any
	err := w.getJSON("/entities/by-name/"+parts[0]+"/"+ns+"/"+url.PathEscape(name), &e)
	return e, err
}

// exampleRefs lists the refs of every entity in the example folder's YAML
// files, plus the Location entity generated for the configured location.
func (w *world) exampleRefs() (map[string]bool, error) {
	refs := map[string]bool{}
	root := filepath.Join(w.dir, "catalog")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".yaml") {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		docs, err := ojson.DecodeYAMLDocuments(data)
		if err != nil {
			return nil // malformed files hold no entities
		}
		for _, d := range docs {
			o, ok := d.Value.(*ojson.Object)
			if !ok || o.String("kind") == "" || o.String("apiVersion") == "" {
				continue
			}
			ns := o.Object("metadata").String("namespace")
			if ns == "" {
				ns = "default"
			}
			refs[strings.ToLower(o.String("kind")+":"+ns+"/"+o.Object("metadata").String("name"))] = true
		}
		return nil
	})
	sum := sha1.Sum([]byte("file:" + filepath.Join(root, "all.yaml")))
	refs["location:default/generated-"+hex.EncodeToString(sum[:])] = true
	return refs, err
}

func refOf(e map[string]any) string {
	md, _ := e["metadata"].(map[string]any)
	return strings.ToLower(fmt.Sprint(e["kind"]) + ":" + fmt.Sprint(md["namespace"]) + "/" + fmt.Sprint(md["name"]))
}

func (w *world) listsEveryExample() error {
	want := w.expected
	if want == nil {
		var err error
		if want, err = w.exampleRefs(); err != nil {
			return err
		}
		w.expected = want
	}
	var all []map[string]any
	if err := w.getJSON("/entities", &all); err != nil {
		return err
	}
	got := map[string]bool{}
	for _, e := range all {
		got[refOf(e)] = true
	}
	var missing, extra []string
	for r := range want {
		if !got[r] && !strings.HasPrefix(r, "component:default/good-one") {
			missing = append(missing, r)
		}
	}
	for r := range got {
		if !want[r] {
			extra = append(extra, r)
		}
	}
	if len(missing) > 0 || len(extra) > 0 {
		sort.Strings(missing)
		sort.Strings(extra)
		return fmt.Errorf("missing %v, unexpected %v", missing, extra)
	}
	w.listed = all
	return nil
}

func (w *world) everyEntityStamped() error {
	for _, e := range w.listed {
		md := e["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		if md["uid"] == nil || md["etag"] == nil || ann["backstage.io/managed-by-location"] == nil || ann["backstage.io/managed-by-origin-location"] == nil {
			return fmt.Errorf("%s lacks uid, etag or location annotations: %v", refOf(e), md)
		}
	}
	return nil
}

func hasRelation(e map[string]any, typ, target string) bool {
	rels, _ := e["relations"].([]any)
	for _, r := range rels {
		m := r.(map[string]any)
		if m["type"] == typ && m["targetRef"] == target {
			return true
		}
	}
	return false
}

func (w *world) ownedBy(name, owner string) error {
	e, err := w.entity("component:default/" + name)
	if err != nil {
		return err
	}
	if !hasRelation(e, "ownedBy", owner) {
		return fmt.Errorf("component %s relations %v lack ownedBy %s", name, e["relations"], owner)
	}
	return nil
}

func (w *world) groupRelation(group, typ, target string) error {
	e, err := w.entity("group:default/" + group)
	if err != nil {
		return err
	}
	if !hasRelation(e, typ, target) {
		return fmt.Errorf("group %s relations %v lack %s %s", group, e["relations"], typ, target)
	}
	return nil
}

const mixedYAML = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Not A Valid Name!
spec: {type: service, lifecycle: production, owner: team-orders}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  description: Original
spec: {type: service, lifecycle: production, owner: team-orders}
`

func (w *world) mixedFile(file, name string) error {
	return os.WriteFile(filepath.Join(w.dir, "catalog", file), []byte(fmt.Sprintf(mixedYAML, name)), 0o644)
}

func (w *world) hasComponent(name string) error {
	_, err := w.entity("component:default/" + name)
	return err
}

func (w *world) noEntityNamed(name string) error {
	var res []map[string]any
	if err := w.getJSON("/entities?filter=metadata.name="+url.QueryEscape(name), &res); err != nil {
		return err
	}
	if len(res) != 0 {
		return fmt.Errorf("found %d entities named %q", len(res), name)
	}
	return nil
}

func (w *world) malformed(file string) error {
	return os.WriteFile(filepath.Join(w.dir, "catalog", file), []byte("apiVersion: [unclosed\n  kind: : :\n"), 0o644)
}

func (w *world) locationError(file string) error {
	sum := sha1.Sum([]byte("file:" + filepath.Join(w.dir, "catalog", file)))
	e, err := w.entity("location:default/generated-" + hex.EncodeToString(sum[:]))
	if err != nil {
		return err
	}
	st, _ := e["status"].(map[string]any)
	items, _ := st["items"].([]any)
	if len(items) == 0 {
		return fmt.Errorf("location for %s has no processing error: %v", file, e["status"])
	}
	item := items[0].(map[string]any)
	if item["type"] != "backstage.io/catalog-processing" || item["level"] != "error" {
		return fmt.Errorf("unexpected status item %v", item)
	}
	return nil
}

func (w *world) editDescription(name, desc string) error {
	p := filepath.Join(w.dir, "catalog", "components", "mixed.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return os.WriteFile(p, bytes.Replace(data, []byte("description: Original"), []byte("description: "+desc), 1), 0o644)
}

func (w *world) hasDescription(name, desc string) error {
	e, err := w.entity("component:default/" + name)
	if err != nil {
		return err
	}
	if got := e["metadata"].(map[string]any)["description"]; got != desc {
		return fmt.Errorf("description is %v, want %q", got, desc)
	}
	return nil
}

func (w *world) removeFromFile(name string) error {
	p := filepath.Join(w.dir, "catalog", "components", "mixed.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	i := bytes.Index(data, []byte("---\n"))
	if i < 0 {
		return errors.New("mixed.yaml has no second document")
	}
	return os.WriteFile(p, data[:i], 0o644)
}

func (w *world) listFilter(filter string) error {
	w.listed = nil
	return w.getJSON("/entities?filter="+url.QueryEscape(filter), &w.listed)
}

func (w *world) allOwnedBy(owner string) error {
	if len(w.listed) == 0 {
		return errors.New("nothing returned")
	}
	for _, e := range w.listed {
		if e["kind"] != "Component" || !hasRelation(e, "ownedBy", owner) {
			return fmt.Errorf("%s is not a component owned by %s", refOf(e), owner)
		}
	}
	return nil
}

func (w *world) countMatchesOwnerOf() error {
	e, err := w.entity("group:default/team-orders")
	if err != nil {
		return err
	}
	n := 0
	for _, r := range e["relations"].([]any) {
		m := r.(map[string]any)
		if m["type"] == "ownerOf" && strings.HasPrefix(m["targetRef"].(string), "component:") {
			n++
		}
	}
	if n != len(w.listed) {
		return fmt.Errorf("group owns %d components, filter returned %d", n, len(w.listed))
	}
	return nil
}

func (w *world) allOfTypes(a, b string) error {
	if len(w.listed) == 0 {
		return errors.New("nothing returned")
	}
	for _, e := range w.listed {
		t := e["spec"].(map[string]any)["type"]
		if e["kind"] != "Component" || (t != a && t != b) {
			return fmt.Errorf("%s has type %v", refOf(e), t)
		}
	}
	return nil
}

type facets struct {
	Facets map[string][]catalog.FacetCount `json:"facets"`
}

var lastFacets facets

func (w *world) facet(name string) error {
	lastFacets = facets{}
	return w.getJSON("/entity-facets?filter=kind=component&facet="+url.QueryEscape(name), &lastFacets)
}

func (w *world) facetCountsAgree() error {
	vals := lastFacets.Facets["spec.type"]
	if len(vals) == 0 {
		return errors.New("no facet values")
	}
	for _, v := range vals {
		var list []map[string]any
		if err := w.getJSON("/entities?filter="+url.QueryEscape("kind=component,spec.type="+v.Value), &list); err != nil {
			return err
		}
		if len(list) != v.Count {
			return fmt.Errorf("facet says %d of type %s, listing has %d", v.Count, v.Value, len(list))
		}
	}
	return nil
}

func (w *world) rawQuery(q string) error {
	_, _, err := w.get("/entities?" + q)
	return err
}

func (w *world) answerIs(status int, name string) error {
	if w.lastStatus != status {
		return fmt.Errorf("status %d, want %d: %s", w.lastStatus, status, w.lastBody)
	}
	var env struct {
		Error    struct{ Name, Message string }
		Response struct{ StatusCode int }
	}
	if err := json.Unmarshal(w.lastBody, &env); err != nil {
		return fmt.Errorf("not Backstage's error envelope: %s", w.lastBody)
	}
	if env.Error.Name != name || env.Response.StatusCode != status || env.Error.Message == "" {
		return fmt.Errorf("envelope %s, want %s %d", w.lastBody, name, status)
	}
	return nil
}

func (w *world) stillAnswers() error {
	var page struct{ TotalItems int }
	if err := w.getJSON("/entities/by-query?limit=1", &page); err != nil {
		return err
	}
	if page.TotalItems == 0 {
		return errors.New("catalog is empty after bad input")
	}
	return nil
}

func (w *world) generated(n int) error {
	dir, err := os.MkdirTemp("", "understage-features-*")
	if err != nil {
		return err
	}
	w.dir = dir
	var b strings.Builder
	b.WriteString("apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: generated-root\nspec:\n  targets: [./components.yaml]\n")
	if err := os.MkdirAll(filepath.Join(dir, "catalog"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "catalog", "all.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	b.Reset()
	for i := 0; i < n; i++ {
		// Names in mixed case and an order unrelated to the file order.
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Svc-%04d\nspec: {type: service, lifecycle: production, owner: team-%d}\n", (i*7919)%n, i%7)
	}
	if err := os.WriteFile(filepath.Join(dir, "catalog", "components.yaml"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := w.start(); err != nil {
		return err
	}
	return w.finish()
}

type queryPage struct {
	Items      []map[string]any `json:"items"`
	TotalItems int              `json:"totalItems"`
	PageInfo   struct {
		NextCursor string `json:"nextCursor"`
		PrevCursor string `json:"prevCursor"`
	} `json:"pageInfo"`
}

var lastPage queryPage

func (w *world) pageForward(field string, per int) error {
	w.pages, w.pageTotals = nil, nil
	q := fmt.Sprintf("/entities/by-query?filter=kind=component&orderField=%s,asc&limit=%d", url.QueryEscape(field), per)
	for i := 0; i < 10000; i++ {
		var p queryPage
		if err := w.getJSON(q, &p); err != nil {
			return err
		}
		w.pages = append(w.pages, p.Items)
		w.pageTotals = append(w.pageTotals, p.TotalItems)
		lastPage = p
		if p.PageInfo.NextCursor == "" {
			return nil
		}
		q = fmt.Sprintf("/entities/by-query?cursor=%s&limit=%d", url.QueryEscape(p.PageInfo.NextCursor), per)
	}
	return errors.New("paging did not end")
}

func names(pages [][]map[string]any) []string {
	var out []string
	for _, p := range pages {
		for _, e := range p {
			out = append(out, e["metadata"].(map[string]any)["name"].(string))
		}
	}
	return out
}

func (w *world) seeAscending(n int) error {
	ns := names(w.pages)
	if err := distinct(ns, n); err != nil {
		return err
	}
	for i := 1; i < len(ns); i++ {
		if strings.ToLower(ns[i-1]) > strings.ToLower(ns[i]) {
			return fmt.Errorf("%s before %s", ns[i-1], ns[i])
		}
	}
	return nil
}

func distinct(ns []string, n int) error {
	seen := map[string]bool{}
	for _, x := range ns {
		if seen[x] {
			return fmt.Errorf("%s seen twice", x)
		}
		seen[x] = true
	}
	if len(seen) != n {
		return fmt.Errorf("saw %d distinct components, want %d", len(seen), n)
	}
	return nil
}

func (w *world) totals(n int) error {
	for i, t := range w.pageTotals {
		if t != n {
			return fmt.Errorf("page %d reports total %d", i, t)
		}
	}
	return nil
}

func (w *world) pageBackward() error {
	per := len(w.pages[0])
	w.pages = [][]map[string]any{lastPage.Items}
	p := lastPage
	for i := 0; i < 10000; i++ {
		if p.PageInfo.PrevCursor == "" {
			return nil
		}
		var prev queryPage
		if err := w.getJSON(fmt.Sprintf("/entities/by-query?cursor=%s&limit=%d", url.QueryEscape(p.PageInfo.PrevCursor), per), &prev); err != nil {
			return err
		}
		w.pages = append([][]map[string]any{prev.Items}, w.pages...)
		p = prev
		lastPage = prev
	}
	return errors.New("paging back did not end")
}

func (w *world) seeDistinct(n int) error { return distinct(names(w.pages), n) }

func (w *world) firstPageNoPrev() error {
	if lastPage.PageInfo.PrevCursor != "" {
		return errors.New("first page has a previous cursor")
	}
	first := names(w.pages[:1])
	all := names(w.pages)
	sorted := append([]string(nil), all...)
	sort.Slice(sorted, func(i, j int) bool { return strings.ToLower(sorted[i]) < strings.ToLower(sorted[j]) })
	if len(first) == 0 || first[0] != sorted[0] {
		return fmt.Errorf("first page starts with %v, want %s", first, sorted[0])
	}
	return nil
}

func (w *world) manyRefs(n int) error {
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf("component:default/c-%d", i)
	}
	body, _ := json.Marshal(map[string]any{"entityRefs": refs})
	resp, err := http.Post(w.srv.URL+"/api/catalog/entities/by-refs", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w.lastStatus = resp.StatusCode
	w.lastBody, err = io.ReadAll(resp.Body)
	return err
}

func (w *world) servesWithAuth() error {
	if err := w.exampleFolder(); err != nil {
		return err
	}
	if err := w.startWith("", "auth:\n  environment: development\n  providers:\n    guest: {}\n"); err != nil {
		return err
	}
	return w.finish()
}

func (w *world) listNoToken() error {
	_, _, err := w.get("/entities?limit=1")
	return err
}

func (w *world) request(path, token string) error {
	req, err := http.NewRequest(http.MethodGet, w.srv.URL+path, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	w.lastStatus = resp.StatusCode
	w.lastBody, err = io.ReadAll(resp.Body)
	return err
}

func (w *world) signIn() error {
	if err := w.request("/api/auth/guest/refresh", ""); err != nil {
		return err
	}
	if w.lastStatus != 200 {
		return fmt.Errorf("guest refresh: %d %s", w.lastStatus, w.lastBody)
	}
	var r struct {
		BackstageIdentity struct {
			Token    string
			Identity struct{ UserEntityRef string }
		}
	}
	if err := json.Unmarshal(w.lastBody, &r); err != nil {
		return err
	}
	w.token, w.identity = r.BackstageIdentity.Token, r.BackstageIdentity.Identity.UserEntityRef
	return nil
}

func (w *world) identityIs(ref string) error {
	if w.identity != ref {
		return fmt.Errorf("signed in as %q", w.identity)
	}
	return nil
}

func (w *world) listWithToken() error {
	if err := w.request("/api/catalog/entities/by-query?limit=1", w.token); err != nil {
		return err
	}
	var page struct{ TotalItems int }
	if w.lastStatus != 200 || json.Unmarshal(w.lastBody, &page) != nil || page.TotalItems == 0 {
		return fmt.Errorf("listing with a guest token: %d %s", w.lastStatus, w.lastBody)
	}
	return nil
}

// forgedToken signs a well-formed user token with a key understage never made.
func (w *world) forgedToken() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"typ":"vnd.backstage.user","alg":"ES256","kid":"forged"}`))
	now := time.Now().Unix()
	payload := enc.EncodeToString([]byte(fmt.Sprintf(`{"iss":"x","sub":"user:default/admin","aud":"backstage","iat":%d,"exp":%d}`, now, now+3600)))
	digest := sha256.Sum256([]byte(header + "." + payload))
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		return err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return w.request("/api/catalog/entities?limit=1", header+"."+payload+"."+enc.EncodeToString(sig))
}

// dbConfig is the backend.database config of a scenario: a SQLite file in
// dir, or a fresh PostgreSQL database with UNDERSTAGE_FEATURES_DB=pg.
func dbConfig(t *testing.T, dir string) (string, error) {
	if os.Getenv("UNDERSTAGE_FEATURES_DB") != "pg" {
		return fmt.Sprintf("{client: better-sqlite3, connection: %q}", filepath.Join(dir, "catalog.sqlite")), nil
	}
	conn, err := json.Marshal(databasetest.PG(t).Connection) // JSON is YAML flow syntax
	if err != nil {
		return "", err
	}
	// Each plugin names the scenario's database: Backstage (and
	// understage) ignore the base connection's database with PostgreSQL.
	return fmt.Sprintf("{client: pg, connection: %[1]s, plugin: {catalog: {connection: %[1]s}, auth: {connection: %[1]s}, scaffolder: {connection: %[1]s}}}", conn), nil
}
