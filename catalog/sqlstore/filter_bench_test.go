package sqlstore

import (
	"fmt"
	"testing"

	"github.com/understage/understage/catalog"
)

// BenchmarkWhereFilter measures compiling filters to SQL: the two-condition
// filter of a typical catalog page, and one of 100 OR'ed conditions.
func BenchmarkWhereFilter(b *testing.B) {
	small := catalog.AllOf{Filters: []catalog.Filter{
		catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
		catalog.Field{Key: "spec.type", Op: catalog.OpIn, Values: []string{"service"}},
	}}
	var any100 []catalog.Filter
	for i := range 100 {
		any100 = append(any100, catalog.AllOf{Filters: []catalog.Filter{
			catalog.Field{Key: "kind", Op: catalog.OpIn, Values: []string{"component"}},
			catalog.Field{Key: "metadata.name", Op: catalog.OpIn, Values: []string{fmt.Sprintf("c-%d", i)}},
		}})
	}
	keys := keyIDs{"kind": 2, "spec.type": 9, "metadata.name": 5}
	for _, tc := range []struct {
		name string
		f    catalog.Filter
	}{{"page", small}, {"any100", catalog.AnyOf{Filters: any100}}} {
		for name, d := range map[string]dialect{"sqlite": sqliteDialect{}, "pg": postgresDialect{}} {
			b.Run(tc.name+"/"+name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := whereFilter(d, keys, tc.f, "o.eid"); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
