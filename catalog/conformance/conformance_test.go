package conformance

import (
	"os"
	"testing"
)

// liveURLs returns the two servers to compare, skipping the test when the
// environment does not name them.
func liveURLs(t *testing.T) (understage, oracle string) {
	t.Helper()
	understage, oracle = os.Getenv(EnvUnderstageURL), os.Getenv(EnvOracleURL)
	if understage == "" || oracle == "" {
		t.Skipf("set %s and %s to run the differential tests", EnvUnderstageURL, EnvOracleURL)
	}
	return understage, oracle
}

func TestReadConformance(t *testing.T) {
	understage, oracle := liveURLs(t)
	Run(t, AllCases(), understage, oracle)
}
