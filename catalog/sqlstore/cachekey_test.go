package sqlstore

import "testing"

// TestCacheKeyDistinct: argument lists that differ give different keys,
// whatever bytes the arguments hold.
func TestCacheKeyDistinct(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []any
	}{
		{"a separator inside an argument", []any{"a\x00b", "c"}, []any{"a", "b\x00c"}},
		{"a number and its digits", []any{20}, []any{"20"}},
		{"one argument or two", []any{"a\x00\"b\""}, []any{"a", "b"}},
	} {
		if cacheKey("page", "q", tc.a) == cacheKey("page", "q", tc.b) {
			t.Errorf("%s: %q and %q share a key", tc.name, tc.a, tc.b)
		}
	}
}
