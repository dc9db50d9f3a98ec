package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/understage/understage/plugins/backend/ojson"
)

// moduleRoot is the repository root, two folders up from this package.
const moduleRoot = "../../.."

// instance builds a config holding pattern's key with value v: "*" becomes
// the key "x1" and "[]" a list of one object. It returns the config and
// the key as Check names it.
func instance(t *testing.T, pattern string, v any) (*Config, string) {
	t.Helper()
	segs := strings.Split(pattern, ".")
	full := make([]string, len(segs))
	val := v
	for i := len(segs) - 1; i >= 0; i-- {
		name, list := strings.CutSuffix(segs[i], "[]")
		if name == "*" {
			name = "x1"
		}
		full[i] = name
		if list {
			full[i] += "[0]"
			val = []any{val}
		}
		val = ojson.NewObject(name, val)
	}
	return FromValue(val, "app-config.yaml"), strings.Join(full, ".")
}

// scalar parses a value of Only or Never ("false", "abort").
func scalar(s string) any {
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		if b, ok := v.(bool); ok {
			return b
		}
	}
	return s
}

// testFuncs lists the Test functions of a package's test files, with the
// text of the file each is in.
func testFuncs(t *testing.T, pkg string) map[string]string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(moduleRoot, pkg, "*_test.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	re := regexp.MustCompile(`(?m)^func (Test\w+)\(t \*testing\.T\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = string(b)
		}
	}
	return out
}

// lastName is the last named segment of a pattern ("maxAge" of
// backend.cors.maxAge, "connection" of backend.database.plugin.*.connection).
func lastName(pattern string) string {
	segs := strings.Split(pattern, ".")
	for i := len(segs) - 1; i >= 0; i-- {
		if s := strings.TrimSuffix(segs[i], "[]"); s != "*" {
			return s
		}
	}
	return ""
}

// TestKeyTable checks every row of the key table: a supported key names a
// test that exists and mentions the key; accepted and refused keys say why;
// a refused key, or a refused value of a key, stops Check with an error
// naming the key; an accepted or supported key with a permitted value
// passes.
func TestKeyTable(t *testing.T) {
	funcs := map[string]map[string]string{}
	seen := map[string]bool{}
	for _, k := range KeyTable() {
		t.Run(k.Pattern, func(t *testing.T) {
			if seen[k.Pattern] {
				t.Fatal("listed twice")
			}
			seen[k.Pattern] = true
			switch k.Decision {
			case Supported:
				pkg, name, ok := strings.Cut(k.Test, " ")
				if !ok {
					t.Fatalf("test reference %q is not \"<package> <TestName>\"", k.Test)
				}
				if funcs[pkg] == nil {
					funcs[pkg] = testFuncs(t, pkg)
				}
				src, ok := funcs[pkg][name]
				if !ok {
					t.Fatalf("no func %s in %s", name, pkg)
				}
				if n := lastName(k.Pattern); !strings.Contains(strings.ToLower(src), strings.ToLower(n)) {
					t.Errorf("the file of %s %s never mentions %q", pkg, name, n)
				}
			case Accepted, Refused:
				if k.Reason == "" {
					t.Fatal("no reason")
				}
			default:
				t.Fatalf("decision %v", k.Decision)
			}
			if (len(k.Only) > 0 || len(k.Never) > 0) && k.Reason == "" {
				t.Fatal("refused values without a reason")
			}

			var refusedValues, okValues []any
			switch {
			case k.Decision == Refused:
				refusedValues = []any{"x", ojson.NewObject("a", "b")}
			case len(k.Only) > 0:
				refusedValues = []any{"not-a-permitted-value"}
				for _, v := range k.Only {
					okValues = append(okValues, scalar(v))
				}
			case len(k.Never) > 0:
				for _, v := range k.Never {
					refusedValues = append(refusedValues, scalar(v))
				}
				okValues = []any{"PT1M"}
			default:
				okValues = []any{"x"}
			}
			for _, v := range refusedValues {
				cfg, full := instance(t, k.Pattern, v)
				res, err := CheckKeys(cfg)
				if err == nil || !strings.Contains(err.Error(), full+": ") || !strings.Contains(err.Error(), k.Reason) {
					t.Errorf("value %v: got %v, want an error naming %s with the reason", v, err, full)
				}
				if len(res.Refused) != 1 || res.Refused[0].Key != full {
					t.Errorf("value %v: refused %v, want just %s", v, res.Refused, full)
				}
			}
			for _, v := range okValues {
				cfg, full := instance(t, k.Pattern, v)
				res, err := CheckKeys(cfg)
				if err != nil {
					t.Errorf("value %v: %v", v, err)
				}
				accepted := false
				for _, f := range res.Accepted {
					accepted = accepted || f.Key == full && f.Reason == k.Reason
				}
				if accepted != (k.Decision == Accepted) {
					t.Errorf("value %v: accepted findings %v", v, res.Accepted)
				}
			}
		})
	}
}

func TestCheckSections(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		refused  []string
		accepted []string
		unknown  []string
		unlisted []string
	}{
		{name: "misspelt catalog key", yaml: "catalog:\n  processingIntervall: {minutes: 5}\n", unknown: []string{"catalog.processingIntervall"}},
		{name: "misspelt nested backend key", yaml: "backend:\n  cors:\n    origins: http://x\n", unknown: []string{"backend.cors.origins"}},
		{name: "an organisation's own key", yaml: "backend:\n  lighthouseHostname: lighthouse\npermission:\n  rbac: {policyFileReload: true}\n",
			unknown: []string{"backend.lighthouseHostname", "permission.rbac"}},
		{name: "unknown key in a list item", yaml: "catalog:\n  locations:\n    - {type: url, target: 'http://x', presence: optional}\n",
			unknown: []string{"catalog.locations[0].presence"}},
		{name: "several refused, in file order", yaml: "backend:\n  rateLimit: {global: true}\n  https: true\nauth:\n  providers:\n    github: {development: {clientId: x}}\n",
			refused: []string{"backend.rateLimit", "backend.https", "auth.providers.github"}},
		{name: "other plugins' sections", yaml: "kubernetes:\n  clusterLocatorMethods: []\nsonarqube:\n  baseUrl: http://x\n",
			unlisted: []string{"kubernetes", "sonarqube"}},
		{name: "frontend sections", yaml: "app:\n  title: T\n  support: {url: http://x}\norganization:\n  name: O\n"},
		{name: "techdocs", yaml: "techdocs:\n  builder: local\n  generator: {runIn: docker}\n", accepted: []string{"techdocs"}},
		{name: "accepted keys are reported", yaml: "backend:\n  cache: {store: memory}\n  auth:\n    pluginKeyStore: {type: database}\n",
			accepted: []string{"backend.cache", "backend.auth.pluginKeyStore"}},
		{name: "a key on the way to listed keys", yaml: "backend:\n  database:\n    knexConfig:\n      pool: {min: 1, max: 4, acquireTimeoutMillis: 100}\n",
			accepted: []string{"backend.database.knexConfig.pool.min", "backend.database.knexConfig.pool.acquireTimeoutMillis"}},
		{name: "one provider or providers by id", yaml: "catalog:\n  providers:\n    github:\n      a: {organization: o, schedule: {frequency: PT1H, timeout: PT1M}}\n      b: {organization: p, catalogPath: x.yaml, schedule: {frequency: PT1H, timeout: PT1M}}\n"},
		{name: "unknown key of a provider", yaml: "catalog:\n  providers:\n    github:\n      a: {organization: o, pageSizes: {repositories: 10}}\n", unknown: []string{"catalog.providers.github.a.pageSizes"}},
		{name: "githubOrg as a list", yaml: "catalog:\n  providers:\n    githubOrg:\n      - {id: x, githubUrl: 'https://github.com', orgs: [a], schedule: {frequency: PT1H, timeout: PT1M}}\n"},
		{name: "the example config", yaml: exampleConfig(t)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := LoadBytes([]byte(tt.yaml), "app-config.yaml", nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := CheckKeys(cfg)
			keys := func(fs []Finding) string {
				var out []string
				for _, f := range fs {
					out = append(out, f.Key)
				}
				return strings.Join(out, ",")
			}
			for _, f := range res.Refused {
				if !strings.Contains(err.Error(), f.Key+": ") {
					t.Errorf("error does not name %s: %v", f.Key, err)
				}
			}
			if got := keys(res.Refused); got != strings.Join(tt.refused, ",") {
				t.Errorf("refused %v, want %v (err %v)", got, tt.refused, err)
			}
			if (err != nil) != (len(tt.refused) > 0) {
				t.Errorf("err %v", err)
			}
			if got := keys(res.Accepted); got != strings.Join(tt.accepted, ",") {
				t.Errorf("accepted %v, want %v", got, tt.accepted)
			}
			if got := keys(res.Unknown); got != strings.Join(tt.unknown, ",") {
				t.Errorf("unknown %v, want %v", got, tt.unknown)
			}
			if strings.Join(res.Unlisted, ",") != strings.Join(tt.unlisted, ",") {
				t.Errorf("unlisted %v, want %v", res.Unlisted, tt.unlisted)
			}
		})
	}
}

// exampleConfig is examples/app-config.yaml, which `make run` serves.
func exampleConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "examples", "app-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestKeysDoc keeps KEYS.md in step with the table. UNDERSTAGE_UPDATE_KEYS=1
// rewrites it.
func TestKeysDoc(t *testing.T) {
	want := KeysMarkdown(KeyTable(), KeySections())
	if os.Getenv("UNDERSTAGE_UPDATE_KEYS") == "1" {
		if err := os.WriteFile("KEYS.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile("KEYS.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatal("KEYS.md is out of date: UNDERSTAGE_UPDATE_KEYS=1 go test ./plugins/backend/config -run TestKeysDoc")
	}
}
