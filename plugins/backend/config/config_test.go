package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
)

// writeFiles lays out files under a temp dir and returns the dir.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func envOf(m map[string]string) EnvFunc {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := ojson.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   map[string]string
		load    []string
		env     map[string]string
		want    string // JSON of the whole merged config
		wantErr string
	}{
		{
			name: "deep merge, later wins, arrays replaced",
			files: map[string]string{
				"a.yaml": "backend:\n  baseUrl: http://a\n  listen: {port: 1}\n  list: [1, 2, 3]\nonlyA: x\n",
				"b.yaml": "backend:\n  listen: {host: h}\n  list: [9]\n  baseUrl: http://b\n",
			},
			load: []string{"a.yaml", "b.yaml"},
			want: `{"backend":{"listen":{"host":"h","port":1},"list":[9],"baseUrl":"http://b"},"onlyA":"x"}`,
		},
		{
			name: "null in a later file hides the earlier value",
			files: map[string]string{
				"a.yaml": "a: {b: 1, c: 2}\nd: 3\n",
				"b.yaml": "a: {b: null}\nd: null\n",
			},
			load: []string{"a.yaml", "b.yaml"},
			want: `{"a":{"c":2}}`,
		},
		{
			name:  "substitution, fallback, escape, trimming",
			files: map[string]string{"a.yaml": "u: http://${HOST}:${ PORT }/x\nf: ${NOPE:-dflt}\ne: $${HOST} and $${X}\ng: ${EMPTY:-fb}\nh: ${EMPTY}\n"},
			load:  []string{"a.yaml"},
			env:   map[string]string{"HOST": " example.com ", "PORT": "7007", "EMPTY": ""},
			want:  `{"u":"http://example.com:7007/x","f":"dflt","e":"${HOST} and ${X}","g":"fb","h":""}`,
		},
		{
			name:  "missing variable removes the key and the array element",
			files: map[string]string{"a.yaml": "a: ${MISSING}\nb: pre-${MISSING}\nc: [x, '${MISSING}', y]\nd: ${MISSING:-}\nkeep: 1\n"},
			load:  []string{"a.yaml"},
			want:  `{"c":["x","y"],"keep":1}`,
		},
		{
			name: "missing variable in a later file does not hide the earlier value",
			files: map[string]string{
				"a.yaml": "a: one\n",
				"b.yaml": "a: ${MISSING}\n",
			},
			load: []string{"a.yaml", "b.yaml"},
			want: `{"a":"one"}`,
		},
		{
			name: "$env and $file relative to the file's folder",
			files: map[string]string{
				"conf/app.yaml":      "token: {$env: TOKEN}\ngone: {$env: NOPE}\nsecret: {$file: secrets/s.txt}\n",
				"conf/secrets/s.txt": "hunter2\n\n",
			},
			load: []string{"conf/app.yaml"},
			env:  map[string]string{"TOKEN": "abc"},
			want: `{"token":"abc","secret":"hunter2"}`,
		},
		{
			name: "$include yaml and json with pointer, nested relative paths",
			files: map[string]string{
				"app.yaml":         "a: {$include: inc/part.yaml}\nb: {$include: 'inc/data.json#x.y'}\nc: {$include: 'inc/part.yaml#s'}\n",
				"inc/part.yaml":    "k: v\ns: ${HOST}\ndeep: {$include: sub/more.yml}\n",
				"inc/sub/more.yml": "m: 1\n",
				"inc/data.json":    `{"x":{"y":{"z":[1,2]}}}`,
			},
			load: []string{"app.yaml"},
			env:  map[string]string{"HOST": "h"},
			want: `{"a":{"k":"v","s":"h","deep":{"m":1}},"b":{"z":[1,2]},"c":"h"}`,
		},
		{
			name:    "include key with siblings",
			files:   map[string]string{"a.yaml": "a: {$env: X, b: 1}\n"},
			load:    []string{"a.yaml"},
			wantErr: "error at .a, include key $env should not have adjacent keys",
		},
		{
			name:    "include value not a string",
			files:   map[string]string{"a.yaml": "a:\n  b: {$file: [1]}\n"},
			load:    []string{"a.yaml"},
			wantErr: "error at .a.b, $file include value is not a string",
		},
		{
			name:    "include of unknown type",
			files:   map[string]string{"a.yaml": "a: {$include: x.txt}\n"},
			load:    []string{"a.yaml"},
			wantErr: "no configuration parser available for included file x.txt",
		},
		{
			name:    "include path substitution undefined",
			files:   map[string]string{"a.yaml": "a: {$file: '${NOPE}'}\n"},
			load:    []string{"a.yaml"},
			wantErr: "$file substitution value was undefined",
		},
		{
			name:    "root must be an object",
			files:   map[string]string{"a.yaml": "- 1\n"},
			load:    []string{"a.yaml"},
			wantErr: "expected object at config root",
		},
		{
			name:    "missing file",
			files:   map[string]string{},
			load:    []string{"nope.yaml"},
			wantErr: "nope.yaml",
		},
		// Backstage's config loader parses with the same YAML package as
		// its catalog (YAML.parse): these are its errors.
		{
			name:    "alias bomb",
			files:   map[string]string{"a.yaml": "l0: &l0 lol\n" + laughs(9)},
			load:    []string{"a.yaml"},
			wantErr: "ReferenceError: Excessive alias count indicates a resource exhaustion attack",
		},
		{
			name:    "alias bomb in an included file",
			files:   map[string]string{"a.yaml": "app:\n  x: {$include: ./b.yaml}\n", "b.yaml": "l0: &l0 lol\n" + laughs(9)},
			load:    []string{"a.yaml"},
			wantErr: "error at .app.x, failed to parse included file ./b.yaml, ReferenceError: Excessive alias count indicates a resource exhaustion attack",
		},
		{
			name:    "duplicate keys",
			files:   map[string]string{"a.yaml": "app:\n  title: a\n  title: b\n"},
			load:    []string{"a.yaml"},
			wantErr: "YAMLParseError: Map keys must be unique at line 3, column 3:\n\n  title: a\n  title: b\n  ^\n",
		},
		{
			name:    "several documents",
			files:   map[string]string{"a.yaml": "a: 1\n---\nb: 2\n"},
			load:    []string{"a.yaml"},
			wantErr: "YAMLParseError: Source contains multiple documents; please use YAML.parseAllDocuments() at line 2, column 1:",
		},
		{
			name:  "aliases and a block scalar ending the file",
			files: map[string]string{"a.yaml": "base: &b {port: 1}\nbackend: {listen: *b}\ntext: |\n  x"},
			load:  []string{"a.yaml"},
			want:  `{"base":{"port":1},"backend":{"listen":{"port":1}},"text":"x\n"}`,
		},
		{
			name:  "empty file is skipped",
			files: map[string]string{"a.yaml": "a: 1\n", "b.yaml": "# nothing\n"},
			load:  []string{"a.yaml", "b.yaml"},
			want:  `{"a":1}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, tc.files)
			var paths []string
			for _, p := range tc.load {
				paths = append(paths, filepath.Join(dir, p))
			}
			cfg, err := Load(context.Background(), paths, envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(t, cfg.Get("")); got != tc.want {
				t.Errorf("config = %s\nwant     %s", got, tc.want)
			}
		})
	}
}

func TestOrigins(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"app.yaml":        "catalog:\n  locations:\n    - {type: file, target: ./a.yaml}\nbackend: {x: 1}\nint: {$include: inc/i.yaml}\n",
		"local/over.yaml": "backend: {y: 2}\n",
		"inc/i.yaml":      "k: v\n",
	})
	cfg, err := Load(context.Background(), []string{filepath.Join(dir, "app.yaml"), filepath.Join(dir, "local/over.yaml")}, envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	locs := cfg.List("catalog.locations")
	if len(locs) != 1 {
		t.Fatalf("locations = %d", len(locs))
	}
	tests := []struct {
		name, got, want string
	}{
		{"list element base dir", locs[0].BaseDir(), dir},
		{"list element key", locs[0].Key(), "catalog.locations[0]"},
		{"merged object comes from the later file", cfg.Sub("backend").File(), filepath.Join(dir, "local/over.yaml")},
		{"value kept from the earlier file", cfg.FileOf("backend.x"), filepath.Join(dir, "app.yaml")},
		{"included object", cfg.Sub("int").BaseDir(), filepath.Join(dir, "inc")},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestGetters(t *testing.T) {
	t.Parallel()
	cfg, err := LoadBytes([]byte(`
s: hello
empty: ""
num: 7007
numstr: " 42 "
float: 1.5
yes: "yes"
off: "OFF"
one: 1
bad: maybe
list: [a, b]
mixed: [a, 1]
objs: [{a: 1}, {a: 2}]
obj: {b: {c: true}, d: null}
`), "/etc/app/app-config.yaml", envOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("strings", func(t *testing.T) {
		tests := []struct {
			key     string
			want    string
			ok      bool
			wantErr string
		}{
			{"s", "hello", true, ""},
			{"missing", "", false, ""},
			{"obj.b.nope", "", false, ""},
			{"empty", "", false, "invalid type in config for key 'empty' in 'app-config.yaml', got empty-string, wanted string"},
			{"num", "", false, "got number, wanted string"},
			{"s.x", "", false, "invalid type in config for key 's' in 'app-config.yaml', got string, wanted object"},
			{"bad..key", "", false, "invalid config key"},
		}
		for _, tc := range tests {
			got, ok, err := cfg.ReadString(tc.key)
			if got != tc.want || ok != tc.ok || (err == nil) != (tc.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("ReadString(%q) = %q, %v, %v; want %q, %v, %q", tc.key, got, ok, err, tc.want, tc.ok, tc.wantErr)
			}
			if s, ok := cfg.String(tc.key); s != tc.want || ok != tc.ok {
				t.Errorf("String(%q) = %q, %v", tc.key, s, ok)
			}
		}
		if got := cfg.OptionalString("missing"); got != "" {
			t.Errorf("OptionalString(missing) = %q", got)
		}
	})
	t.Run("numbers and booleans", func(t *testing.T) {
		tests := []struct {
			key  string
			get  func(string) (any, bool, error)
			want any
			ok   bool
			err  bool
		}{
			{"num", wrapInt(cfg.ReadInt), 7007, true, false},
			{"numstr", wrapInt(cfg.ReadInt), 42, true, false},
			{"float", wrapInt(cfg.ReadInt), 0, false, true},
			{"float", wrapFloat(cfg.ReadFloat), 1.5, true, false},
			{"s", wrapFloat(cfg.ReadFloat), 0.0, false, true},
			{"list", wrapFloat(cfg.ReadFloat), 0.0, false, true},
			{"missing", wrapInt(cfg.ReadInt), 0, false, false},
			{"yes", wrapBool(cfg.ReadBool), true, true, false},
			{"off", wrapBool(cfg.ReadBool), false, true, false},
			{"one", wrapBool(cfg.ReadBool), true, true, false},
			{"obj.b.c", wrapBool(cfg.ReadBool), true, true, false},
			{"bad", wrapBool(cfg.ReadBool), false, false, true},
			{"num", wrapBool(cfg.ReadBool), false, false, true},
		}
		for _, tc := range tests {
			got, ok, err := tc.get(tc.key)
			if got != tc.want || ok != tc.ok || (err != nil) != tc.err {
				t.Errorf("%s: got %v, %v, %v; want %v, %v, err=%v", tc.key, got, ok, err, tc.want, tc.ok, tc.err)
			}
		}
		if n, ok := cfg.Int("num"); n != 7007 || !ok {
			t.Errorf("Int(num) = %d, %v", n, ok)
		}
		if b, ok := cfg.Bool("yes"); !b || !ok {
			t.Errorf("Bool(yes) = %v, %v", b, ok)
		}
	})
	t.Run("structure", func(t *testing.T) {
		if got := cfg.Keys(); !reflect.DeepEqual(got, []string{"s", "empty", "num", "numstr", "float", "yes", "off", "one", "bad", "list", "mixed", "objs", "obj"}) {
			t.Errorf("Keys = %v", got)
		}
		if got := cfg.Sub("obj").Keys(); !reflect.DeepEqual(got, []string{"b"}) {
			t.Errorf("Sub(obj).Keys = %v (null members are absent)", got)
		}
		if cfg.Has("obj.d") || !cfg.Has("obj.b.c") || cfg.Has("nope") {
			t.Error("Has is wrong")
		}
		if v, ok := cfg.Sub("obj").Sub("b").Bool("c"); !v || !ok {
			t.Error("chained Sub failed")
		}
		if cfg.Sub("missing").Sub("x").Has("y") {
			t.Error("empty sub has values")
		}
		if got := cfg.Sub("missing").Key(); got != "missing" {
			t.Errorf("empty sub key = %q", got)
		}
		if _, _, err := cfg.ReadSub("s"); err == nil {
			t.Error("ReadSub of a string must fail")
		}
		if l, ok := cfg.StringList("list"); !ok || !reflect.DeepEqual(l, []string{"a", "b"}) {
			t.Errorf("StringList = %v %v", l, ok)
		}
		if _, _, err := cfg.ReadStringList("mixed"); err == nil || !strings.Contains(err.Error(), "'mixed[1]'") {
			t.Errorf("ReadStringList(mixed) err = %v", err)
		}
		objs := cfg.List("objs")
		if len(objs) != 2 {
			t.Fatalf("List = %d", len(objs))
		}
		if n, _ := objs[1].Int("a"); n != 2 {
			t.Errorf("objs[1].a = %d", n)
		}
		if _, _, err := cfg.ReadList("list"); err == nil {
			t.Error("ReadList of strings must fail")
		}
		if got := mustJSON(t, cfg.Get("obj")); got != `{"b":{"c":true}}` {
			t.Errorf("Get(obj) = %s", got)
		}
		if got := cfg.BaseDir(); got != "/etc/app" {
			t.Errorf("BaseDir = %q", got)
		}
		var nilCfg *Config
		if nilCfg.Has("a") || nilCfg.Sub("a").Has("b") || nilCfg.Keys() != nil {
			t.Error("nil config must be empty")
		}
	})
}

func wrapInt(f func(string) (int, bool, error)) func(string) (any, bool, error) {
	return func(k string) (any, bool, error) { v, ok, err := f(k); return v, ok, err }
}
func wrapFloat(f func(string) (float64, bool, error)) func(string) (any, bool, error) {
	return func(k string) (any, bool, error) { v, ok, err := f(k); return v, ok, err }
}
func wrapBool(f func(string) (bool, bool, error)) func(string) (any, bool, error) {
	return func(k string) (any, bool, error) { v, ok, err := f(k); return v, ok, err }
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		value   any
		want    time.Duration
		wantErr string
	}{
		{"iso minutes", "PT5M", 5 * time.Minute, ""},
		{"iso day", "P1D", 24 * time.Hour, ""},
		{"iso mixed", "PT1H30M", 90 * time.Minute, ""},
		{"iso seconds with fraction", "PT2.5S", 2500 * time.Millisecond, ""},
		{"iso weeks and months", "P1M1W", 37 * 24 * time.Hour, ""},
		{"iso year is 365 days", "P1Y", 365 * 24 * time.Hour, ""},
		{"iso zero", "PT0S", 0, ""},
		{"iso negative sign is not ISO to Backstage", "-PT1M", 0, "not a valid duration string"},
		{"iso negative field", "PT-1M", -time.Minute, ""},
		{"iso garbage", "P1X", 0, "invalid ISO format"},
		{"iso empty", "P", 0, "no values given"},
		{"human short", "5m", 5 * time.Minute, ""},
		{"human long", "2 hours", 2 * time.Hour, ""},
		{"human fraction", "1.5h", 90 * time.Minute, ""},
		{"human ms", "250ms", 250 * time.Millisecond, ""},
		{"human seconds", " 30s ", 30 * time.Second, ""},
		{"human days", "3d", 72 * time.Hour, ""},
		// The ms package counts 365.25 days a year, but the result becomes
		// {years: 1}, which Backstage sums as 365 days.
		{"human year", "1y", 365 * 24 * time.Hour, ""},
		{"human 400 days loses a quarter day", "400d", (365+34)*24*time.Hour + 18*time.Hour, ""},
		{"human plain number", "100", 0, "cannot be a plain number"},
		{"human bad unit", "5 parsecs", 0, "not a valid duration string"},
		{"human negative", "-5m", 0, "negative durations are not allowed"},
		{"object", map[string]any{"minutes": 1, "seconds": 30}, 90 * time.Second, ""},
		{"object with numeric string", map[string]any{"hours": "2"}, 2 * time.Hour, ""},
		{"object all fields", map[string]any{"years": 1, "months": 1, "weeks": 1, "days": 1, "hours": 1, "minutes": 1, "seconds": 1, "milliseconds": 1},
			(365+30+7+1)*24*time.Hour + time.Hour + time.Minute + time.Second + time.Millisecond, ""},
		{"object unknown field", map[string]any{"minutes": 1, "fortnights": 2}, 0, "unknown property 'fortnights'"},
		{"object empty", map[string]any{}, 0, "needs one or more of"},
		{"number", 5, 0, "wanted object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := FromValue(map[string]any{"d": tc.value}, "")
			got, ok, err := cfg.Duration("d")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !ok {
				t.Fatalf("Duration = %v, %v, %v", got, ok, err)
			}
			if got != tc.want {
				t.Errorf("Duration = %v, want %v", got, tc.want)
			}
		})
	}
	if _, ok, err := FromValue(map[string]any{}, "").Duration("x"); ok || err != nil {
		t.Errorf("absent duration: ok=%v err=%v", ok, err)
	}
}

// laughs is an alias bomb after an anchor l0: levels of ten aliases.
func laughs(levels int) string {
	var b strings.Builder
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s*l%d]\n", i, i, strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), i-1)
	}
	return b.String()
}
