package conformance

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRecordGolden rewrites the golden files of every suite whose corpus the
// oracle named by UNDERSTAGE_RECORD_ORACLE has loaded.
func TestRecordGolden(t *testing.T) {
	oracle := os.Getenv(EnvRecordOracle)
	if oracle == "" {
		t.Skipf("set %s to the oracle's URL to record the golden files", EnvRecordOracle)
	}
	for _, s := range Suites() {
		t.Run(s.Name, func(t *testing.T) { RecordGolden(t, s, oracle) })
	}
}

func TestGoldenRoundTrip(t *testing.T) {
	const (
		list  = "/api/catalog/entities"
		page1 = "/api/catalog/entities/by-query?limit=1"
	)
	pageBody := func(name, next, prev string) string {
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
		return `{"items":[{"name":"` + name + `","at":"file:ROOT/x.yaml"}],"totalItems":2,"pageInfo":` + info + `}}`
	}
	routes := func(root, cur, second string) map[string]string {
		return map[string]string{
			list:  `[{"metadata":{"name":"b","uid":"` + cur + `"}},{"metadata":{"name":"a","annotations":{"x":"file:` + root + `/a.yaml"}}}]`,
			page1: strings.ReplaceAll(pageBody("a", cur+"1", ""), "ROOT", root),
			"/api/catalog/entities/by-query?cursor=" + cur + "1&limit=1": strings.ReplaceAll(pageBody(second, "", cur+"0"), "ROOT", root),
			"/api/catalog/entities/by-query?cursor=" + cur + "0&limit=1": strings.ReplaceAll(pageBody("a", cur+"1", ""), "ROOT", root),
			"/api/catalog/text": "plain /" + root + "/ text",
		}
	}
	cases := []Case{
		{Name: "list/unordered", Method: http.MethodGet, Path: list, Compare: Unordered},
		{Name: "pages/exact", Method: http.MethodGet, Path: page1, Compare: Exact, FollowCursors: true},
		{Name: "pages/pooled", Method: http.MethodGet, Path: page1, Compare: Unordered, FollowCursors: true},
		{Name: "text", Method: http.MethodGet, Path: "/api/catalog/text", Compare: Exact},
		{Name: "status", Method: http.MethodGet, Path: list, Compare: StatusOnly},
	}
	recordSide := fakeCatalog(t, "/ROOT-A", routes("/ROOT-A", "o", "b"), "")
	same := fakeCatalog(t, "/ROOT-B", routes("/ROOT-B", "u", "b"), "")
	changed := fakeCatalog(t, "/ROOT-B", routes("/ROOT-B", "u", "c"), "")

	dir := t.TempDir()
	for _, c := range cases {
		pages, err := observeCase(t, c, recordSide)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		data, err := encodeGolden(c, pages)
		if err != nil {
			t.Fatal(err)
		}
		p := GoldenPath(dir, c.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(GoldenPath(dir, "list/unordered"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"file:<ROOT>/a.yaml"`, `"uid": "<UID>"`, `"compare": "unordered"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("golden file lacks %s:\n%s", want, data)
		}
	}
	// Unordered lists are stored sorted, so re-recording is stable.
	if strings.Index(string(data), `"name": "a"`) > strings.Index(string(data), `"name": "b"`) {
		t.Errorf("unordered items are not stored sorted:\n%s", data)
	}

	tests := []struct {
		name     string
		server   *side
		wantDiff map[string]string // case → substring of its diff; absent = must match
	}{
		{name: "equal answers under another root match", server: same},
		{name: "a changed page is reported", server: changed, wantDiff: map[string]string{
			"pages/exact":  `nextCursor step 1:`,
			"pages/pooled": `"name": "c"`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, c := range cases {
				data, err := os.ReadFile(GoldenPath(dir, c.Name))
				if err != nil {
					t.Fatal(err)
				}
				req, want, err := decodeGolden(data)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				if why, err := staleness(c, req); err != nil || why != "" {
					t.Fatalf("%s: stale (%v): %s", c.Name, err, why)
				}
				got, err := observeCase(t, c, tt.server)
				if err != nil {
					t.Fatal(err)
				}
				diff := diffObserved(c, want, got)
				wantDiff, expectDiff := tt.wantDiff[c.Name]
				if !expectDiff && diff != "" {
					t.Errorf("%s: want a match, got:\n%s", c.Name, diff)
				}
				if expectDiff && !strings.Contains(diff, wantDiff) {
					t.Errorf("%s: want a diff containing %q, got:\n%s", c.Name, wantDiff, diff)
				}
			}
		})
	}
}

func TestGoldenStaleness(t *testing.T) {
	c := Case{Name: "x", Method: http.MethodPost, Path: "/api/catalog/entities/by-query", Body: map[string]any{"limit": 2}, Compare: Exact}
	req, err := requestOf(c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		edit  func(*Case)
		stale bool
	}{
		{"unchanged", func(*Case) {}, false},
		{"body changed", func(c *Case) { c.Body = map[string]any{"limit": 3} }, true},
		{"mode changed", func(c *Case) { c.Compare = Unordered }, true},
		{"cursor walk added", func(c *Case) { c.FollowCursors = true }, true},
		{"header added", func(c *Case) { c.Headers = map[string]string{"Content-Type": "text/plain"} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc := c
			tt.edit(&cc)
			why, err := staleness(cc, req)
			if err != nil {
				t.Fatal(err)
			}
			if (why != "") != tt.stale {
				t.Fatalf("staleness = %q, want stale %v", why, tt.stale)
			}
		})
	}
}

func TestCheckCaseNames(t *testing.T) {
	tests := []struct {
		names []string
		ok    bool
	}{
		{[]string{"a/b", "a/c"}, true},
		{[]string{"a", "a"}, false},
		{[]string{"../x"}, false},
		{[]string{""}, false},
	}
	for _, tt := range tests {
		var cases []Case
		for _, n := range tt.names {
			cases = append(cases, Case{Name: n})
		}
		if err := checkCaseNames(cases); (err == nil) != tt.ok {
			t.Errorf("checkCaseNames(%v) = %v, want ok %v", tt.names, err, tt.ok)
		}
	}
}
