package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAttackSuite runs the real binary as two replicas on one database and
// attacks them the way a hostile repository author or a signed-in user
// would: YAML alias bombs and duplicate keys in catalog files, placeholders
// that reach for files outside their location, filters built to blow up the
// SQL, forged and tampered tokens, another user's tasks, oversized bodies and
// scaffolder steps that write outside their workspace. After every attack
// the service must still be up with bounded memory, the good part of the
// catalog intact, every refusal a Backstage error envelope with nothing
// internal in it, and nothing read or written where it does not belong.
func TestAttackSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("process-level test")
	}
	bin := buildUnderstage(t)
	for _, store := range []string{"sqlite", "pg"} {
		t.Run(store, func(t *testing.T) {
			dir := t.TempDir()
			var db string
			if store == "sqlite" {
				db = fmt.Sprintf("{client: better-sqlite3, connection: %q}", filepath.Join(dir, "catalog.sqlite"))
			} else {
				// Every plugin in the test's database (Backstage, and so
				// understage, would otherwise give each its own).
				db = sharedPG(t)
			}
			attack(t, bin, dir, db)
		})
	}
}

// goodComponents is how many well-formed entities sit next to the hostile
// files; they must all be served, unchanged, whatever the attacks do.
const goodComponents = 20

// aliasBomb is a few hundred bytes that expand to 9^9 strings when aliases
// are followed without a limit.
const aliasBomb = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: alias-bomb
  annotations:
    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
    b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
    c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
    d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
    e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
    f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
    g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
    h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
    i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
spec: {type: service, lifecycle: production, owner: team-a}
`

const attackPolicy = `package understage.authz

task_ops := {"scaffolder.task.read", "scaffolder.task.cancel"}

decision := {"result": "DENY"} if {
	input.permission.name in task_ops
	input.user == null
} else := {
	"result": "CONDITIONAL",
	"conditions": {
		"rule": "IS_TASK_OWNER",
		"resourceType": "scaffolder-task",
		"params": {"createdBy": [input.user.ref]},
	},
} if {
	input.permission.name in task_ops
} else := {"result": "ALLOW"}
`

// leak matches what must never reach a client: SQL and driver text, Go
// stacks and file positions, and (added per run) the host's paths.
var leak = regexp.MustCompile(`(?i)sqlite|sqlstate|\bselect\b.*\bfrom\b|\bwhere\b.*=|pgx|pq: |goroutine \d|\.go:\d+|panic|root:x:0:0`)

func attack(t *testing.T, bin, dir, db string) {
	cat := filepath.Join(dir, "catalog")
	work := filepath.Join(dir, "work", "a", "b")
	for _, d := range []string{cat, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	canary := "CANARY-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	var good strings.Builder
	for i := 0; i < goodComponents; i++ {
		fmt.Fprintf(&good, "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: good-%02d\n  tags: [good]\nspec: {type: service, lifecycle: production, owner: team-a}\n", i)
	}
	good.WriteString(`---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: fails}
spec:
  owner: team-a
  type: service
  steps:
    - id: fetch
      name: Fetch a missing entity
      action: catalog:fetch
      input: {entityRef: component:default/does-not-exist}
---
apiVersion: scaffolder.backstage.io/v1beta3
kind: Template
metadata: {name: slow}
spec:
  owner: team-a
  type: service
  steps:
    - id: wait
      name: Wait
      action: debug:wait
      input: {seconds: 60}
`)
	files := map[string]string{
		filepath.Join(cat, "good.yaml"):  good.String(),
		filepath.Join(cat, "bomb.yaml"):  aliasBomb,
		filepath.Join(dir, "bomb2.yaml"): strings.Replace(aliasBomb, "alias-bomb", "alias-bomb-2", 1),
		filepath.Join(cat, "dup.yaml"): "apiVersion: backstage.io/v1alpha1\nkind: Component\n" +
			"metadata: {name: dup-first, name: dup-second}\nspec: {type: service, lifecycle: production, owner: team-a}\n",
		filepath.Join(cat, "escape.yaml"): escapeEntities,
		filepath.Join(dir, "secret.txt"):  canary + "\n",
		filepath.Join(cat, "inside.txt"):  "inside-ok\n",
		filepath.Join(dir, "secret.yaml"): "value: " + canary + "\n",
		filepath.Join(dir, "policy.rego"): attackPolicy,
	}
	for name, text := range files {
		writeFile(t, name, text)
	}
	// A link inside the location's folder that points out of it.
	if err := os.Symlink(filepath.Join(dir, "secret.txt"), filepath.Join(cat, "link.txt")); err != nil {
		t.Fatal(err)
	}
	hostPath := regexp.MustCompile(regexp.QuoteMeta(dir))
	clean := func(t *testing.T, what string, body []byte) {
		t.Helper()
		if m := leak.Find(body); m != nil {
			t.Errorf("%s: response leaks %q: %.300s", what, m, body)
		}
		if hostPath.Match(body) {
			t.Errorf("%s: response names a host path: %.300s", what, body)
		}
		if bytes.Contains(body, []byte(canary)) {
			t.Errorf("%s: response carries the content of a file outside the catalog", what)
		}
	}

	config := func(name, user string, port int, lenient bool) string {
		conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:%[1]d
  listen: {host: 127.0.0.1, port: %[1]d}
  auth: {dangerouslyDisableDefaultAuthPolicy: %[2]v}
  database: %[3]s
  workingDirectory: %[4]q
auth:
  environment: development
  providers:
    guest: {userEntityRef: %[5]s}
permission:
  enabled: true
  opa:
    policies: [%[6]q]
catalog:
  processingInterval: PT10M
  allowedLocationTypes: [file, url]
  rules:
    - allow: [Component, Template, Location]
  locations:
    - {type: file, target: %[7]q}
    - {type: file, target: %[8]q}
    - {type: file, target: %[9]q}
    - {type: file, target: %[10]q}
scaffolder:
  concurrentTasksLimit: 2
`, port, lenient, db, work, user, filepath.Join(dir, "policy.rego"),
			filepath.Join(cat, "good.yaml"), filepath.Join(cat, "bomb.yaml"),
			filepath.Join(cat, "dup.yaml"), filepath.Join(cat, "escape.yaml"))
		path := filepath.Join(dir, name+".yaml")
		writeFile(t, path, conf)
		return path
	}
	start := func(name, user string, lenient bool) *replica {
		port := freePort(t)
		cfg := config(name, user, port, lenient)
		logFile, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		r := &replica{name: name, base: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: startServe(t, bin, cfg, "error", logFile)}
		t.Cleanup(func() {
			r.stop()
			logFile.Close()
			if t.Failed() {
				if b, err := os.ReadFile(logFile.Name()); err == nil {
					t.Logf("%s log (last 4 KiB):\n%s", name, b[max(0, len(b)-4096):])
				}
			}
		})
		r.await(t, "readiness", 60*time.Second)
		r.token = r.signIn(t)
		return r
	}
	// alice is on a replica with the default auth policy, mallory on one
	// that lets unauthenticated requests through; both share the database,
	// so their tokens are good on either.
	alice := start("alice", "user:default/alice", false)
	mallory := start("mallory", "user:default/mallory", true)

	goodCount := func(r *replica) int { return r.totalItems("metadata.tags=good") }
	if !eventually(60*time.Second, func() bool { return goodCount(alice) == goodComponents }) {
		t.Fatalf("the good entities were not ingested next to the hostile files: %d", goodCount(alice))
	}
	etag := func(r *replica) string {
		var e struct{ Metadata struct{ Etag string } }
		r.getJSON(t, "/api/catalog/entities/by-name/component/default/good-07", &e)
		return e.Metadata.Etag
	}
	goodEtag := etag(alice)

	t.Run("alias bomb in a config location", func(t *testing.T) {
		// As in Backstage, a Location whose first read fails is not served;
		// its reason is in the unprocessed-entities API.
		var msgs []string
		if !eventually(30*time.Second, func() bool { msgs = failedReasons(t, alice, "bomb.yaml"); return len(msgs) > 0 }) {
			t.Fatal("the bomb's Location is not among the failed entities")
		}
		if !strings.Contains(strings.ToLower(strings.Join(msgs, " ")), "alias") {
			t.Errorf("the bomb's error does not name the aliases: %q", msgs)
		}
		if s := alice.status("GET", "/api/catalog/entities/by-name/component/default/alias-bomb"); s != 404 {
			t.Errorf("the bomb's entity was stored: %d", s)
		}
	})

	t.Run("alias bomb registered through the API", func(t *testing.T) {
		status, body := alice.do(t, "POST", "/api/catalog/locations",
			fmt.Sprintf(`{"type":"file","target":%q}`, filepath.Join(dir, "bomb2.yaml")))
		if status != 201 && status/100 != 4 {
			t.Fatalf("POST /locations of a bomb: %d %s", status, body)
		}
		if status/100 == 4 {
			envelope(t, status, body)
		}
		if s := alice.status("GET", "/api/catalog/entities/by-name/component/default/alias-bomb-2"); s != 404 {
			t.Errorf("the bomb's entity was stored: %d", s)
		}
	})

	t.Run("alias bomb through understage validate", func(t *testing.T) {
		cmd := exec.Command(bin, "validate", filepath.Join(cat, "bomb.yaml"))
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("validate of a bomb: %v\n%s", err, out)
		}
		if !strings.Contains(strings.ToLower(string(out)), "alias") {
			t.Errorf("validate does not explain the bomb:\n%s", out)
		}
		if rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; rss > 256<<10 {
			t.Errorf("validate of a 700-byte file peaked at %d KiB", rss)
		}
	})

	t.Run("duplicate mapping keys", func(t *testing.T) {
		for _, name := range []string{"dup-first", "dup-second"} {
			if s := alice.status("GET", "/api/catalog/entities/by-name/component/default/"+name); s != 404 {
				t.Errorf("an entity with duplicate keys was stored as %s: %d", name, s)
			}
		}
		var msgs []string
		if !eventually(30*time.Second, func() bool { msgs = failedReasons(t, alice, "dup.yaml"); return len(msgs) > 0 }) ||
			!strings.Contains(strings.Join(msgs, " "), "Map keys must be unique") {
			t.Errorf("duplicate keys not reported for their location: %q", msgs)
		}
	})

	t.Run("placeholders reaching outside their location", func(t *testing.T) {
		// Nothing any entity serves may carry the outside file's text or
		// the host's password file, whatever happened to the entities.
		status, body := alice.do(t, "GET", "/api/catalog/entities", "")
		if status != 200 {
			t.Fatalf("GET /entities: %d", status)
		}
		if bytes.Contains(body, []byte(canary)) || bytes.Contains(body, []byte("root:x:0:0")) {
			t.Fatalf("a placeholder read a file outside its location")
		}
		if hn, err := os.ReadFile("/etc/hostname"); err == nil && len(bytes.TrimSpace(hn)) > 3 &&
			bytes.Contains(body, append([]byte(`"`), append(bytes.TrimSpace(hn), '"')...)) {
			t.Fatalf("a placeholder read /etc/hostname")
		}
		// A placeholder inside the location's folder still works.
		var e struct{ Metadata struct{ Description string } }
		if s := alice.getJSON(t, "/api/catalog/entities/by-name/component/default/placeholder-inside", &e); s != 200 || e.Metadata.Description != "inside-ok\n" {
			t.Errorf("placeholder inside the location: %d %q", s, e.Metadata.Description)
		}
		for _, name := range []string{"up", "absolute", "symlink", "yaml-up"} {
			if s := alice.status("GET", "/api/catalog/entities/by-name/component/default/escape-"+name); s != 404 {
				t.Errorf("escape-%s was stored: %d", name, s)
			}
		}
	})

	t.Run("filters built to blow up the SQL", func(t *testing.T) {
		// 1,001 short conditions stay under the 16 KiB request head Node
		// (and understage) accept, so the catalog's own limit answers.
		conds := make([]string, 1001)
		for i := range conds {
			conds[i] = fmt.Sprintf("k%d", i)
		}
		q := url.Values{"filter": {strings.Join(conds, ",")}}
		anyOf := make([]string, 2500)
		for i := range anyOf {
			anyOf[i] = fmt.Sprintf(`{"k%d":"v"}`, i)
		}
		nested := strings.Repeat(`{"$not":`, 2000) + `{"kind":"component"}` + strings.Repeat("}", 2000)
		cases := []struct{ method, path, body string }{
			{"GET", "/api/catalog/entities/by-query?" + q.Encode(), ""},
			{"GET", "/api/catalog/entities?" + q.Encode(), ""},
			{"GET", "/api/catalog/entity-facets?facet=kind&" + q.Encode(), ""},
			{"POST", "/api/catalog/entities/by-query", `{"query":{"$any":[` + strings.Join(anyOf, ",") + `]}}`},
			{"POST", "/api/catalog/entities/by-query", `{"query":` + nested + `}`},
			{"POST", "/api/catalog/entity-facets", `{"facets":["kind"],"query":` + nested + `}`},
		}
		for _, c := range cases {
			status, body := alice.do(t, c.method, c.path, c.body)
			if status != 400 {
				t.Errorf("%s %.60s: %d, want 400", c.method, c.path, status)
			}
			envelope(t, status, body)
			clean(t, c.method+" "+c.path[:min(len(c.path), 40)], body)
		}
		// 1,001 filter parameters: as Backstage's query parser, the first
		// 1,000 are read (the rest dropped), within the catalog's limits.
		many := url.Values{}
		for _, c := range conds {
			many.Add("filter", c)
		}
		status, body := alice.do(t, "GET", "/api/catalog/entities/by-query?"+many.Encode(), "")
		if status != 200 || !strings.Contains(string(body), `"totalItems":0`) {
			t.Errorf("1,001 filter parameters: %d %.200s, want an empty page", status, body)
		}
	})

	t.Run("forged and tampered tokens", func(t *testing.T) {
		parts := strings.Split(alice.token, ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		tampered := strings.Replace(string(claims), "user:default/alice", "user:default/admin", 1)
		none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"vnd.backstage.user"}`))
		tokens := map[string]string{
			"garbage":  "not-a-token",
			"alg none": none + "." + parts[1] + ".",
			"tampered": parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2],
			"bad sig":  parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)),
		}
		routes := []struct{ method, path, body string }{
			{"GET", "/api/catalog/entities?limit=1", ""},
			{"GET", "/api/scaffolder/v2/tasks", ""},
			{"POST", "/api/permission/authorize", `{"items":[{"id":"1","permission":{"type":"basic","name":"catalog.entity.create","attributes":{}}}]}`},
			{"GET", "/api/auth/v1/userinfo", ""},
		}
		for _, r := range []*replica{alice, mallory} {
			for name, tok := range tokens {
				for _, route := range routes {
					status, body := r.doAs(t, tok, route.method, route.path, route.body)
					if status != 401 {
						t.Errorf("%s: %s token on %s %s: %d, want 401", r.name, name, route.method, route.path, status)
						continue
					}
					if e := envelope(t, status, body); e.Error.Name != "AuthenticationError" {
						t.Errorf("%s: %s token on %s: %s", r.name, name, route.path, e.Error.Name)
					}
				}
			}
		}
	})

	t.Run("another user's tasks", func(t *testing.T) {
		var created struct{ ID string }
		if s := alice.postJSON(t, "/api/scaffolder/v2/tasks", `{"templateRef":"template:default/fails","values":{}}`, &created); s != 201 {
			t.Fatalf("alice's task: %d", s)
		}
		if status := alice.awaitTaskEnd(t, created.ID, 30*time.Second); status != "failed" {
			t.Fatalf("alice's task never failed: %s", status)
		}
		var task struct{ Status string }
		events := func() int {
			var evs []any
			alice.getJSON(t, "/api/scaffolder/v2/tasks/"+created.ID+"/events", &evs)
			return len(evs)
		}
		before := events()
		for _, op := range []struct{ method, path, body string }{
			{"GET", "/v2/tasks/" + created.ID, ""},
			{"GET", "/v2/tasks/" + created.ID + "/events", ""},
			{"POST", "/v2/tasks/" + created.ID + "/cancel", ""},
			{"POST", "/v2/tasks/" + created.ID + "/retry", "{}"},
		} {
			// On both replicas: the policy, not the replica, decides.
			for _, r := range []*replica{alice, mallory} {
				status, body := r.doAs(t, mallory.token, op.method, "/api/scaffolder"+op.path, op.body)
				if status != 403 {
					t.Errorf("mallory %s %s on %s: %d, want 403", op.method, op.path, r.name, status)
				}
				envelope(t, status, body)
			}
		}
		time.Sleep(time.Second) // a wrongly accepted retry would have started by now
		alice.getJSON(t, "/api/scaffolder/v2/tasks/"+created.ID, &task)
		if after := events(); after != before || task.Status != "failed" {
			t.Errorf("mallory's retry ran alice's task again: events %d → %d, status %s", before, after, task.Status)
		}
		// The owner may retry it: the refusal was about who asked.
		if s, body := alice.do(t, "POST", "/api/scaffolder/v2/tasks/"+created.ID+"/retry", "{}"); s != 201 {
			t.Errorf("alice's own retry: %d %s", s, body)
		}
	})

	t.Run("oversized and deeply nested bodies", func(t *testing.T) {
		refs := make([]string, 200000)
		for i := range refs {
			refs[i] = fmt.Sprintf("component:default/n%d", i)
		}
		big, _ := json.Marshal(map[string]any{"entityRefs": refs})
		deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
		for _, c := range []struct{ path, body string }{
			{"/api/catalog/entities/by-refs", string(big)},
			{"/api/catalog/validate-entity", `{"location":"url:x","entity":` + deep + `}`},
			{"/api/scaffolder/v2/dry-run", `{"template":` + deep + `}`},
			{"/api/catalog/locations", `{"type":"file","target":"` + strings.Repeat("a", 300000) + `"}`},
		} {
			status, body := alice.do(t, "POST", c.path, c.body)
			if status/100 != 4 {
				t.Errorf("POST %s with %d bytes: %d", c.path, len(c.body), status)
			}
			envelope(t, status, body)
			clean(t, c.path, body)
		}
	})

	t.Run("scaffolder steps writing outside the workspace", func(t *testing.T) {
		content := base64.StdEncoding.EncodeToString([]byte("x"))
		steps := []string{
			`{"id":"s","action":"fetch:plain","input":{"url":"./skeleton","targetPath":"../../escape-plain"}}`,
			`{"id":"s","action":"fetch:template","input":{"url":"./skeleton","targetPath":"../../escape-template"}}`,
			`{"id":"s","action":"fs:rename","input":{"files":[{"from":"a.txt","to":"../../escape-rename"}]}}`,
			`{"id":"s","action":"fs:rename","input":{"files":[{"from":"a.txt","to":"` + filepath.Join(dir, "escape-absolute") + `"}]}}`,
			`{"id":"s","action":"fs:delete","input":{"files":["../../../secret.txt"]}}`,
		}
		for _, step := range steps {
			body := `{"template":{"apiVersion":"scaffolder.backstage.io/v1beta3","kind":"Template","metadata":{"name":"escape"},` +
				`"spec":{"owner":"team-a","type":"service","steps":[` + step + `]}},"values":{},` +
				`"directoryContents":[{"path":"a.txt","base64Content":"` + content + `"},{"path":"skeleton/f.txt","base64Content":"` + content + `"}]}`
			status, resp := alice.do(t, "POST", "/api/scaffolder/v2/dry-run", body)
			if status != 403 {
				t.Errorf("dry-run %s: %d %.200s, want 403", step, status, resp)
			}
			if e := envelope(t, status, resp); status == 403 && e.Error.Name != "NotAllowedError" {
				t.Errorf("dry-run %s: %s", step, e.Error.Name)
			}
			clean(t, "dry-run", resp)
		}
		if err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
			if err == nil && strings.HasPrefix(info.Name(), "escape-") {
				t.Errorf("a step wrote %s outside its workspace", p)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "secret.txt")); err != nil {
			t.Errorf("a step deleted a file outside its workspace: %v", err)
		}
	})

	t.Run("still up, bounded and intact", func(t *testing.T) {
		for _, r := range []*replica{alice, mallory} {
			if s := r.status("GET", "/.backstage/health/v1/liveness"); s != 200 {
				t.Errorf("%s liveness: %d", r.name, s)
			}
			if n := goodCount(r); n != goodComponents {
				t.Errorf("%s serves %d good entities, want %d", r.name, n, goodComponents)
			}
			hwm := peakRSS(t, r.cmd.Process.Pid)
			if hwm > 512<<20 {
				t.Errorf("%s peaked at %d MiB", r.name, hwm>>20)
			}
			t.Logf("%s: peak resident memory %d MiB after every attack", r.name, hwm>>20)
		}
		if e := etag(alice); e != goodEtag {
			t.Errorf("a good entity changed under the attacks: etag %s → %s", goodEtag, e)
		}
		// The stored hostile locations do not stop a restart.
		alice.stop()
		again := start("alice", "user:default/alice", false)
		if !eventually(30*time.Second, func() bool { return goodCount(again) == goodComponents }) {
			t.Errorf("after a restart the catalog serves %d good entities", goodCount(again))
		}
	})
}

// escapeEntities reach for files outside their location's folder in every
// way a placeholder can; inside.txt is the one that is allowed.
const escapeEntities = `apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: placeholder-inside, description: {$text: ./inside.txt}}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: escape-up, description: {$text: ../secret.txt}}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: escape-absolute, description: {$text: /etc/passwd}}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: escape-symlink, description: {$text: ./link.txt}}
spec: {type: service, lifecycle: production, owner: team-a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: escape-yaml-up, annotations: {$yaml: ../secret.yaml}}
spec: {type: service, lifecycle: production, owner: team-a}
`

// failedReasons is what the unprocessed-entities API says about the
// Location entity whose target ends with file: its errors' messages.
func failedReasons(t *testing.T, r *replica, file string) []string {
	t.Helper()
	var page struct {
		Entities []struct {
			UnprocessedEntity struct{ Spec struct{ Target string } } `json:"unprocessed_entity"`
			Errors            json.RawMessage
		}
	}
	if s := r.getJSON(t, "/api/catalog/entities/unprocessed/failed", &page); s != 200 {
		t.Fatalf("unprocessed/failed: %d", s)
	}
	var msgs []string
	for _, e := range page.Entities {
		if !strings.HasSuffix(e.UnprocessedEntity.Spec.Target, "/"+file) {
			continue
		}
		var errs []struct{ Name, Message string }
		_ = json.Unmarshal(e.Errors, &errs)
		for _, x := range errs {
			msgs = append(msgs, x.Name+": "+x.Message)
		}
	}
	return msgs
}

type errorEnvelope struct {
	Error struct {
		Name    string
		Message *string // present, possibly empty (a bare NotAllowedError)
	}
	Response struct{ StatusCode int }
}

// envelope checks that body is Backstage's error envelope for status.
func envelope(t *testing.T, status int, body []byte) errorEnvelope {
	t.Helper()
	var e errorEnvelope
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Name == "" || e.Error.Message == nil || e.Response.StatusCode != status {
		t.Errorf("%d answer is not Backstage's error envelope: %.300s", status, body)
	}
	return e
}
