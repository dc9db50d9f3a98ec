package processing_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
)

// TestPeerStitchingConverges ingests teams owning many components that
// depend on each other, in small batches, so that the relation peers of
// every batch (the teams, the components depended on) are queued again
// and again and stitched after processing; on PostgreSQL two processing
// writes, and then two stitching transactions, run at once. Every relation must end up on both of its
// entities, as a user reading a team's or a component's page expects.
func TestPeerStitchingConverges(t *testing.T) {
	const teams, components = 5, 300
	var sb strings.Builder
	for g := range teams {
		fmt.Fprintf(&sb, "---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-%d}\nspec: {type: team, children: []}\n", g)
	}
	dependsOn := func(i int) []int { return []int{(i + 1) % components, (i * 7) % components} }
	for i := range components {
		var deps []string
		for _, d := range dependsOn(i) {
			if d != i {
				deps = append(deps, fmt.Sprintf("component:svc-%03d", d))
			}
		}
		fmt.Fprintf(&sb, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-%03d}\nspec: {type: service, lifecycle: production, owner: team-%d, dependsOn: [%s]}\n",
			i, i%teams, strings.Join(deps, ", "))
	}
	yaml := sb.String()
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			b := setupBatches(t, kind, map[string]string{"all.yaml": yaml}, model.Rules{}, 16)
			ctx := context.Background()
			res, err := b.store.ListEntities(ctx, catalog.EntitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]string{} // ref -> sorted "type target" relations
			for _, raw := range res.Entities {
				e := decode(t, raw)
				var rels []string
				for _, r := range e.Relations {
					rels = append(rels, r.Type+" "+r.TargetRef)
				}
				slices.Sort(rels)
				got[refOf(t, raw)] = rels
			}
			want := map[string][]string{}
			for g := range teams {
				want[fmt.Sprintf("group:default/team-%d", g)] = nil
			}
			for i := range components {
				ref := fmt.Sprintf("component:default/svc-%03d", i)
				team := fmt.Sprintf("group:default/team-%d", i%teams)
				want[ref] = append(want[ref], "ownedBy "+team)
				want[team] = append(want[team], "ownerOf "+ref)
				for _, d := range dependsOn(i) {
					if d == i {
						continue
					}
					dep := fmt.Sprintf("component:default/svc-%03d", d)
					want[ref] = append(want[ref], "dependsOn "+dep)
					want[dep] = append(want[dep], "dependencyOf "+ref)
				}
			}
			for ref, rels := range want {
				slices.Sort(rels)
				rels = slices.Compact(rels)
				if !slices.Equal(got[ref], rels) {
					t.Errorf("%s relations:\n got %v\nwant %v", ref, got[ref], rels)
				}
			}
			if len(got) != len(want)+1 { // and the configured location
				t.Errorf("%d entities, want %d", len(got), len(want)+1)
			}
		})
	}
}
