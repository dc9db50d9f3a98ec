package permission_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayering: the permission types, and the request handlers of the
// catalog and the scaffolder that use them, do not depend on the auth
// plugin, the database or (for the types) HTTP serving: they take the
// permissions service and the auditor as interfaces and light types.
func TestLayering(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list dependencies with")
	}
	const mod = "github.com/understage/understage/"
	heavy := []string{"plugins/auth", "plugins/backend/database", "plugins/permission/service", "plugins/backend/services", "plugins/backend/system"}
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"plugins/permission", append(heavy, "plugins/backend/httpserver")},
		{"plugins/backend/auditor", append(heavy, "plugins/backend/httpserver")},
		{"catalog/httpapi", heavy},
		{"scaffolder/httpapi", heavy},
	} {
		t.Run(tc.pkg, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", mod+tc.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", tc.pkg, err)
			}
			deps := map[string]bool{}
			for _, d := range strings.Fields(string(out)) {
				deps[strings.TrimPrefix(d, mod)] = true
			}
			if !deps[tc.pkg] {
				t.Fatalf("go list -deps %s does not list the package itself:\n%s", tc.pkg, out)
			}
			for _, f := range tc.forbidden {
				if deps[f] {
					t.Errorf("%s depends on %s", tc.pkg, f)
				}
			}
		})
	}
}
