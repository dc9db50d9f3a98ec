package httpapi

import (
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// TestFacetsJSON: the streamed answer is the JSON.stringify of the object
// Backstage builds: facets in the order asked, a repeated one once, values
// escaped as JSON.stringify escapes them, no values as [].
func TestFacetsJSON(t *testing.T) {
	counts := map[string][]catalog.FacetCount{
		"kind":              {{Value: "Component", Count: 3}, {Value: "API", Count: 1}},
		"metadata.tags":     {{Value: "a\"b\\c<d>\u2028\x01é", Count: 2}},
		"relations.ownedBy": {},
	}
	tests := []struct {
		name   string
		facets []string
	}{
		{"one", []string{"kind"}},
		{"several in order", []string{"metadata.tags", "kind", "relations.ownedBy"}},
		{"repeated", []string{"kind", "metadata.tags", "kind"}},
		{"unknown", []string{"spec.nope"}},
		{"none", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := &ojson.Object{}
			for _, f := range tt.facets {
				list := []any{}
				for _, fc := range counts[f] {
					list = append(list, ojson.NewObject("value", fc.Value, "count", fc.Count))
				}
				out.Set(f, list)
			}
			want := string(ojson.MustMarshal(ojson.NewObject("facets", out)))
			if got := string(facetsJSON(tt.facets, counts)); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}
