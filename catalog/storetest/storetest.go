// Package storetest is the behaviour every catalog.Store must share. Each
// store implementation runs Exercise once per database it supports.
package storetest

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Provider is the provider name the helpers use for roots.
const Provider = "storetest-provider"

// Entity builds a minimal entity; spec may be nil.
func Entity(kind, name string, spec *ojson.Object, kv ...any) *ojson.Object {
	md := ojson.NewObject("name", name, "namespace", "default")
	for i := 0; i+1 < len(kv); i += 2 {
		md.Set(kv[i].(string), kv[i+1])
	}
	e := ojson.NewObject("apiVersion", "backstage.io/v1alpha1", "kind", kind, "metadata", md)
	if spec != nil {
		e.Set("spec", spec)
	}
	return e
}

// Ref is the lowercased ref of e.
func Ref(e *ojson.Object) string {
	return model.EntityRef(e)
}

// RelationsFunc emits the relations of a processed entity.
type RelationsFunc func(e *ojson.Object) []catalog.Relation

// OwnerRelations emits ownedBy/ownerOf from spec.owner (a full ref).
func OwnerRelations(e *ojson.Object) []catalog.Relation {
	spec := e.Object("spec")
	if spec == nil || spec.String("owner") == "" {
		return nil
	}
	self, owner := Ref(e), strings.ToLower(spec.String("owner"))
	return []catalog.Relation{{Source: self, Type: "ownedBy", Target: owner}, {Source: owner, Type: "ownerOf", Target: self}}
}

// ChildrenFunc emits children of a processed entity.
type ChildrenFunc func(e *ojson.Object) []catalog.DeferredEntity

// Process runs claim → complete → stitch until nothing is due or queued.
// Processing copies the unprocessed entity; rels and kids (may be nil) add
// relations and children.
func Process(t testing.TB, st catalog.Store, rels RelationsFunc, kids ChildrenFunc) {
	t.Helper()
	ctx := context.Background()
	far := func() time.Time { return time.Now().Add(time.Hour) }
	for range 100 {
		items, err := st.ClaimDue(ctx, 1000, far)
		if err != nil {
			t.Fatalf("ClaimDue: %v", err)
		}
		if err := st.CompleteProcessing(ctx, results(t, items, rels, kids)); err != nil {
			t.Fatalf("CompleteProcessing: %v", err)
		}
		stitched := StitchAll(t, st)
		if len(items) == 0 && stitched == 0 {
			return
		}
	}
	t.Fatal("processing did not settle")
}

// results processes claimed items as Process does: each entity copied,
// with the relations and children of rels and kids (may be nil).
func results(t testing.TB, items []catalog.ProcessingItem, rels RelationsFunc, kids ChildrenFunc) []catalog.ProcessingResult {
	t.Helper()
	out := make([]catalog.ProcessingResult, 0, len(items))
	for _, it := range items {
		e, err := ojson.DecodeObject(it.Unprocessed)
		if err != nil {
			t.Fatalf("decode unprocessed: %v", err)
		}
		r := catalog.ProcessingResult{EntityID: it.EntityID, EntityRef: it.EntityRef, Ok: true, Processed: e}
		if rels != nil {
			r.Relations = rels(e)
		}
		if kids != nil {
			r.Children = kids(e)
		}
		r.ResultHash = resultHash(r)
		out = append(out, r)
	}
	return out
}

func resultHash(r catalog.ProcessingResult) string {
	b, _ := ojson.Marshal(r.Processed)
	h := sha1.New()
	h.Write(b)
	fmt.Fprint(h, r.Relations, r.Errors)
	for _, c := range r.Children {
		cb, _ := ojson.Marshal(c.Entity)
		h.Write(cb)
		h.Write([]byte(c.LocationKey))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// StitchAll drains the stitch queue and returns how many it stitched.
func StitchAll(t testing.TB, st catalog.Store) int {
	t.Helper()
	total := 0
	for {
		n, err := st.StitchPending(context.Background(), 500)
		if err != nil {
			t.Fatalf("StitchPending: %v", err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// Seed makes entities provider roots and processes them with owner relations.
func Seed(t testing.TB, st catalog.Store, entities ...*ojson.Object) {
	t.Helper()
	var ds []catalog.DeferredEntity
	for _, e := range entities {
		ds = append(ds, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
	}
	if err := st.ApplyFullMutation(context.Background(), Provider, ds); err != nil {
		t.Fatalf("ApplyFullMutation: %v", err)
	}
	Process(t, st, OwnerRelations, nil)
}

type view struct {
	Metadata struct {
		Name        string            `json:"name"`
		UID         string            `json:"uid"`
		Annotations map[string]string `json:"annotations"`
	} `json:"metadata"`
	Relations []struct {
		Type      string `json:"type"`
		TargetRef string `json:"targetRef"`
	} `json:"relations"`
	Status *struct {
		Items []struct {
			Message string `json:"message"`
		} `json:"items"`
	} `json:"status"`
}

func decode(t testing.TB, raw catalog.RawEntity) view {
	t.Helper()
	var v view
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode entity %q: %v", raw, err)
	}
	return v
}

func names(t testing.TB, raws []catalog.RawEntity) []string {
	t.Helper()
	out := make([]string, 0, len(raws))
	for _, r := range raws {
		if r == nil {
			out = append(out, "<nil>")
			continue
		}
		out = append(out, decode(t, r).Metadata.Name)
	}
	return out
}

func equal(t testing.TB, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func uidOf(t testing.TB, st catalog.Store, ref string) string {
	t.Helper()
	raw, err := st.EntityByRef(context.Background(), ref, nil)
	if err != nil {
		t.Fatalf("EntityByRef(%s): %v", ref, err)
	}
	return decode(t, raw).Metadata.UID
}

// fixture is a small catalog with known ordering properties.
func fixture() []*ojson.Object {
	return []*ojson.Object{
		Entity("Component", "billing-service", ojson.NewObject("type", "service", "lifecycle", "production", "owner", "group:default/team-a"), "tags", []any{"java", "billing"}),
		Entity("Component", "billing-web", ojson.NewObject("type", "website", "lifecycle", "production", "owner", "group:default/team-a"), "tags", []any{"typescript"}),
		Entity("Component", "Search_Svc", ojson.NewObject("type", "service", "lifecycle", "experimental", "owner", "group:default/team-b"), "title", "100% search"),
		Entity("API", "billing-api", ojson.NewObject("type", "openapi", "lifecycle", "production", "owner", "group:default/team-a")),
		Entity("Group", "team-a", ojson.NewObject("type", "team", "children", []any{})),
		Entity("System", "billing", ojson.NewObject("owner", "group:default/team-a"), "tags", []any{"billing"}),
		Entity("User", "jdoe", ojson.NewObject("memberOf", []any{"team-a"})),
	}
}

// Exercise runs the shared behaviour against stores made by newStore.
func Exercise(t *testing.T, newStore func(t *testing.T) catalog.Store) {
	t.Run("Filters", func(t *testing.T) { t.Parallel(); testFilters(t, newStore(t)) })
	t.Run("ListEntities", func(t *testing.T) { t.Parallel(); testList(t, newStore(t)) })
	t.Run("QueryEntities", func(t *testing.T) { t.Parallel(); testQuery(t, newStore(t)) })
	t.Run("Lookups", func(t *testing.T) { t.Parallel(); testLookups(t, newStore(t)) })
	t.Run("Facets", func(t *testing.T) { t.Parallel(); testFacets(t, newStore(t)) })
	t.Run("Processing", func(t *testing.T) { t.Parallel(); testProcessing(t, newStore(t)) })
	t.Run("ChildrenAndAncestry", func(t *testing.T) { t.Parallel(); testChildren(t, newStore(t)) })
	t.Run("Claiming", func(t *testing.T) { t.Parallel(); testClaiming(t, newStore(t)) })
	t.Run("RestitchedPeers", func(t *testing.T) { t.Parallel(); testRestitchedPeers(t, newStore(t)) })
	t.Run("ClaimOrder", func(t *testing.T) { t.Parallel(); testClaimOrder(t, newStore(t)) })
	t.Run("ReferencesDropped", func(t *testing.T) { t.Parallel(); testReferencesDropped(t, newStore(t)) })
}

// testClaimOrder checks that entities written together are claimed in the
// direction their relations point (components before the APIs, systems
// and groups they name), whatever their order in the file, so that a first
// ingest claiming one entity at a time stitches every entity once.
func testClaimOrder(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	ents := []*ojson.Object{
		Entity("Group", "team-z", ojson.NewObject("type", "team", "children", []any{})),
		Entity("System", "sys", ojson.NewObject("owner", "group:default/team-z")),
		Entity("API", "api", ojson.NewObject("type", "openapi", "lifecycle", "production", "owner", "group:default/team-z")),
		Entity("Component", "svc", ojson.NewObject("type", "service", "lifecycle", "production", "owner", "group:default/team-z")),
		Entity("Location", "more", ojson.NewObject("type", "url", "target", "https://example.com/more.yaml")),
	}
	var ds []catalog.DeferredEntity
	for _, e := range ents {
		ds = append(ds, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
	}
	if err := st.ApplyFullMutation(ctx, Provider, ds); err != nil {
		t.Fatal(err)
	}
	StitchAll(t, st)
	var order []string
	for {
		items, err := st.ClaimDue(ctx, 1, func() time.Time { return time.Now().Add(time.Hour) })
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 0 {
			break
		}
		if err := st.CompleteProcessing(ctx, results(t, items, OwnerRelations, nil)); err != nil {
			t.Fatal(err)
		}
		order = append(order, items[0].EntityRef)
	}
	equal(t, "claim order", order, []string{"location:default/more", "component:default/svc", "api:default/api", "system:default/sys", "group:default/team-z"})
	// Stores that stitch as they process have nothing left to stitch; those
	// with writers side by side (PostgreSQL) queue an entity's first stitch,
	// and then stitch each entity once here.
	want := 0
	if st.ConcurrentWriters() {
		want = len(ents)
	}
	if n := StitchAll(t, st); n != want {
		t.Errorf("%d entities stitched after every entity was processed once, want %d", n, want)
	}
	owned := 0
	for _, r := range decode(t, mustRef(t, st, "group:default/team-z")).Relations {
		if r.Type == "ownerOf" {
			owned++
		}
	}
	if owned != 3 {
		t.Errorf("team-z owns %d entities, want 3", owned)
	}
}

// testRestitchedPeers checks which relation peers a changed entity has
// stitched again: the sources of the relations it adds or drops (an
// entity's relations are those it is the source of), as Backstage does.
func testRestitchedPeers(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	teamC := Entity("Group", "team-c", ojson.NewObject("type", "team", "children", []any{}))
	entities := append(fixture(), teamC)
	Seed(t, st, entities...)
	// reprocess emits entities again with billing-service changed by edit,
	// processes what is due and returns how many entities the stitch
	// queue then holds.
	reprocess := func(edit func(spec, meta *ojson.Object)) int {
		t.Helper()
		var ds []catalog.DeferredEntity
		for _, e := range fixture() {
			if e.Object("metadata").String("name") == "billing-service" {
				edit(e.Object("spec"), e.Object("metadata"))
			}
			ds = append(ds, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
		}
		ds = append(ds, catalog.DeferredEntity{Entity: teamC, LocationKey: "url:https://example.com/catalog.yaml"})
		if err := st.ApplyFullMutation(ctx, Provider, ds); err != nil {
			t.Fatal(err)
		}
		StitchAll(t, st)
		if err := st.RequestRefresh(ctx, "component:default/billing-service"); err != nil {
			t.Fatal(err)
		}
		items, err := st.ClaimDue(ctx, 100, func() time.Time { return time.Now().Add(time.Hour) })
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CompleteProcessing(ctx, results(t, items, OwnerRelations, nil)); err != nil {
			t.Fatal(err)
		}
		return StitchAll(t, st)
	}
	if n := reprocess(func(_, meta *ojson.Object) { meta.Set("description", "edited") }); n != 0 {
		t.Errorf("an edited description restitched %d peers, want none", n)
	}
	if got := mustRef(t, st, "component:default/billing-service"); !strings.Contains(string(got), "edited") {
		t.Errorf("edited entity not stitched: %s", got)
	}
	// A new owner: the old and the new owner lose and gain ownerOf.
	if n := reprocess(func(spec, meta *ojson.Object) { spec.Set("owner", "group:default/team-c") }); n != 2 {
		t.Errorf("a new owner restitched %d peers, want 2 (the old owner and the new)", n)
	}
	owns := func(team string) bool {
		for _, r := range decode(t, mustRef(t, st, "group:default/"+team)).Relations {
			if r.Type == "ownerOf" && r.TargetRef == "component:default/billing-service" {
				return true
			}
		}
		return false
	}
	if owns("team-a") || !owns("team-c") {
		t.Errorf("after the owner changed: team-a owns it %v, team-c %v; want false, true", owns("team-a"), owns("team-c"))
	}
}

func testFilters(t *testing.T, st catalog.Store) {
	Seed(t, st, fixture()...)
	in := func(k string, v ...string) catalog.Field { return catalog.Field{Key: k, Op: catalog.OpIn, Values: v} }
	tests := []struct {
		name   string
		filter catalog.Filter
		want   []string
	}{
		{"nil matches all", nil, []string{"billing", "billing-api", "billing-service", "billing-web", "jdoe", "Search_Svc", "team-a"}},
		{"in one value", in("kind", "component"), []string{"billing-service", "billing-web", "Search_Svc"}},
		{"in several values", in("spec.type", "website", "openapi"), []string{"billing-api", "billing-web"}},
		{"value compare is on lowercased values", in("metadata.name", "search_svc"), []string{"Search_Svc"}},
		{"exists", catalog.Field{Key: "metadata.tags"}, []string{"billing", "billing-service", "billing-web"}},
		{"array item as key", in("metadata.tags.java", "true"), []string{"billing-service"}},
		{"relation", in("relations.ownedby", "group:default/team-b"), []string{"Search_Svc"}},
		{"prefix", catalog.Field{Key: "metadata.name", Op: catalog.OpHasPrefix, Values: []string{"billing-"}}, []string{"billing-api", "billing-service", "billing-web"}},
		{"prefix escapes underscore", catalog.Field{Key: "metadata.name", Op: catalog.OpHasPrefix, Values: []string{"search_"}}, []string{"Search_Svc"}},
		{"prefix underscore is literal", catalog.Field{Key: "metadata.name", Op: catalog.OpHasPrefix, Values: []string{"billing_"}}, nil},
		{"prefix percent is literal", catalog.Field{Key: "metadata.title", Op: catalog.OpHasPrefix, Values: []string{"1%"}}, nil},
		{"prefix with percent", catalog.Field{Key: "metadata.title", Op: catalog.OpHasPrefix, Values: []string{"100%"}}, []string{"Search_Svc"}},
		{"all of", catalog.AllOf{Filters: []catalog.Filter{in("kind", "component"), in("spec.type", "service")}}, []string{"billing-service", "Search_Svc"}},
		{"any of", catalog.AnyOf{Filters: []catalog.Filter{in("kind", "user"), in("kind", "group")}}, []string{"jdoe", "team-a"}},
		{"not", catalog.AllOf{Filters: []catalog.Filter{in("kind", "component"), catalog.Not{Filter: in("spec.type", "service")}}}, []string{"billing-web"}},
		{"nested all of and any of one", catalog.AllOf{Filters: []catalog.Filter{catalog.AnyOf{Filters: []catalog.Filter{catalog.AllOf{Filters: []catalog.Filter{in("kind", "component")}}}}, in("spec.type", "service")}}, []string{"billing-service", "Search_Svc"}},
		{"all of a disjunction and a field", catalog.AllOf{Filters: []catalog.Filter{catalog.AnyOf{Filters: []catalog.Filter{in("kind", "user"), in("kind", "group")}}, catalog.Field{Key: "metadata.name", Op: catalog.OpHasPrefix, Values: []string{"team"}}}}, []string{"team-a"}},
		{"empty all of", catalog.AllOf{}, []string{"billing", "billing-api", "billing-service", "billing-web", "jdoe", "Search_Svc", "team-a"}},
		{"empty any of", catalog.AnyOf{}, nil},
		{"unknown key", in("spec.nope", "x"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := st.ListEntities(context.Background(), catalog.EntitiesRequest{Filter: tc.filter})
			if err != nil {
				t.Fatal(err)
			}
			got := names(t, res.Entities)
			slices.SortFunc(got, func(a, b string) int { return strings.Compare(strings.ToLower(a), strings.ToLower(b)) })
			if len(got) == 0 {
				got = nil
			}
			equal(t, "names", got, tc.want)
			// by-query counts the same entities, sorted or not (each
			// counted once though it has several rows of a key), and
			// with a full-text term those of them whose name has it.
			withTerm := 0
			for _, n := range tc.want {
				if strings.Contains(strings.ToLower(n), "bill") {
					withTerm++
				}
			}
			for _, c := range []struct {
				name  string
				req   catalog.QueryRequest
				total int
			}{
				{"unsorted", catalog.QueryRequest{}, len(tc.want)},
				{"sorted", catalog.QueryRequest{OrderField: &catalog.Order{Field: "metadata.name"}}, len(tc.want)},
				{"unsorted, full text", catalog.QueryRequest{FullText: catalog.FullTextFilter{Term: "BILL", Fields: []string{"metadata.name"}}}, withTerm},
				{"sorted, full text", catalog.QueryRequest{OrderField: &catalog.Order{Field: "metadata.name"}, FullText: catalog.FullTextFilter{Term: "BILL"}}, withTerm},
			} {
				c.req.Filter, c.req.CountTotal = tc.filter, true
				res, err := st.QueryEntities(context.Background(), c.req)
				if err != nil {
					t.Fatalf("%s count: %v", c.name, err)
				}
				if res.TotalItems != c.total {
					t.Errorf("%s count = %d, want %d", c.name, res.TotalItems, c.total)
				}
			}
		})
	}
}

func testList(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	Seed(t, st, fixture()...)
	list := func(req catalog.EntitiesRequest) catalog.EntitiesResult {
		t.Helper()
		res, err := st.ListEntities(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	// Unpaginated without order: by uid.
	all := list(catalog.EntitiesRequest{})
	var uids []string
	byName := map[string]string{}
	for _, r := range all.Entities {
		v := decode(t, r)
		uids = append(uids, v.Metadata.UID)
		byName[v.Metadata.Name] = v.Metadata.UID
	}
	if !slices.IsSorted(uids) || len(uids) != 7 {
		t.Errorf("unpaginated listing not by uid: %q", uids)
	}
	// Paginated without order: by entity ref.
	page := list(catalog.EntitiesRequest{Limit: 3})
	equal(t, "page 1", names(t, page.Entities), []string{"billing-api", "billing-service", "billing-web"})
	if !page.HasMore {
		t.Error("page 1: HasMore = false")
	}
	page = list(catalog.EntitiesRequest{Limit: 3, Offset: 6})
	equal(t, "last page", names(t, page.Entities), []string{"jdoe"})
	if page.HasMore {
		t.Error("last page: HasMore = true")
	}
	// Order on a field: entities lacking it are left out; ties by uid in the same direction.
	services := []string{"billing-service", "Search_Svc"}
	slices.SortFunc(services, func(a, b string) int { return strings.Compare(byName[a], byName[b]) })
	asc := list(catalog.EntitiesRequest{Order: []catalog.Order{{Field: "spec.type"}}})
	equal(t, "asc spec.type", names(t, asc.Entities), append(append([]string{"billing-api"}, services...), "team-a", "billing-web"))
	desc := list(catalog.EntitiesRequest{Order: []catalog.Order{{Field: "spec.type", Desc: true}}})
	rev := slices.Clone(services)
	slices.Reverse(rev)
	equal(t, "desc spec.type", names(t, desc.Entities), append(append([]string{"billing-web", "team-a"}, rev...), "billing-api"))
	// Only the first order field counts (Backstage 1.55).
	two := list(catalog.EntitiesRequest{Order: []catalog.Order{{Field: "spec.type"}, {Field: "metadata.name", Desc: true}}})
	equal(t, "two order fields", names(t, two.Entities), names(t, asc.Entities))
	// Multi-valued: once per value.
	tags := list(catalog.EntitiesRequest{Order: []catalog.Order{{Field: "metadata.tags"}}})
	if got := names(t, tags.Entities); len(got) != 4 || got[len(got)-1] != "billing-web" {
		t.Errorf("order by tags = %q, want 4 rows ending with billing-web", got)
	}
	paged := list(catalog.EntitiesRequest{Order: []catalog.Order{{Field: "spec.type"}}, Limit: 2, Offset: 1})
	equal(t, "ordered page", names(t, paged.Entities), names(t, asc.Entities)[1:3])
}

func testQuery(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	Seed(t, st, fixture()...)
	q := func(req catalog.QueryRequest) catalog.QueryResult {
		t.Helper()
		res, err := st.QueryEntities(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	order := &catalog.Order{Field: "metadata.name"}
	full := q(catalog.QueryRequest{OrderField: order, Limit: 100, CountTotal: true})
	want := []string{"billing", "billing-api", "billing-service", "billing-web", "jdoe", "Search_Svc", "team-a"}
	equal(t, "full listing", names(t, full.Entities), want)
	if full.TotalItems != 7 || full.HasMore || !full.IsFirstOfAll {
		t.Errorf("full listing: total %d hasMore %v first %v", full.TotalItems, full.HasMore, full.IsFirstOfAll)
	}
	// Walk forward in pages of 3, then back.
	var pages [][]string
	var res catalog.QueryResult
	req := catalog.QueryRequest{OrderField: order, Limit: 3}
	for i := 0; ; i++ {
		res = q(req)
		pages = append(pages, names(t, res.Entities))
		if (i == 0) != res.IsFirstOfAll {
			t.Errorf("page %d: IsFirstOfAll = %v", i, res.IsFirstOfAll)
		}
		if !res.HasMore {
			break
		}
		req.After = res.Last
	}
	if got := slices.Concat(pages...); !slices.Equal(got, want) {
		t.Fatalf("forward pages = %q", pages)
	}
	back := q(catalog.QueryRequest{OrderField: order, Limit: 3, After: res.First, Backward: true})
	equal(t, "backward page", names(t, back.Entities), pages[len(pages)-2])
	if !back.HasMore || back.IsFirstOfAll {
		t.Errorf("backward page: HasMore %v IsFirstOfAll %v", back.HasMore, back.IsFirstOfAll)
	}
	first := q(catalog.QueryRequest{OrderField: order, Limit: 3, After: back.First, Backward: true})
	equal(t, "first page backward", names(t, first.Entities), pages[0])
	if first.HasMore || !first.IsFirstOfAll {
		t.Errorf("first page backward: HasMore %v IsFirstOfAll %v", first.HasMore, first.IsFirstOfAll)
	}
	// Desc order.
	desc := q(catalog.QueryRequest{OrderField: &catalog.Order{Field: "metadata.name", Desc: true}, Limit: 2})
	equal(t, "desc", names(t, desc.Entities), []string{"team-a", "Search_Svc"})
	next := q(catalog.QueryRequest{OrderField: &catalog.Order{Field: "metadata.name", Desc: true}, Limit: 2, After: desc.Last})
	equal(t, "desc page 2", names(t, next.Entities), []string{"jdoe", "billing-web"})
	if *next.First.Value != "jdoe" {
		t.Errorf("cursor value = %q, want lowercased sort value", *next.First.Value)
	}
	// Missing sort field excluded; multi-valued counted once per entity.
	tags := q(catalog.QueryRequest{OrderField: &catalog.Order{Field: "metadata.tags"}, Limit: 10, CountTotal: true})
	if len(tags.Entities) != 4 || tags.TotalItems != 3 {
		t.Errorf("tags: %d rows, total %d; want 4 rows, 3 total", len(tags.Entities), tags.TotalItems)
	}
	// Full text: default field is the sort field; explicit fields otherwise.
	ft := q(catalog.QueryRequest{OrderField: order, FullText: catalog.FullTextFilter{Term: "BILL"}, Limit: 10, CountTotal: true})
	equal(t, "full text on sort field", names(t, ft.Entities), want[:4])
	if ft.TotalItems != 4 {
		t.Errorf("full text total = %d", ft.TotalItems)
	}
	ft = q(catalog.QueryRequest{FullText: catalog.FullTextFilter{Term: "100%", Fields: []string{"metadata.title"}}, Limit: 10})
	equal(t, "full text escaped", names(t, ft.Entities), []string{"Search_Svc"})
	ft = q(catalog.QueryRequest{FullText: catalog.FullTextFilter{Term: "billing"}, Limit: 10})
	if len(ft.Entities) != 0 {
		t.Errorf("unsorted full text should search uids, got %q", names(t, ft.Entities))
	}
	// Unsorted: by uid, with nil cursor values.
	un := q(catalog.QueryRequest{Limit: 4, Filter: catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component", "api", "group", "system", "user"}}})
	if un.First.Value != nil || !un.HasMore {
		t.Errorf("unsorted: first %+v hasMore %v", un.First, un.HasMore)
	}
	un2 := q(catalog.QueryRequest{Limit: 4, After: un.Last})
	if len(un2.Entities) != 3 || un2.HasMore || un2.First.UID <= un.Last.UID {
		t.Errorf("unsorted page 2: %d rows, hasMore %v", len(un2.Entities), un2.HasMore)
	}
	// Offset and limit 0.
	off := q(catalog.QueryRequest{OrderField: order, Limit: 2, Offset: 5})
	equal(t, "offset", names(t, off.Entities), want[5:])
	zero := q(catalog.QueryRequest{OrderField: order, Limit: 0, CountTotal: true})
	if len(zero.Entities) != 0 || zero.TotalItems != 7 {
		t.Errorf("limit 0: %d rows total %d", len(zero.Entities), zero.TotalItems)
	}
	// Counts follow writes (the count cache must not go stale).
	Seed(t, st, append(fixture(), Entity("Component", "zeta", ojson.NewObject("type", "service", "owner", "group:default/team-a")))...)
	if got := q(catalog.QueryRequest{OrderField: order, CountTotal: true}).TotalItems; got != 8 {
		t.Errorf("total after insert = %d, want 8", got)
	}
}

func testLookups(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	Seed(t, st, fixture()...)
	raws, err := st.EntitiesByRefs(ctx, []string{"component:default/search_svc", "component:default/nope", "API:default/billing-api", "component:default/search_svc"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "by refs", names(t, raws), []string{"Search_Svc", "<nil>", "billing-api", "Search_Svc"})
	raws, err = st.EntitiesByRefs(ctx, []string{"component:default/search_svc", "api:default/billing-api"}, catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"api"}})
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "by refs filtered", names(t, raws), []string{"<nil>", "billing-api"})

	raw, err := st.EntityByRef(ctx, "component:default/search_svc", nil)
	if err != nil || decode(t, raw).Metadata.Name != "Search_Svc" {
		t.Fatalf("EntityByRef: %v", err)
	}
	_, err = st.EntityByRef(ctx, "component:default/nope", nil)
	wantErr(t, err, backend.ErrNotFound, "No entity named 'nope' found, with kind 'component' in namespace 'default'")
	_, err = st.EntityByRef(ctx, "component:default/search_svc", catalog.AnyOf{})
	wantErr(t, err, backend.ErrNotFound, "No entity named 'search_svc' found, with kind 'component' in namespace 'default'")
	uid := decode(t, raw).Metadata.UID
	if raw, err := st.EntityByUID(ctx, uid, nil); err != nil || decode(t, raw).Metadata.UID != uid {
		t.Fatalf("EntityByUID: %v", err)
	}
	_, err = st.EntityByUID(ctx, "nope", nil)
	wantErr(t, err, backend.ErrNotFound, "No entity with uid nope")
	wantErr(t, st.RequestRefresh(ctx, "component:default/nope"), backend.ErrNotFound, "Entity component:default/nope not found")
	_, err = st.Ancestry(ctx, "component:default/nope")
	wantErr(t, err, backend.ErrNotFound, "No such entity component:default/nope")

	// Stitched form: uid, relations sorted, no orphan mark for roots.
	team := decode(t, mustRef(t, st, "group:default/team-a"))
	var rels []string
	for _, r := range team.Relations {
		rels = append(rels, r.Type+" "+r.TargetRef)
	}
	equal(t, "team relations", rels, []string{"ownerOf api:default/billing-api", "ownerOf component:default/billing-service", "ownerOf component:default/billing-web", "ownerOf system:default/billing"})
	if team.Metadata.Annotations["backstage.io/orphan"] != "" {
		t.Error("root entity marked orphan")
	}
}

func mustRef(t testing.TB, st catalog.Store, ref string) catalog.RawEntity {
	t.Helper()
	raw, err := st.EntityByRef(context.Background(), ref, nil)
	if err != nil {
		t.Fatalf("EntityByRef(%s): %v", ref, err)
	}
	return raw
}

func wantErr(t testing.TB, err error, kind error, msg string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("error %v, want kind %v", err, kind)
		return
	}
	if got := backend.MessageOf(err); got != msg {
		t.Errorf("message %q, want %q", got, msg)
	}
}

func testFacets(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	Seed(t, st, fixture()...)
	got, err := st.Facets(ctx, []string{"kind", "metadata.tags", "Relations.ownedBy", "spec.nope"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]catalog.FacetCount{
		"kind":              {{Value: "API", Count: 1}, {Value: "Component", Count: 3}, {Value: "Group", Count: 1}, {Value: "System", Count: 1}, {Value: "User", Count: 1}},
		"metadata.tags":     {{Value: "billing", Count: 2}, {Value: "java", Count: 1}, {Value: "typescript", Count: 1}},
		"Relations.ownedBy": {{Value: "group:default/team-a", Count: 4}, {Value: "group:default/team-b", Count: 1}},
		"spec.nope":         {},
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("facet %s = %v, want %v", k, got[k], w)
		}
	}
	got, err = st.Facets(ctx, []string{"spec.type"}, catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := []catalog.FacetCount{{Value: "service", Count: 2}, {Value: "website", Count: 1}}; !slices.Equal(got["spec.type"], w) {
		t.Errorf("filtered facet = %v, want %v", got["spec.type"], w)
	}
	// The facet cache follows writes.
	if err := st.DeleteEntityByUID(ctx, uidOf(t, st, "component:default/billing-web")); err != nil {
		t.Fatal(err)
	}
	got, err = st.Facets(ctx, []string{"spec.type"}, catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}})
	if err != nil {
		t.Fatal(err)
	}
	if w := []catalog.FacetCount{{Value: "service", Count: 2}}; !slices.Equal(got["spec.type"], w) {
		t.Errorf("facet after delete = %v, want %v", got["spec.type"], w)
	}
}

func testProcessing(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	Seed(t, st, fixture()...)
	// A full mutation without billing-web makes it an orphan.
	var keep []catalog.DeferredEntity
	for _, e := range fixture() {
		if e.Object("metadata").String("name") != "billing-web" {
			keep = append(keep, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
		}
	}
	if err := st.ApplyFullMutation(ctx, Provider, keep); err != nil {
		t.Fatal(err)
	}
	Process(t, st, OwnerRelations, nil)
	web := decode(t, mustRef(t, st, "component:default/billing-web"))
	if web.Metadata.Annotations["backstage.io/orphan"] != "true" {
		t.Errorf("orphan annotation missing: %+v", web.Metadata.Annotations)
	}
	orphans, err := st.Facets(ctx, []string{"metadata.annotations.backstage.io/orphan"}, nil)
	if err != nil || len(orphans["metadata.annotations.backstage.io/orphan"]) != 1 {
		t.Errorf("orphan facet = %v (%v)", orphans, err)
	}
	n, err := st.DeleteOrphans(ctx)
	if err != nil || n != 1 {
		t.Fatalf("DeleteOrphans = %d, %v; want 1", n, err)
	}
	StitchAll(t, st)
	if _, err := st.EntityByRef(ctx, "component:default/billing-web", nil); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("orphan still there: %v", err)
	}
	team := decode(t, mustRef(t, st, "group:default/team-a"))
	for _, r := range team.Relations {
		if r.TargetRef == "component:default/billing-web" {
			t.Error("team-a still has a relation to the deleted orphan")
		}
	}
	// Delta: add one, remove another.
	added := Entity("Component", "delta", ojson.NewObject("type", "library", "owner", "group:default/team-a"))
	if err := st.ApplyDeltaMutation(ctx, Provider, []catalog.DeferredEntity{{Entity: added}}, []string{"user:default/jdoe"}); err != nil {
		t.Fatal(err)
	}
	Process(t, st, OwnerRelations, nil)
	mustRef(t, st, "component:default/delta")
	if decode(t, mustRef(t, st, "user:default/jdoe")).Metadata.Annotations["backstage.io/orphan"] != "true" {
		t.Error("delta removal did not orphan jdoe")
	}
	// Failed processing keeps the last good output and surfaces the error.
	if err := st.RequestRefresh(ctx, "component:default/delta"); err != nil {
		t.Fatal(err)
	}
	items, err := st.ClaimDue(ctx, 10, func() time.Time { return time.Now().Add(time.Hour) })
	if err != nil || len(items) != 1 || items[0].EntityRef != "component:default/delta" || items[0].Processed == nil {
		t.Fatalf("ClaimDue after refresh = %+v, %v", items, err)
	}
	err = st.CompleteProcessing(ctx, []catalog.ProcessingResult{{EntityID: items[0].EntityID, EntityRef: items[0].EntityRef, Ok: false,
		Errors: []catalog.SerializedError{{Name: "InputError", Message: "boom"}}, ResultHash: "failed"}})
	if err != nil {
		t.Fatal(err)
	}
	StitchAll(t, st)
	d := decode(t, mustRef(t, st, "component:default/delta"))
	if d.Status == nil || len(d.Status.Items) != 1 || !strings.Contains(d.Status.Items[0].Message, "boom") {
		t.Errorf("status = %+v", d.Status)
	}
	if len(d.Relations) != 1 {
		t.Errorf("relations lost on failure: %+v", d.Relations)
	}
	// Deleting a root removes it and its relations from peers.
	if err := st.DeleteEntityByUID(ctx, d.Metadata.UID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteEntityByUID(ctx, d.Metadata.UID); err != nil {
		t.Errorf("deleting an unknown uid: %v", err)
	}
	StitchAll(t, st)
	if _, err := st.EntityByUID(ctx, d.Metadata.UID, nil); !errors.Is(err, backend.ErrNotFound) {
		t.Errorf("deleted entity still there: %v", err)
	}
	for _, r := range decode(t, mustRef(t, st, "group:default/team-a")).Relations {
		if r.TargetRef == "component:default/delta" {
			t.Error("team-a keeps a relation to the deleted entity")
		}
	}
}

func testChildren(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	root := Entity("Location", "root", ojson.NewObject("type", "url", "target", "https://example.com/a.yaml"))
	other := Entity("Location", "other", ojson.NewObject("type", "url", "target", "https://example.com/b.yaml"))
	kids := func(e *ojson.Object) []catalog.DeferredEntity {
		switch e.Object("metadata").String("name") {
		case "root":
			return []catalog.DeferredEntity{
				{Entity: Entity("Component", "a", ojson.NewObject("type", "service")), LocationKey: "url:https://example.com/a.yaml"},
				{Entity: Entity("Location", "nested", nil), LocationKey: "url:https://example.com/a.yaml"},
			}
		case "nested":
			return []catalog.DeferredEntity{{Entity: Entity("Component", "deep", ojson.NewObject("type", "library")), LocationKey: "url:https://example.com/nested.yaml"}}
		case "other":
			// Same ref as root's child, from another location: first writer wins.
			return []catalog.DeferredEntity{{Entity: Entity("Component", "a", ojson.NewObject("type", "website")), LocationKey: "url:https://example.com/b.yaml"}}
		}
		return nil
	}
	if err := st.ApplyFullMutation(ctx, Provider, []catalog.DeferredEntity{{Entity: root}}); err != nil {
		t.Fatal(err)
	}
	Process(t, st, nil, kids)
	if err := st.ApplyDeltaMutation(ctx, "other-provider", []catalog.DeferredEntity{{Entity: other}}, nil); err != nil {
		t.Fatal(err)
	}
	Process(t, st, nil, kids)
	res, err := st.ListEntities(ctx, catalog.EntitiesRequest{Filter: catalog.Field{Key: "spec.type", Op: catalog.OpIn, Values: []string{"website"}}})
	if err != nil || len(res.Entities) != 0 {
		t.Errorf("conflicting child overwrote the first writer: %q %v", names(t, res.Entities), err)
	}
	anc, err := st.Ancestry(ctx, "component:default/deep")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range anc {
		got = append(got, decode(t, it.Entity).Metadata.Name+"<"+strings.Join(it.ParentEntityRefs, ","))
	}
	equal(t, "ancestry", got, []string{"deep<location:default/nested", "nested<location:default/root", "root<"})
	// Refresh makes the entity and its location ancestors due.
	if err := st.RequestRefresh(ctx, "component:default/deep"); err != nil {
		t.Fatal(err)
	}
	items, err := st.ClaimDue(ctx, 10, func() time.Time { return time.Now().Add(time.Hour) })
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, it := range items {
		refs = append(refs, it.EntityRef)
	}
	slices.Sort(refs)
	equal(t, "refreshed", refs, []string{"component:default/deep", "location:default/nested", "location:default/root"})
	// Root stops emitting "a": it becomes an orphan; its own child stays.
	kids2 := func(e *ojson.Object) []catalog.DeferredEntity {
		if e.Object("metadata").String("name") == "root" {
			return kids(e)[1:]
		}
		return kids(e)
	}
	if err := st.RequestRefresh(ctx, "location:default/root"); err != nil {
		t.Fatal(err)
	}
	Process(t, st, nil, kids2)
	if decode(t, mustRef(t, st, "component:default/a")).Metadata.Annotations["backstage.io/orphan"] != "true" {
		t.Error("child no longer emitted is not an orphan")
	}
	if decode(t, mustRef(t, st, "component:default/deep")).Metadata.Annotations["backstage.io/orphan"] != "" {
		t.Error("still-emitted grandchild marked orphan")
	}
}

func testClaiming(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	var ds []catalog.DeferredEntity
	for i := range 25 {
		ds = append(ds, catalog.DeferredEntity{Entity: Entity("Component", fmt.Sprintf("c%02d", i), nil)})
	}
	if err := st.ApplyFullMutation(ctx, Provider, ds); err != nil {
		t.Fatal(err)
	}
	later := func() time.Time { return time.Now().Add(time.Hour) }
	seen := map[string]bool{}
	for _, want := range []int{10, 10, 5, 0} {
		items, err := st.ClaimDue(ctx, 10, later)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != want {
			t.Fatalf("claimed %d, want %d", len(items), want)
		}
		for _, it := range items {
			if seen[it.EntityID] {
				t.Fatalf("%s claimed twice within its lease", it.EntityRef)
			}
			if it.DueAt.IsZero() || it.DueAt.After(time.Now()) {
				t.Fatalf("%s claimed with DueAt %v, want when it became due", it.EntityRef, it.DueAt)
			}
			seen[it.EntityID] = true
		}
	}
	// Unchanged input does not make rows due again.
	if err := st.ApplyFullMutation(ctx, Provider, ds); err != nil {
		t.Fatal(err)
	}
	if items, err := st.ClaimDue(ctx, 10, later); err != nil || len(items) != 0 {
		t.Fatalf("unchanged re-emit made %d rows due (%v)", len(items), err)
	}
	ds[0].Entity.Set("spec", ojson.NewObject("type", "changed"))
	if err := st.ApplyFullMutation(ctx, Provider, ds); err != nil {
		t.Fatal(err)
	}
	if items, err := st.ClaimDue(ctx, 10, later); err != nil || len(items) != 1 {
		t.Fatalf("changed entity: claimed %d (%v), want 1", len(items), err)
	}
	// An unchanged result hash writes nothing (processed entity stays unset).
	if err := st.RequestRefresh(ctx, "component:default/c01"); err != nil {
		t.Fatal(err)
	}
	items, err := st.ClaimDue(ctx, 10, later)
	if err != nil || len(items) != 1 {
		t.Fatalf("claim = %d, %v", len(items), err)
	}
	e, _ := ojson.DecodeObject(items[0].Unprocessed)
	if err := st.CompleteProcessing(ctx, []catalog.ProcessingResult{{EntityID: items[0].EntityID, EntityRef: items[0].EntityRef, Ok: true, Processed: e, ResultHash: ""}}); err != nil {
		t.Fatal(err)
	}
}

// testReferencesDropped checks the store's word on whether orphans may have
// appeared, which decides whether the engine looks for them: every write
// that drops a reference to an entity says so once, other writes do not.
func testReferencesDropped(t *testing.T, st catalog.Store) {
	ctx := context.Background()
	step := func(what string, want bool) {
		t.Helper()
		if got := st.ReferencesDropped(); got != want {
			t.Errorf("after %s: ReferencesDropped = %v, want %v", what, got, want)
		}
	}
	step("opening (earlier runs may have dropped some)", true)
	step("nothing", false)
	emits := true
	kids := func(e *ojson.Object) []catalog.DeferredEntity {
		if e.Object("metadata").String("name") != "root" || !emits {
			return nil
		}
		return []catalog.DeferredEntity{{Entity: Entity("Component", "child", ojson.NewObject("type", "service")), LocationKey: "url:https://example.com/root.yaml"}}
	}
	root := Entity("Location", "root", ojson.NewObject("type", "url", "target", "https://example.com/root.yaml"))
	fixed := Entity("Component", "fixed", ojson.NewObject("type", "service", "owner", "group:default/team-a"))
	gone := Entity("Component", "gone", ojson.NewObject("type", "service"))
	roots := func(es ...*ojson.Object) []catalog.DeferredEntity {
		var out []catalog.DeferredEntity
		for _, e := range es {
			out = append(out, catalog.DeferredEntity{Entity: e, LocationKey: "url:https://example.com/catalog.yaml"})
		}
		return out
	}
	if err := st.ApplyFullMutation(ctx, Provider, roots(root, fixed, gone)); err != nil {
		t.Fatal(err)
	}
	Process(t, st, OwnerRelations, kids)
	step("a first ingest", false)
	if err := st.RequestRefresh(ctx, "location:default/root"); err != nil {
		t.Fatal(err)
	}
	Process(t, st, OwnerRelations, kids)
	step("a refresh emitting the same children", false)
	emits = false
	if err := st.RequestRefresh(ctx, "location:default/root"); err != nil {
		t.Fatal(err)
	}
	Process(t, st, OwnerRelations, kids)
	step("a refresh no longer emitting a child", true)
	if err := st.ApplyFullMutation(ctx, Provider, roots(root, fixed)); err != nil {
		t.Fatal(err)
	}
	step("a full mutation without an entity", true)
	if err := st.ApplyDeltaMutation(ctx, Provider, nil, []string{"component:default/fixed"}); err != nil {
		t.Fatal(err)
	}
	step("a delta removing an entity", true)
	if err := st.ApplyDeltaMutation(ctx, Provider, roots(fixed), nil); err != nil {
		t.Fatal(err)
	}
	Process(t, st, OwnerRelations, kids)
	step("a delta only adding", false)
	if err := st.DeleteEntityByUID(ctx, uidOf(t, st, "location:default/root")); err != nil {
		t.Fatal(err)
	}
	step("deleting an entity", true)
	step("nothing", false)
}
