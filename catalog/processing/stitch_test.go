package processing_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/backend/database"
)

// TestPeerStitchingConverges ingests teams owning many components that
// depend on each other, in small batches, so that the relation peers of
// every batch (the teams, the components depended on) are queued again
// and again and stitched after processing; on PostgreSQL two stitching
// transactions run at once. Every relation must end up on both of its
// entities, as a user reading a team's or a component's page expects.
func TestPeerStitchingConverges(t *testing.T) {
	const teams, components = 5, 300
	var b strings.Builder
	for g := range teams {
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata: {name: team-%d}\nspec: {type: team, children: []}\n", g)
	}
	dependsOn := func(i int) []int { return []int{(i + 1) % components, (i * 7) % components} }
	for i := range components {
		var deps []string
		for _, d := range dependsOn(i) {
			if d != i {
				deps = append(deps, fmt.Sprintf("component:svc-%03d", d))
			}
		}
		fmt.Fprintf(&b, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: svc-%03d}\nspec: {type: service, lifecycle: production, owner: team-%d, dependsOn: [%s]}\n",
			i, i%teams, strings.Join(deps, ", "))
	}
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dir := t.TempDir()
			write(t, filepath.Join(dir, "all.yaml"), b.String())
			db, err := database.Open(ctx, kind.open(t, dir))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			store, err := sqlstore.New(ctx, db, nil)
			if err != nil {
				t.Fatal(err)
			}
			rules, _ := model.NewRules([]model.Rule{{Allow: []model.RuleKind{{Kind: "Component"}, {Kind: "Group"}, {Kind: "Location"}}}}, nil)
			eng := processing.New(processing.Options{
				Store:     store,
				Readers:   map[string]processing.LocationReader{"file": processing.FileReader{}},
				Rules:     rules,
				BatchSize: 16,
			})
			p := &processing.ConfigLocationsProvider{Locations: []processing.LocationSpec{{Type: "file", Target: filepath.Join(dir, "all.yaml")}}}
			if err := p.Connect(ctx, store); err != nil {
				t.Fatal(err)
			}
			if err := eng.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			res, err := store.ListEntities(ctx, catalog.EntitiesRequest{})
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
