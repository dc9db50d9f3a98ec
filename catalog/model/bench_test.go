package model

import (
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

const typicalComponent = `{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{"annotations":{"backstage.io/managed-by-location":"url:https://github.com/org/repo/blob/main/catalog-info.yaml","backstage.io/managed-by-origin-location":"url:https://github.com/org/repo/blob/main/catalog-info.yaml","github.com/project-slug":"org/repo"},"name":"service-42","title":"Service 42","description":"A generated service","tags":["java","gen"],"labels":{"tier":"backend"},"links":[{"url":"https://example.com/42","title":"Dashboard"}]},"spec":{"type":"service","lifecycle":"production","owner":"team-a","system":"billing","providesApis":["api-42"],"consumesApis":["api-1"],"dependsOn":["resource:db-42"]}}`

func BenchmarkProcessEntity(b *testing.B) {
	src, err := ojson.DecodeObject([]byte(typicalComponent))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := loadSchemas(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		e, err := ApplyPolicies(src)
		if err != nil {
			b.Fatal(err)
		}
		if err := Validate(e); err != nil {
			b.Fatal(err)
		}
		rels, err := BuildRelations(e)
		if err != nil {
			b.Fatal(err)
		}
		own := rels[:0:0]
		ref := EntityRef(e)
		for _, r := range rels {
			if r.Source == ref {
				own = append(own, r)
			}
		}
		final, _ := Stitch(StitchInput{Processed: e, UID: "0b5e2f5e-1d7a-4c1e-9a51-3c2d7f0e8b11", Relations: own})
		if _, err := SearchRows(final); err != nil {
			b.Fatal(err)
		}
	}
}

// stitchedComponent is typicalComponent as stitched: uid, etag and
// relations added.
func stitchedComponent(b *testing.B) *ojson.Object {
	b.Helper()
	src, err := ojson.DecodeObject([]byte(typicalComponent))
	if err != nil {
		b.Fatal(err)
	}
	e, err := ApplyPolicies(src)
	if err != nil {
		b.Fatal(err)
	}
	rels, err := BuildRelations(e)
	if err != nil {
		b.Fatal(err)
	}
	final, _ := Stitch(StitchInput{Processed: e, UID: "0b5e2f5e-1d7a-4c1e-9a51-3c2d7f0e8b11", Relations: rels})
	return final
}

// BenchmarkSearchRows measures flattening a stitched entity into its
// search rows, which every stitch does.
func BenchmarkSearchRows(b *testing.B) {
	final := stitchedComponent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SearchRows(final); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodeEntityJSON measures encoding a stitched entity as JSON,
// as it is stored and served.
func BenchmarkEncodeEntityJSON(b *testing.B) {
	final := stitchedComponent(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ojson.Marshal(final); err != nil {
			b.Fatal(err)
		}
	}
}
