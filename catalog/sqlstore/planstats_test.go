package sqlstore

import "testing"

func TestAnalysisDue(t *testing.T) {
	for _, tc := range []struct {
		name            string
		since, analyzed int64
		settled, want   bool
	}{
		{"nothing written", 0, 0, true, false},
		{"a small first load, still writing", 1999, 0, false, false},
		{"a first load reaches the minimum", 2000, 0, false, true},
		{"the catalog doubles", 50000, 50000, false, true},
		{"short of doubling, still writing", 40000, 50000, false, false},
		{"short of doubling, settled", 40000, 50000, true, true},
		{"a trickle of changes, settled", 6000, 100000, true, false},
		{"an eighth changed, settled", 12500, 100000, true, true},
		{"under the minimum, settled", 1999, 8000, true, false},
	} {
		if got := analysisDue(tc.since, tc.analyzed, tc.settled); got != tc.want {
			t.Errorf("%s: analysisDue(%d, %d, %v) = %v", tc.name, tc.since, tc.analyzed, tc.settled, got)
		}
	}
}
