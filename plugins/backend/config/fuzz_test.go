package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadConfig feeds hostile app-config documents through the whole
// loading path (YAML, ${VAR} substitution, $env/$file/$include, the key
// table check, duration reading) and asserts it ends in a value or an
// error, never a panic or a runaway.
func FuzzLoadConfig(f *testing.F) {
	seeds := []string{
		"backend:\n  baseUrl: http://localhost:7007\n  listen: {port: 7007}\n",
		"app: {title: ${TITLE}}\nbackend: {baseUrl: $${literal}}\n",
		"backend: {baseUrl: ${MISSING:-http://fallback}}\n",
		"catalog:\n  processingInterval: {minutes: 3}\n  rules: [{allow: [Component]}]\n",
		"catalog: {processingInterval: PT100S}\n",
		"a: {$env: HOME}\nb: {$file: missing.txt}\nc: {$include: missing.yaml}\n",
		"a: {$include: ./x.yaml#a.b}\n",
		"x: &a [1, 2]\ny: [*a, *a, *a]\n",
		"a: &a [x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c]\n",
		"backend: {baseUrl: a, baseUrl: b}\n",
		"scaffolder: {concurrentTasksLimit: -1, taskLogMaxBytes: 1e400}\n",
		"backend:\n  database:\n    client: pg\n    connection: {host: x, ssl: {rejectUnauthorized: false}}\n",
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		"\ufeff---\nbackend: {}\n...\n---\nsecond: doc\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	env := func(name string) (string, bool) {
		if name == "TITLE" {
			return "${NESTED}", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		cfg, err := LoadBytes(data, filepath.Join(dir, "app-config.yaml"), env)
		if err != nil {
			return
		}
		_, _ = CheckKeys(cfg)
		for _, k := range []string{"backend.baseUrl", "catalog.processingInterval", "scaffolder.concurrentTasksLimit"} {
			_, _, _ = cfg.ReadString(k)
			_, _, _ = cfg.Duration(k)
		}
		for _, k := range cfg.Keys() {
			_ = cfg.Sub(k).Keys()
		}
	})
}
