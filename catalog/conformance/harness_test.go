package conformance

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeCatalog serves the corpus root Location plus fixed bodies per path.
func fakeCatalog(t *testing.T, root string, routes map[string]string, link string) *side {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/catalog/entities/by-name/location/default/"+CorpusRootLocation {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_, _ = w.Write([]byte(`{"metadata":{"annotations":{"backstage.io/managed-by-location":"file:` + root + `/all.yaml"},"name":"conformance-corpus"}}`))
			return
		}
		body, ok := routes[r.URL.RequestURI()]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if link != "" {
			w.Header().Set("Link", link)
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	s, err := newSide(t.Context(), srv.Client(), "fake", srv.URL, "", CorpusRootLocation)
	if err != nil {
		t.Fatalf("newSide: %v", err)
	}
	return s
}

func TestCompareCase(t *testing.T) {
	const path = "/api/catalog/entities"
	tests := []struct {
		name          string
		mode          CompareMode
		oracle, under string
		oLink, uLink  string
		wantDiff      string // substring of the diff; "" = must match
	}{
		{
			name:   "uids etags roots and ids are masked",
			oracle: `[{"metadata":{"name":"a","uid":"0b6b3f4e-1111-4a5b-9c3d-aaaaaaaaaaaa","etag":"abc","annotations":{"x":"file:/ROOT-A/all.yaml"}},"id":"0b6b3f4e-1111-4a5b-9c3d-bbbbbbbbbbbb","at":"2026-01-02T03:04:05.678Z"}]`,
			under:  `[{"metadata":{"name":"a","uid":"9c9c9c9c-2222-4a5b-9c3d-aaaaaaaaaaaa","etag":"def","annotations":{"x":"file:/ROOT-B/all.yaml"}},"id":"77777777-1111-4a5b-9c3d-bbbbbbbbbbbb","at":"2027-11-12T13:14:15Z"}]`,
		},
		{
			name:   "cursors in bodies and Link headers are masked",
			oracle: `{"items":[],"pageInfo":{"nextCursor":"AAA"}}`, oLink: `</entities?limit=2&after=eyJhIjoxfQ%3D%3D>; rel="next"`,
			under: `{"items":[],"pageInfo":{"nextCursor":"BBB"}}`, uLink: `</entities?limit=2&after=zzz>; rel="next"`,
		},
		{
			name:     "key order matters",
			oracle:   `{"a":1,"b":2}`,
			under:    `{"b":2,"a":1}`,
			wantDiff: `body:`,
		},
		{
			name:     "non-canonical encoding is reported",
			oracle:   `{"a":1}`,
			under:    `{"a": 1}`,
			wantDiff: `not encoded the way JSON.stringify`,
		},
		{
			name:     "Link header differences are reported",
			oracle:   `[]`,
			under:    `[]`,
			oLink:    `</entities?limit=2&after=x>; rel="next"`,
			wantDiff: `Link: oracle`,
		},
		{
			name:     "array order matters in exact mode",
			oracle:   `[{"n":1},{"n":2}]`,
			under:    `[{"n":2},{"n":1}]`,
			wantDiff: `"n": 2`,
		},
		{
			name:   "unordered mode sorts top-level arrays",
			mode:   Unordered,
			oracle: `[{"n":1},{"n":2}]`,
			under:  `[{"n":2},{"n":1}]`,
		},
		{
			name:   "unordered mode sorts items",
			mode:   Unordered,
			oracle: `{"items":[{"n":1},{"n":2}],"totalItems":2}`,
			under:  `{"items":[{"n":2},{"n":1}],"totalItems":2}`,
		},
		{
			name:     "unordered mode still compares contents",
			mode:     Unordered,
			oracle:   `{"items":[{"n":1},{"n":2}],"totalItems":2}`,
			under:    `{"items":[{"n":2},{"n":3}],"totalItems":2}`,
			wantDiff: `"n": 3`,
		},
		{
			name:   "status-only ignores bodies",
			mode:   StatusOnly,
			oracle: `{"a":1}`,
			under:  `{"a":2}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			or := fakeCatalog(t, "/ROOT-A", map[string]string{path: tt.oracle}, tt.oLink)
			us := fakeCatalog(t, "/ROOT-B", map[string]string{path: tt.under}, tt.uLink)
			diff, err := compareCase(t.Context(), Case{Name: tt.name, Method: http.MethodGet, Path: path, Compare: tt.mode}, us, or)
			if err != nil {
				t.Fatalf("compareCase: %v", err)
			}
			if tt.wantDiff == "" && diff != "" {
				t.Fatalf("want a match, got diff:\n%s", diff)
			}
			if tt.wantDiff != "" && !strings.Contains(diff, tt.wantDiff) {
				t.Fatalf("want a diff containing %q, got:\n%s", tt.wantDiff, diff)
			}
		})
	}
}

func TestFollowCursorsComparesPageByPage(t *testing.T) {
	const first = "/api/catalog/entities/by-query?limit=1"
	page := func(name, next, prev string) string {
		info := `{`
		if next != "" {
			info += `"nextCursor":"` + next + `"`
		}
		if prev != "" {
			if next != "" {
				info += ","
			}
			info += `"prevCursor":"` + prev + `"`
		}
		return `{"items":[{"name":"` + name + `"}],"totalItems":2,"pageInfo":` + info + `}}`
	}
	or := fakeCatalog(t, "/A", map[string]string{
		first: page("a", "o1", ""), "/api/catalog/entities/by-query?cursor=o1&limit=1": page("b", "", "o0"),
		"/api/catalog/entities/by-query?cursor=o0&limit=1": page("a", "o1", ""),
	}, "")
	good := fakeCatalog(t, "/B", map[string]string{
		first: page("a", "u1", ""), "/api/catalog/entities/by-query?cursor=u1&limit=1": page("b", "", "u0"),
		"/api/catalog/entities/by-query?cursor=u0&limit=1": page("a", "u1", ""),
	}, "")
	bad := fakeCatalog(t, "/B", map[string]string{
		first: page("a", "u1", ""), "/api/catalog/entities/by-query?cursor=u1&limit=1": page("c", "", ""),
	}, "")
	c := Case{Name: "pages", Method: http.MethodGet, Path: first, FollowCursors: true}
	if diff, err := compareCase(t.Context(), c, good, or); err != nil || diff != "" {
		t.Fatalf("good side: err %v, diff:\n%s", err, diff)
	}
	diff, err := compareCase(t.Context(), c, bad, or)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"name": "c"`, "only the oracle has this page"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
}

func TestMaskerText(t *testing.T) {
	m := masker{root: "/srv/corpus"}
	tests := []struct{ in, want string }{
		{"file:/srv/corpus/a.yaml", "file:<ROOT>/a.yaml"},
		{"location:default/generated-0e938a83e6585358a6975d4250f338b8dd3abb40", "location:default/generated-<HASH>"},
		{"No entity with uid 384c2fd1-503f-4184-a88e-4c211436086a", "No entity with uid <UUID>"},
		{"/entities/by-query?cursor=eyJ9&limit=2", "/entities/by-query?cursor=<CURSOR>&limit=2"},
		{"at 2026-11-25T19:34:49.667Z", "at <TIME>"},
		{"plain text", "plain text"},
	}
	for _, tt := range tests {
		if got := m.text(tt.in); got != tt.want {
			t.Errorf("text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLineDiff(t *testing.T) {
	got := lineDiff("a\nb\nc\nd", "a\nB\nc\nd")
	for _, want := range []string{"- b\n", "+ B\n", "  a\n", "  c\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("diff lacks %q:\n%s", want, got)
		}
	}
	if lineDiff("same", "same") != "" {
		t.Error("equal texts must give an empty diff")
	}
}
