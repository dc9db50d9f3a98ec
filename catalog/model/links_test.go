package model

import (
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

// TestLinkURL checks metadata.links[].url the way Backstage does: valid
// exactly when WHATWG's URL parser (new URL in Node) accepts it. The
// expectations are Node 22's answers for each string.
func TestLinkURL(t *testing.T) {
	tests := []struct {
		url   string
		valid bool
	}{
		{"https://grafana.harbor.example/d/x", true},
		{"http://localhost:3000/catalog", true},
		{"mailto:tide@harbor.example", true},
		{"file:///tmp/x", true},
		{"https:harbor.example", true},
		{"https://harbor.example/run book", true},
		{" https://harbor.example", true},
		{"https://tab\tinside.example", true},
		{"http://%41.com", true},
		{"http://a%2eb.com/", true},
		{"https://例え.jp/", true},
		{"https://[::1]:8080/", true},
		{"https://harbor.example:65535/", true},
		{"https://harbor.example:0080/", true},
		{"www.harbor.example", false},
		{"/docs", false},
		{"${{ values.repoUrl }}", false},
		{"https://harbor.example:65536/", false},
		{"https://harbor.example:99999/", false},
		{"http://host.example:80:80/", false},
		{"http://256.1.1.1/", false},
		{"http://999999999999/", false},
		{"http://xn--a.com/", false},
		{"http://a b.com", false},
		{"http://%zz.com", false},
		{"https://[::1/", false},
		{"http://[1:2:3]/", false},
		{"http://", false},
		{"1abc:foo", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			e := ojson.NewObject("apiVersion", "backstage.io/v1alpha1", "kind", "Component",
				"metadata", ojson.NewObject("name", "x", "links", []any{ojson.NewObject("url", tt.url)}),
				"spec", ojson.NewObject("type", "service", "lifecycle", "production", "owner", "team-a"))
			_, err := ApplyPolicies(e)
			if tt.valid && err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if !tt.valid && (err == nil || !strings.Contains(err.Error(), `"links.0.url" is not valid; expected a string that is a valid url`)) {
				t.Fatalf("want the links.0.url error, got %v", err)
			}
		})
	}
}

// FuzzLinkURL feeds hostile link URLs through the policy checks: whatever
// the string, validation answers (valid, the schema's or the field format's
// error about that url) and never panics.
func FuzzLinkURL(f *testing.F) {
	for _, s := range []string{"https://grafana.harbor.example/d/x", "http://[::1]:99999", "http://xn--a.com/", "https://例え.jp/%zz", "a:\t\n", "http://0x7f.1/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		e := ojson.NewObject("apiVersion", "backstage.io/v1alpha1", "kind", "Component",
			"metadata", ojson.NewObject("name", "x", "links", []any{ojson.NewObject("url", u)}),
			"spec", ojson.NewObject("type", "service", "lifecycle", "production", "owner", "team-a"))
		_, err := ApplyPolicies(e)
		if err != nil && !strings.Contains(err.Error(), `"links.0.url" is not valid`) && !strings.Contains(err.Error(), "/metadata/links/0/url ") {
			t.Fatalf("url %q: unexpected error %v", u, err)
		}
	})
}
