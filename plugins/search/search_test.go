package search_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/httpserver"
	"github.com/understage/understage/plugins/search"
)

// listReader serves a fixed entity list; search only lists.
type listReader struct {
	catalog.Reader
	entities []string
}

func (r listReader) ListEntities(context.Context, catalog.EntitiesRequest) (catalog.EntitiesResult, error) {
	out := catalog.EntitiesResult{}
	for _, e := range r.entities {
		out.Entities = append(out.Entities, catalog.RawEntity(e))
	}
	return out, nil
}

var entities = []string{
	`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"storefront","namespace":"default","title":"Storefront web","description":"The public shop","tags":["web","react"]},"spec":{"type":"website","lifecycle":"production","owner":"team-web"}}`,
	`{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"name":"orders","namespace":"default","description":"Order intake for the storefront","tags":["java"]},"spec":{"type":"service","lifecycle":"production","owner":"team-orders"}}`,
	`{"apiVersion":"backstage.io/v1alpha1","kind":"API","metadata":{"name":"orders-api","namespace":"shop","tags":["rest"]},"spec":{"type":"openapi","lifecycle":"experimental","owner":"team-orders"}}`,
	`{"apiVersion":"backstage.io/v1alpha1","kind":"Group","metadata":{"name":"team-web"},"spec":{"type":"team"}}`,
}

func get(t *testing.T, query string) (int, search.Response) {
	t.Helper()
	srv := httpserver.New(httpserver.Options{})
	search.Register(srv.Plugin("search"), search.Options{Catalog: listReader{entities: entities}})
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	res, err := http.Get(ts.URL + "/api/search/query?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out search.Response
	if res.StatusCode == 200 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%v: %s", err, b)
		}
	}
	return res.StatusCode, out
}

func names(r search.Response) string {
	var n []string
	for _, x := range r.Results {
		n = append(n, x.Document.Kind+":"+x.Document.Namespace+"/"+x.Document.Name)
	}
	return strings.Join(n, ",")
}

func TestQuery(t *testing.T) {
	tests := []struct {
		name   string
		query  url.Values
		status int
		want   string
		total  int
	}{
		{"name beats description", url.Values{"term": {"storefront"}}, 200, "Component:default/storefront,Component:default/orders", 2},
		{"exact tag beats part of a name", url.Values{"term": {"web"}}, 200, "Component:default/storefront,Group:default/team-web", 2},
		{"tag", url.Values{"term": {"REST"}}, 200, "API:shop/orders-api", 1},
		{"every term must match", url.Values{"term": {"orders java"}}, 200, "Component:default/orders", 1},
		{"no match", url.Values{"term": {"kafka"}}, 200, "", 0},
		{"kind filter ignores case", url.Values{"term": {"orders"}, "filters[kind]": {"api"}}, 200, "API:shop/orders-api", 1},
		{"lifecycle filter", url.Values{"filters[lifecycle]": {"production"}}, 200, "Component:default/orders,Component:default/storefront", 2},
		{"other document types only", url.Values{"term": {"orders"}, "types[0]": {"techdocs"}}, 200, "", 0},
		{"catalog type", url.Values{"term": {"orders"}, "types[0]": {"software-catalog"}}, 200, "Component:default/orders,API:shop/orders-api", 2},
		{"paged", url.Values{"pageLimit": {"3"}}, 200, "Component:default/orders,API:shop/orders-api,Component:default/storefront", 4},
		{"second page", url.Values{"pageLimit": {"3"}, "pageCursor": {"MQ=="}}, 200, "Group:default/team-web", 4},
		{"count only", url.Values{"term": {"orders"}, "pageLimit": {"0"}}, 200, "", 2},
		{"bad cursor", url.Values{"pageCursor": {"%%%"}}, 400, "", 0},
		{"limit too large", url.Values{"pageLimit": {"101"}}, 400, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, res := get(t, tc.query.Encode())
			if status != tc.status {
				t.Fatalf("status %d, want %d", status, tc.status)
			}
			if status != 200 {
				return
			}
			if got := names(res); got != tc.want {
				t.Errorf("results %q, want %q", got, tc.want)
			}
			if res.NumberOfResults != tc.total {
				t.Errorf("numberOfResults %d, want %d", res.NumberOfResults, tc.total)
			}
		})
	}
}

func TestDocumentShape(t *testing.T) {
	_, res := get(t, "term=storefront&pageLimit=1")
	if len(res.Results) != 1 {
		t.Fatalf("want one result, got %d", len(res.Results))
	}
	r := res.Results[0]
	d := r.Document
	if r.Type != "software-catalog" || r.Rank != 1 || res.NextPageCursor == "" {
		t.Errorf("type %q rank %d next %q", r.Type, r.Rank, res.NextPageCursor)
	}
	if d.Location != "/catalog/default/component/storefront" || d.Title != "Storefront web" || d.Text != "The public shop" ||
		d.Lifecycle != "production" || d.Owner != "team-web" || d.Type != "website" || d.Authorization.ResourceRef != "component:default/storefront" {
		t.Errorf("document %+v", d)
	}
	if r.Highlight == nil || !strings.Contains(r.Highlight.Fields["title"], r.Highlight.PreTag+"Storefront"+r.Highlight.PostTag+" web") {
		t.Errorf("highlight %+v", r.Highlight)
	}
}
