package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// fakeStore is an in-memory catalog.Reader/Writer that records requests.
type fakeStore struct {
	entities  []catalog.RawEntity
	listReqs  []catalog.EntitiesRequest
	queryReqs []catalog.QueryRequest
	queryRes  catalog.QueryResult
	listMore  bool
	refs      []string
	refFilter catalog.Filter
	facetReq  []string
	facetFlt  catalog.Filter
	deleted   []string
	refreshed []string
	byRef     string
}

func (f *fakeStore) ListEntities(_ context.Context, req catalog.EntitiesRequest) (catalog.EntitiesResult, error) {
	f.listReqs = append(f.listReqs, req)
	return catalog.EntitiesResult{Entities: f.entities, HasMore: f.listMore}, nil
}

func (f *fakeStore) QueryEntities(_ context.Context, req catalog.QueryRequest) (catalog.QueryResult, error) {
	f.queryReqs = append(f.queryReqs, req)
	return f.queryRes, nil
}

func (f *fakeStore) EntitiesByRefs(_ context.Context, refs []string, filter catalog.Filter) ([]catalog.RawEntity, error) {
	f.refs, f.refFilter = refs, filter
	out := make([]catalog.RawEntity, len(refs))
	for i, r := range refs {
		if r == "component:default/a" {
			out[i] = f.entities[0]
		}
	}
	return out, nil
}

func (f *fakeStore) EntityByRef(_ context.Context, ref string, _ catalog.Filter) (catalog.RawEntity, error) {
	f.byRef = ref
	if ref == "component:default/a" {
		return f.entities[0], nil
	}
	return nil, backend.NotFound("nope")
}

func (f *fakeStore) EntityByUID(_ context.Context, uid string, _ catalog.Filter) (catalog.RawEntity, error) {
	if uid == "u1" {
		return f.entities[0], nil
	}
	return nil, backend.NotFound("nope")
}

func (f *fakeStore) Facets(_ context.Context, facets []string, filter catalog.Filter) (map[string][]catalog.FacetCount, error) {
	f.facetReq, f.facetFlt = facets, filter
	return map[string][]catalog.FacetCount{facets[0]: {{Value: "Component", Count: 2}}}, nil
}

func (f *fakeStore) Ancestry(_ context.Context, ref string) ([]catalog.AncestryItem, error) {
	if ref != "component:default/a" {
		return nil, backend.NotFound("nope")
	}
	return []catalog.AncestryItem{
		{Entity: f.entities[0], ParentEntityRefs: []string{"location:default/l"}},
		{Entity: catalog.RawEntity(`{"kind":"Location","metadata":{"name":"l"}}`), ParentEntityRefs: []string{}},
	}, nil
}

func (f *fakeStore) DeleteEntityByUID(_ context.Context, uid string) error {
	f.deleted = append(f.deleted, uid)
	return nil
}

func (f *fakeStore) RequestRefresh(_ context.Context, ref string) error {
	if ref != "component:default/a" {
		return backend.NotFound("unknown")
	}
	f.refreshed = append(f.refreshed, ref)
	return nil
}

// errorHandler renders Backstage's envelope with request.url relative to the mount.
func errorHandler(err error, c echo.Context) {
	kind := backend.KindOf(err)
	name, status := "Error", http.StatusInternalServerError
	if kind != nil {
		name, status = kind.Name, kind.Status
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		name, status = "NotFoundError", he.Code
	}
	u := strings.TrimPrefix(c.Request().URL.RequestURI(), "/api/catalog")
	body := ojson.NewObject(
		"error", ojson.NewObject("name", name, "message", backend.MessageOf(err)),
		"request", ojson.NewObject("method", c.Request().Method, "url", u),
		"response", ojson.NewObject("statusCode", status))
	_ = c.Blob(status, jsonContentType, ojson.MustMarshal(body))
}

func newServer(t *testing.T) (*httptest.Server, *fakeStore) {
	t.Helper()
	f := &fakeStore{entities: []catalog.RawEntity{
		catalog.RawEntity(`{"metadata":{"namespace":"default","name":"a","annotations":{"backstage.io/view-url":"x"},"uid":"u1"},"apiVersion":"v1","kind":"Component","spec":{"type":"service"}}`),
		catalog.RawEntity(`{"metadata":{"name":"b","uid":"u2"},"kind":"API"}`),
	}}
	e := echo.New()
	e.HTTPErrorHandler = errorHandler
	Register(e.Group("/api/catalog"), Options{Reader: f, Writer: f})
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv, f
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, srv *httptest.Server, method, path, body string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+"/api/catalog"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(b)}
}

func envelope(method, url, name, msg string, status int) string {
	return string(ojson.MustMarshal(ojson.NewObject(
		"error", ojson.NewObject("name", name, "message", msg),
		"request", ojson.NewObject("method", method, "url", url),
		"response", ojson.NewObject("statusCode", status))))
}

func TestParseFilterParams(t *testing.T) {
	in := func(k string, v ...string) catalog.Field { return catalog.Field{Key: k, Op: catalog.OpIn, Values: v} }
	tests := []struct {
		name    string
		values  []string
		want    catalog.Filter
		wantErr string
	}{
		{name: "none", values: nil, want: nil},
		{name: "single", values: []string{"kind=Component"}, want: in("kind", "component")},
		{name: "and", values: []string{"kind=component, spec.type=service"},
			want: catalog.AllOf{Filters: []catalog.Filter{in("kind", "component"), in("spec.type", "service")}}},
		{name: "or", values: []string{"kind=user", "spec.type=group"},
			want: catalog.AnyOf{Filters: []catalog.Filter{in("kind", "user"), in("spec.type", "group")}}},
		{name: "or on one key is one condition", values: []string{"kind=user", "spec.type=x", "kind=group"},
			want: catalog.AnyOf{Filters: []catalog.Filter{in("kind", "user", "group"), in("spec.type", "x")}}},
		{name: "same key is $in", values: []string{"kind=user,kind=group"}, want: in("kind", "user", "group")},
		{name: "split on first =", values: []string{"metadata.annotations.a=b=c"}, want: in("metadata.annotations.a", "b=c")},
		{name: "bare key exists", values: []string{" spec.type "}, want: catalog.Field{Key: "spec.type", Op: catalog.OpExists}},
		{name: "empty value", values: []string{"spec.type="}, want: in("spec.type", "")},
		{name: "values win over exists", values: []string{"a,a=x"}, want: in("a", "x")},
		{name: "empty statements ignored", values: []string{",,kind=api,,", ",", " "}, want: in("kind", "api")},
		{name: "keys lowercased", values: []string{"Spec.Type=X"}, want: in("spec.type", "x")},
		{name: "empty key", values: []string{"=x"}, wantErr: "Invalid filter, '=x' is not a valid statement (expected a string on the form a=b or a= or a)"},
		{name: "empty key trimmed", values: []string{"kind=a, =x"}, wantErr: "Invalid filter, '=x' is not a valid statement (expected a string on the form a=b or a= or a)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilterParams(tt.values)
			if tt.wantErr != "" {
				if err == nil || backend.MessageOf(err) != tt.wantErr || backend.KindOf(err) != backend.ErrInput {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

func TestFilterParamsPredicateShape(t *testing.T) {
	p, err := FilterParamsPredicate([]string{"kind=component", "kind=api,metadata.name=billing-api,x,k=1,k=2"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"$any":[{"kind":"component"},{"$all":[{"kind":"api"},{"metadata.name":"billing-api"},{"x":{"$exists":true}},{"k":{"$in":["1","2"]}}]}]}`
	if got := string(ojson.MustMarshal(p)); got != want {
		t.Fatalf("got %s", got)
	}
}

func TestParsePredicate(t *testing.T) {
	in := func(k string, v ...string) catalog.Field { return catalog.Field{Key: k, Op: catalog.OpIn, Values: v} }
	tests := []struct {
		name  string
		query string
		want  catalog.Filter
	}{
		{"primitive", `{"Kind":"Component"}`, in("kind", "component")},
		{"number and bool", `{"a":1.50,"b":true}`, catalog.AllOf{Filters: []catalog.Filter{in("a", "1.5"), in("b", "true")}}},
		{"empty matches all", `{}`, catalog.AllOf{}},
		{"all empty", `{"$all":[]}`, catalog.AllOf{Filters: []catalog.Filter{}}},
		{"any empty", `{"$any":[]}`, catalog.AnyOf{Filters: []catalog.Filter{}}},
		{"not", `{"$not":{"kind":"x"}}`, catalog.Not{Filter: in("kind", "x")}},
		{"exists", `{"a":{"$exists":true},"b":{"$exists":false}}`, catalog.AllOf{Filters: []catalog.Filter{
			catalog.Field{Key: "a", Op: catalog.OpExists}, catalog.Not{Filter: catalog.Field{Key: "b", Op: catalog.OpExists}}}}},
		{"in", `{"kind":{"$in":["A",2]}}`, in("kind", "a", "2")},
		{"in empty", `{"kind":{"$in":[]}}`, catalog.AnyOf{}},
		{"first valid union option wins", `{"kind":{"$exists":true,"$in":["a"]}}`, catalog.Field{Key: "kind", Op: catalog.OpExists}},
		{"prefix", `{"metadata.name":{"$hasPrefix":"Bill"}}`, catalog.Field{Key: "metadata.name", Op: catalog.OpHasPrefix, Values: []string{"bill"}}},
		{"contains primitive", `{"metadata.tags":{"$contains":"Java"}}`, in("metadata.tags", "java")},
		{"relations contains", `{"relations":{"$contains":{"type":"ownedBy","targetRef":"Group:default/A"}}}`, in("relations.ownedby", "group:default/a")},
		{"relations contains in", `{"relations":{"$contains":{"Type":"ownedBy","targetref":{"$in":["X","y"]}}}}`, in("relations.ownedby", "x", "y")},
		{"relations contains type only", `{"relations":{"$contains":{"type":"ownedBy"}}}`, catalog.Field{Key: "relations.ownedby", Op: catalog.OpExists}},
		{"js key order", `{"b":"1","2":"x","1":"y"}`, catalog.AllOf{Filters: []catalog.Filter{in("1", "y"), in("2", "x"), in("b", "1")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePredicate(json.RawMessage(tt.query))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
		})
	}
}

// TestParsePredicateOracleMessages replays malformed queries whose
// messages were recorded from Backstage 1.55 (testdata/oracle_predicates.tsv).
func TestParsePredicateOracleMessages(t *testing.T) {
	data, err := os.ReadFile("testdata/oracle_predicates.tsv")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		query, want, _ := strings.Cut(line, "\t")
		t.Run(query, func(t *testing.T) {
			_, err := ParsePredicate(json.RawMessage(query))
			if err == nil {
				t.Fatalf("no error, want %q", want)
			}
			if got := backend.MessageOf(err); got != want {
				t.Fatalf("message\n got %s\nwant %s", got, want)
			}
			if backend.KindOf(err) != backend.ErrInput {
				t.Fatalf("kind %v", backend.KindOf(err))
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	got, err := ParseFields([]string{"kind, metadata.name", "kind,,"}, []string{"spec"})
	if err != nil || !reflect.DeepEqual(got, []string{"kind", "metadata.name", "spec"}) {
		t.Fatalf("got %v %v", got, err)
	}
	if _, err := ParseFields([]string{"a[0]"}); backend.MessageOf(err) != `Invalid field "a[0]", array type fields are not supported` {
		t.Fatalf("err %v", err)
	}
}

func TestProject(t *testing.T) {
	raw := catalog.RawEntity(`{"metadata":{"name":"a","annotations":{"backstage.io/view-url":"u","x":null}},"kind":"K","spec":{"type":"s"}}`)
	tests := []struct {
		fields []string
		want   string
	}{
		{[]string{"metadata.name", "kind"}, `{"metadata":{"name":"a"},"kind":"K"}`},
		{[]string{"metadata.annotations.backstage.io/view-url"}, `{"metadata":{"annotations":{"backstage.io/view-url":"u"}}}`},
		{[]string{"metadata.annotations.x", "nope", "spec.type.deeper"}, `{"metadata":{"annotations":{"x":null}}}`},
		{[]string{"spec"}, `{"spec":{"type":"s"}}`},
	}
	for _, tt := range tests {
		got, err := project(raw, tt.fields)
		if err != nil || string(got) != tt.want {
			t.Errorf("project(%v) = %s, %v; want %s", tt.fields, got, err, tt.want)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	v, uid := "billing", "u1"
	total := ojson.Number("7")
	c := Cursor{
		OrderFields:          []CursorOrderField{{Field: "metadata.name", Order: "asc"}},
		Query:                ojson.NewObject("kind", "component"),
		FullTextFilter:       &CursorFullText{Term: ""},
		OrderFieldValues:     []*string{&v, &uid},
		FirstSortFieldValues: []*string{&v, &uid},
		TotalItems:           &total,
	}
	s := EncodeCursor(c)
	raw, _ := base64.StdEncoding.DecodeString(s)
	want := `{"orderFields":[{"field":"metadata.name","order":"asc"}],"isPrevious":false,"query":{"kind":"component"},"fullTextFilter":{"term":""},"orderFieldValues":["billing","u1"],"firstSortFieldValues":["billing","u1"],"totalItems":7}`
	if string(raw) != want {
		t.Fatalf("encoded %s", raw)
	}
	d, err := DecodeCursor(s)
	if err != nil {
		t.Fatal(err)
	}
	if *d.TotalItems != "7" || len(d.OrderFieldValues) != 2 || *d.OrderFieldValues[0] != "billing" || d.Query == nil || !d.Continued {
		t.Fatalf("decoded %+v", d)
	}
	for _, bad := range []string{"abc", "", "e30=", "W10="} {
		_, err := DecodeCursor(bad)
		if backend.KindOf(err) != backend.ErrInput || !strings.HasPrefix(backend.MessageOf(err), "Malformed cursor: ") {
			t.Errorf("DecodeCursor(%q) = %v", bad, err)
		}
	}
	if _, err := DecodeCursor("abc"); backend.MessageOf(err) != `Malformed cursor: SyntaxError: Unexpected token 'i', "i`+"\uFFFD"+`" is not valid JSON` {
		t.Errorf("abc: %v", backend.MessageOf(err))
	}
	// A cursor's bytes are read as Node's UTF-8 decoder reads them: valid
	// text as is, each bad byte as U+FFFD (JSON that Go finds valid takes
	// a shorter path, which must agree).
	for _, tc := range []struct{ json, want string }{
		{"{\"orderFields\":[],\"isPrevious\":false,\"orderFieldValues\":[\"caf\xc3\xa9 \xf0\x9f\x98\x80\"]}", "caf\u00e9 \U0001F600"},
		{"{\"orderFields\":[],\"isPrevious\":false,\"orderFieldValues\":[\"a\xffb\xc3\"]}", "a\uFFFDb\uFFFD"},
		{`{"orderFields":[],"isPrevious":false,"orderFieldValues":["\ud83d\ude00"]}`, "\U0001F600"},
	} {
		d, err := DecodeCursor(base64.StdEncoding.EncodeToString([]byte(tc.json)))
		if err != nil || len(d.OrderFieldValues) != 1 || d.OrderFieldValues[0] == nil || *d.OrderFieldValues[0] != tc.want {
			t.Errorf("DecodeCursor(%q) = %+v, %v; want the value %q", tc.json, d, err, tc.want)
		}
	}
}

func TestValidationErrors(t *testing.T) {
	srv, _ := newServer(t)
	tests := []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"GET", "/entities?limit=abc", "", 400, "request/query/limit must be integer"},
		{"GET", "/entities?limit=-1", "", 400, "request/query/limit must be >= 0"},
		{"GET", "/entities?limit=0", "", 400, "Invalid limit, must be greater than zero"},
		{"GET", "/entities?offset=-1", "", 400, "request/query/offset must be >= 0"},
		{"GET", "/entities?offset=x&limit=y", "", 400, "request/query/limit must be integer"},
		{"GET", "/entities?limit=1.5", "", 400, "request/query/limit must be integer"},
		{"GET", "/entities?limit=1&limit=2", "", 400, "request/query/limit must be integer"},
		{"GET", "/entities?after=", "", 400, "Empty value found for query parameter 'after'"},
		{"GET", "/entities?filter=", "", 400, "Empty value found for query parameter 'filter'"},
		{"GET", "/entities?foo=1&bar=2", "", 400, "Unknown query parameter 'foo'"},
		{"GET", "/entities?order=bogus", "", 400, `Invalid order parameter "bogus", expected "<asc or desc>:<field name>"`},
		{"GET", "/entities?filter=%3Dx", "", 400, "Invalid filter, '=x' is not a valid statement (expected a string on the form a=b or a= or a)"},
		{"GET", "/entities?fields=a%5B0%5D", "", 400, `Invalid field "a[0]", array type fields are not supported`},
		{"GET", "/entities?limit=1&after=abc", "", 400, "Malformed after cursor, could not be parsed"},
		{"GET", "/entities/by-query?cursor=", "", 400, "Empty value found for query parameter 'cursor'"},
		{"GET", "/entities/by-query?orderField=a,up", "", 400, "Invalid order field order, must be asc or desc"},
		{"GET", "/entities/by-query?totalItems=x", "", 400, "request/query/totalItems must be equal to one of the allowed values: include, exclude"},
		{"GET", "/entity-facets", "", 400, "request/query must have required property 'facet'"},
		{"GET", "/entity-facets?facet=", "", 400, "Empty value found for query parameter 'facet'"},
		{"GET", "/entities/by-name/component/default/nope", "", 404, "No entity named 'nope' found, with kind 'component' in namespace 'default'"},
		{"GET", "/entities/by-uid/nope", "", 404, "No entity with uid nope"},
		{"POST", "/entities/by-refs", `{}`, 400, "request/body must have required property 'entityRefs'"},
		{"POST", "/entities/by-refs", `{"entityRefs":"x"}`, 400, "request/body/entityRefs must be array"},
		{"POST", "/entities/by-refs", `{"entityRefs":["a",null]}`, 400, "request/body/entityRefs/1 must be string"},
		{"POST", "/entities/by-refs", `{"entityRefs":[],"query":{"$bogus":1}}`, 400, `Malformed request body (did you remember to specify an application/json content type?), Validation error: Invalid at "query.$bogus"`},
		{"POST", "/entities/by-refs", `{"entityRefs":[],"query":1}`, 400, "request/body/query must be object"},
		{"POST", "/entities/by-refs", `[]`, 400, "request/body must be object"},
		{"POST", "/entities/by-refs?filter=kind=a&fields=x", `{"entityRefs":[]}`, 400, "Unknown query parameter 'fields'"},
		{"POST", "/entity-facets", `{}`, 400, "request/body must have required property 'facets'"},
		{"POST", "/entity-facets", `{"facets":[""]}`, 400, "Missing or empty facets parameter"},
		{"POST", "/entity-facets", `{"facets":"kind"}`, 400, "request/body/facets must be array"},
		{"POST", "/entity-facets", `{"facets":["kind"],"query":{"$x":1}}`, 400, `Invalid query: Validation error: Invalid at "$x"`},
		{"POST", "/refresh", `{}`, 400, "request/body must have required property 'entityRef'"},
		{"POST", "/refresh", `{"entityRef":1}`, 400, "request/body/entityRef must be string"},
		{"POST", "/refresh", `{"entityRef":"a","x":1}`, 400, "request/body must NOT have additional properties"},
		{"POST", "/refresh", `{"entityRef":"nope"}`, 404, "Entity nope not found"},
		{"POST", "/entities/by-query", `{"limit":"x"}`, 400, "request/body/limit must be number"},
		{"POST", "/entities/by-query", `{"orderBy":[{"field":"a"}]}`, 400, "request/body/orderBy/0 must have required property 'order'"},
		{"POST", "/entities/by-query", `{"orderBy":[{"field":"a","order":"up"}]}`, 400, "request/body/orderBy/0/order must be equal to one of the allowed values: asc, desc"},
		{"POST", "/entities/by-query", `{"totalItems":"x"}`, 400, "request/body/totalItems must be equal to one of the allowed values: include, exclude"},
		{"POST", "/entities/by-query", `{"cursor":""}`, 400, "Cursor cannot be empty"},
		{"POST", "/entities/by-query", `{"fields":["a[0]"]}`, 400, `Invalid field "a[0]", array type fields are not supported`},
		{"POST", "/entities/by-query", `{"fullTextFilter":{"term":1}}`, 400, "request/body/fullTextFilter/term must be string"},
		{"POST", "/entities/by-query", `{"query":1}`, 400, "request/body/query must be object"},
		{"POST", "/entities/by-query", `{"query":{"$not":1},"limit":0}`, 400, `Invalid filter predicate: top-level primitive values are not supported. Wrap the value in a field expression, e.g. { "kind": 1 }`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path+" "+tt.body, func(t *testing.T) {
			res := do(t, srv, tt.method, tt.path, tt.body)
			want := envelope(tt.method, tt.path, map[int]string{400: "InputError", 404: "NotFoundError"}[tt.status], tt.msg, tt.status)
			if res.status != tt.status || res.body != want {
				t.Fatalf("got %d %s\nwant %d %s", res.status, res.body, tt.status, want)
			}
			if ct := res.header.Get("Content-Type"); ct != jsonContentType {
				t.Fatalf("content type %q", ct)
			}
		})
	}
}

func TestListEntities(t *testing.T) {
	srv, f := newServer(t)
	res := do(t, srv, "GET", "/entities?filter=kind=component&order=asc:metadata.name&order=desc:kind", "")
	if res.status != 200 || res.body != "["+string(f.entities[0])+","+string(f.entities[1])+"]" {
		t.Fatalf("got %d %s", res.status, res.body)
	}
	if res.header.Get("Content-Type") != jsonContentType || res.header.Get("Link") != "" {
		t.Fatalf("headers %v", res.header)
	}
	want := catalog.EntitiesRequest{Filter: catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		Order: []catalog.Order{{Field: "metadata.name"}}}
	if !reflect.DeepEqual(f.listReqs[0], want) {
		t.Fatalf("request %#v", f.listReqs[0])
	}

	f.listMore = true
	res = do(t, srv, "GET", "/entities?limit=2&offset=1&fields=metadata.name&filter=kind=component,kind=group&filter=kind=api", "")
	if res.body != `[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}]` {
		t.Fatalf("body %s", res.body)
	}
	if got := res.header.Get("Link"); got != `</entities?limit=2&fields=metadata.name&filter=kind%3Dcomponent%2Ckind%3Dgroup&filter=kind%3Dapi&after=eyJsaW1pdCI6Miwib2Zmc2V0IjozfQ%3D%3D>; rel="next"` {
		t.Fatalf("link %s", got)
	}
	if r := f.listReqs[1]; r.Limit != 2 || r.Offset != 1 {
		t.Fatalf("request %#v", r)
	}
	res = do(t, srv, "GET", "/entities?after=eyJsaW1pdCI6Miwib2Zmc2V0IjoyfQ%3D%3D&fields=metadata.name", "")
	if got := res.header.Get("Link"); got != `</entities?after=eyJsaW1pdCI6Miwib2Zmc2V0Ijo0fQ%3D%3D&fields=metadata.name>; rel="next"` {
		t.Fatalf("link %s", got)
	}
	if r := f.listReqs[2]; r.Limit != 2 || r.Offset != 2 {
		t.Fatalf("request %#v", r)
	}
}

func TestQueryEntities(t *testing.T) {
	srv, f := newServer(t)
	v1, v2 := "a", "b"
	f.queryRes = catalog.QueryResult{Entities: f.entities, First: &catalog.CursorPosition{Value: &v1, UID: "u1"},
		Last: &catalog.CursorPosition{Value: &v2, UID: "u2"}, HasMore: true, TotalItems: 5}
	res := do(t, srv, "GET", "/entities/by-query?filter=kind=component&orderField=metadata.name,desc&limit=2&fields=metadata.name&fullTextFilterTerm=%20bi%20&offset=3", "")
	if res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	var body struct {
		Items      []json.RawMessage
		TotalItems int
		PageInfo   map[string]string
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.body, `{"items":[{"metadata":{"name":"a"}},{"metadata":{"name":"b"}}],"totalItems":5,"pageInfo":{"nextCursor":"`) {
		t.Fatalf("body %s", res.body)
	}
	want := catalog.QueryRequest{Filter: catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		OrderField: &catalog.Order{Field: "metadata.name", Desc: true}, FullText: catalog.FullTextFilter{Term: "bi", Fields: []string{"metadata.name"}},
		Limit: 2, Offset: 3, CountTotal: true}
	if !reflect.DeepEqual(f.queryReqs[0], want) {
		t.Fatalf("request %#v", f.queryReqs[0])
	}
	raw, _ := base64.StdEncoding.DecodeString(body.PageInfo["nextCursor"])
	if string(raw) != `{"orderFields":[{"field":"metadata.name","order":"desc"}],"isPrevious":false,"query":{"kind":"component"},"fullTextFilter":{"term":" bi "},"orderFieldValues":["b","u2"],"firstSortFieldValues":["a","u1"],"totalItems":5}` {
		t.Fatalf("cursor %s", raw)
	}

	// Second page: only cursor, limit and fields count; prevCursor appears
	// because the first row differs from the listing's first row.
	v3 := "c"
	f.queryRes = catalog.QueryResult{Entities: f.entities[1:], First: &catalog.CursorPosition{Value: &v3, UID: "u3"},
		Last: &catalog.CursorPosition{Value: &v3, UID: "u3"}}
	res = do(t, srv, "POST", "/entities/by-query", `{"cursor":"`+body.PageInfo["nextCursor"]+`","limit":1,"query":{"kind":"x"}}`)
	if res.status != 200 {
		t.Fatalf("%d %s", res.status, res.body)
	}
	got := f.queryReqs[1]
	if got.Limit != 1 || got.Offset != 0 || got.CountTotal || got.After == nil || got.After.UID != "u2" || *got.After.Value != "b" ||
		!reflect.DeepEqual(got.Filter, want.Filter) {
		t.Fatalf("request %#v", got)
	}
	if !strings.Contains(res.body, `"totalItems":5,"pageInfo":{"prevCursor":"`) || strings.Contains(res.body, "nextCursor") {
		t.Fatalf("body %s", res.body)
	}

	// limit=0: empty page, no cursors, total still counted.
	f.queryRes = catalog.QueryResult{TotalItems: 11}
	res = do(t, srv, "GET", "/entities/by-query?limit=0&totalItems=include", "")
	if res.body != `{"items":[],"totalItems":11,"pageInfo":{}}` {
		t.Fatalf("body %s", res.body)
	}
	res = do(t, srv, "POST", "/entities/by-query", `{"totalItems":"exclude","limit":0}`)
	if res.body != `{"items":[],"totalItems":0,"pageInfo":{}}` {
		t.Fatalf("body %s", res.body)
	}
	if last := f.queryReqs[len(f.queryReqs)-1]; last.Limit != 200 && last.Limit != 0 {
		t.Fatalf("limit %d", last.Limit)
	}
	do(t, srv, "POST", "/entities/by-query", ``)
	if last := f.queryReqs[len(f.queryReqs)-1]; last.Limit != 200 || !last.CountTotal || last.Filter != nil {
		t.Fatalf("default request %#v", last)
	}
}

func TestEntityRoutes(t *testing.T) {
	srv, f := newServer(t)
	if res := do(t, srv, "GET", "/entities/by-name/Component/Default/A", ""); res.status != 200 || res.body != string(f.entities[0]) || f.byRef != "component:default/a" {
		t.Fatalf("by-name %d %s %s", res.status, res.body, f.byRef)
	}
	if res := do(t, srv, "GET", "/entities/by-uid/u1", ""); res.status != 200 || res.body != string(f.entities[0]) {
		t.Fatalf("by-uid %d %s", res.status, res.body)
	}
	if res := do(t, srv, "DELETE", "/entities/by-uid/zz", ""); res.status != 204 || res.body != "" || f.deleted[0] != "zz" {
		t.Fatalf("delete %d %s", res.status, res.body)
	}
	if res := do(t, srv, "POST", "/refresh", `{"entityRef":"component:default/a"}`); res.status != 200 || res.body != "" {
		t.Fatalf("refresh %d %s", res.status, res.body)
	}
	res := do(t, srv, "GET", "/entities/by-name/component/default/A/ancestry", "")
	want := `{"rootEntityRef":"component:default/a","items":[{"entity":` + string(f.entities[0]) + `,"parentEntityRefs":["location:default/l"]},{"entity":{"kind":"Location","metadata":{"name":"l"}},"parentEntityRefs":[]}]}`
	if res.status != 200 || res.body != want {
		t.Fatalf("ancestry %d %s", res.status, res.body)
	}
	res = do(t, srv, "POST", "/entities/by-refs?filter=kind=component", `{"entityRefs":["component:default/a","Component:default/A","x:y/z"],"fields":["kind"],"query":{"spec.type":"service"}}`)
	// Refs are compared verbatim with the stored lower-case refs.
	if res.status != 200 || res.body != `{"items":[{"kind":"Component"},null,null]}` {
		t.Fatalf("by-refs %d %s", res.status, res.body)
	}
	wantFilter := catalog.AllOf{Filters: []catalog.Filter{
		catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		catalog.Field{Key: "spec.type", Op: catalog.OpIn, Values: []string{"service"}}}}
	if !reflect.DeepEqual(f.refFilter, wantFilter) || !reflect.DeepEqual(f.refs, []string{"component:default/a", "Component:default/A", "x:y/z"}) {
		t.Fatalf("by-refs request %#v %v", f.refFilter, f.refs)
	}
}

func TestFacets(t *testing.T) {
	srv, f := newServer(t)
	res := do(t, srv, "GET", "/entity-facets?facet=Kind&facet=spec.type&filter=kind=component", "")
	if res.body != `{"facets":{"Kind":[{"value":"Component","count":2}],"spec.type":[]}}` {
		t.Fatalf("body %s", res.body)
	}
	if !reflect.DeepEqual(f.facetReq, []string{"Kind", "spec.type"}) || f.facetFlt == nil {
		t.Fatalf("request %v %v", f.facetReq, f.facetFlt)
	}
	f.facetReq, f.facetFlt = nil, catalog.AllOf{}
	// Without a query the facets cover the whole catalog.
	res = do(t, srv, "POST", "/entity-facets", `{"facets":["kind"]}`)
	if res.body != `{"facets":{"kind":[{"value":"Component","count":2}]}}` || f.facetFlt != nil {
		t.Fatalf("no query: %s %#v", res.body, f.facetFlt)
	}
	res = do(t, srv, "POST", "/entity-facets", `{"facets":["kind"],"query":{}}`)
	if res.body != `{"facets":{"kind":[{"value":"Component","count":2}]}}` || !reflect.DeepEqual(f.facetFlt, catalog.AllOf{}) {
		t.Fatalf("query {}: %s %#v", res.body, f.facetFlt)
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"kind=a", "a,b=c,,a=d", "=x", " , ", "a=b=c"} {
		f.Add(s, "kind=b")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		filter, err := ParseFilterParams([]string{a, b})
		if err != nil && backend.KindOf(err) != backend.ErrInput {
			t.Fatalf("unexpected error kind: %v", err)
		}
		_ = fmt.Sprint(filter)
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{`{"kind":"a"}`, `{"$all":[{"$not":{"a":{"$in":[1]}}}]}`, `{"relations":{"$contains":{"type":"x"}}}`, `{"$x":1}`, `[]`, `1`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, err := ParsePredicate(json.RawMessage(s))
		if err != nil && backend.KindOf(err) != backend.ErrInput {
			t.Fatalf("unexpected error kind: %v", err)
		}
		_, _ = DecodeCursor(s)
	})
}

// A limit or offset beyond any catalog (1e300) must not wrap around when
// converted to an int: a huge limit reads everything, as in Backstage, and
// a huge offset in a body reads past the end.
func TestByQueryHugeLimitAndOffset(t *testing.T) {
	cases := []struct {
		body          string
		limit, offset int
	}{
		{`{"limit":1e300}`, math.MaxInt32, 0},
		{`{"limit":1e20,"offset":1e300}`, math.MaxInt32, math.MaxInt32},
		{`{"limit":2,"offset":-1e300}`, 2, math.MinInt32},
		{`{"limit":2.5,"offset":3}`, 2, 3},
	}
	for _, tc := range cases {
		srv, f := newServer(t)
		res := do(t, srv, "POST", "/entities/by-query", tc.body)
		if res.status != 200 || len(f.queryReqs) != 1 {
			t.Fatalf("%s: %d %s", tc.body, res.status, res.body)
		}
		if got := f.queryReqs[0]; got.Limit != tc.limit || got.Offset != tc.offset {
			t.Errorf("%s: store asked for limit %d offset %d, want %d and %d", tc.body, got.Limit, got.Offset, tc.limit, tc.offset)
		}
	}
	// In a query string ±Infinity passes validation (see
	// TestOutOfRangeNumbersMatchOracle for the refusals): an infinite limit
	// reads everything and a positive infinite offset is ignored.
	gets := []struct {
		path          string
		limit, offset int
	}{
		{"/entities/by-query?limit=Infinity", math.MaxInt32, 0},
		{"/entities/by-query?limit=1&offset=1e400", 1, 0},
		{"/entities/by-query?limit=1&offset=-Infinity", 1, 0},
		{"/entities?limit=1e400", math.MaxInt32, 0},
		{"/entities?limit=1&offset=Infinity", 1, 0},
	}
	for _, tc := range gets {
		srv, f := newServer(t)
		if res := do(t, srv, "GET", tc.path, ""); res.status != 200 {
			t.Fatalf("%s: %d %s", tc.path, res.status, res.body)
		}
		var limit, offset int
		switch {
		case len(f.queryReqs) == 1:
			limit, offset = f.queryReqs[0].Limit, f.queryReqs[0].Offset
		case len(f.listReqs) == 1:
			limit, offset = f.listReqs[0].Limit, f.listReqs[0].Offset
		default:
			t.Fatalf("%s: no store request", tc.path)
		}
		if limit != tc.limit || offset != tc.offset {
			t.Errorf("%s: store asked for limit %d offset %d, want %d and %d", tc.path, limit, offset, tc.limit, tc.offset)
		}
	}
}

// TestQueryBracketsMatchOracle replays testdata/query_brackets.json
// (gen_query_brackets.py, recorded from Backstage 1.55): a key in qs's
// brackets (filter[]=, filter[0]=) reads as the same parameter written
// plainly, which the store must then be asked for alike, and objects and
// brackets on parameters that are not arrays are refused with the
// validator's messages.
func TestQueryBracketsMatchOracle(t *testing.T) {
	raw, err := os.ReadFile("testdata/query_brackets.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []struct {
		Path    string `json:"path"`
		Status  int    `json:"status"`
		Message string `json:"message"`
		SameAs  string `json:"sameAs"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	// asked is what one request made of the store.
	type asked struct {
		status                 int
		body                   string
		list                   []catalog.EntitiesRequest
		query                  []catalog.QueryRequest
		facets                 []string
		facetFilter, refFilter catalog.Filter
	}
	ask := func(path string) asked {
		srv, f := newServer(t)
		res := do(t, srv, "GET", path, "")
		return asked{res.status, res.body, f.listReqs, f.queryReqs, f.facetReq, f.facetFlt, f.refFilter}
	}
	for _, c := range cases {
		t.Run(c.Path, func(t *testing.T) {
			got := ask(c.Path)
			if got.status != c.Status {
				t.Fatalf("status %d, want %d: %s", got.status, c.Status, got.body)
			}
			if c.SameAs == "" {
				var env struct {
					Error struct{ Message string } `json:"error"`
				}
				if err := json.Unmarshal([]byte(got.body), &env); err != nil || env.Error.Message != c.Message {
					t.Fatalf("body %s, want the message %q", got.body, c.Message)
				}
				if got.list != nil || got.query != nil || got.facets != nil {
					t.Fatal("the store was asked")
				}
				return
			}
			if want := ask(c.SameAs); !reflect.DeepEqual(got, want) {
				t.Fatalf("read unlike %s:\n got  %+v\n want %+v", c.SameAs, got, want)
			}
		})
	}
}
