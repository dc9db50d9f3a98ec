package processing_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
	"github.com/understage/understage/catalog/sqlstore"
	"github.com/understage/understage/plugins/backend/database"
	"github.com/understage/understage/plugins/backend/urlreaders"
)

// logRecorder keeps the records a catalog logs.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// warnings lists the warnings logged, each with its attributes.
func (l *logRecorder) warnings() []map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]string
	for _, r := range l.records {
		if r.Level != slog.LevelWarn {
			continue
		}
		m := map[string]string{"msg": r.Message}
		r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
		out = append(out, m)
	}
	return out
}

// ingestCatalog is a store and engine over the configured locations, as
// wire assembles them at start-up.
type ingestCatalog struct {
	db     database.Options
	store  *sqlstore.Store
	engine *processing.Engine
	logs   *logRecorder
	opts   processing.Options
}

// newIngest opens a fresh database of kind; locations are applied by
// configure. Zero fields of o get the test defaults (file reader, all
// kinds allowed).
func newIngest(t *testing.T, kind dbKind, o processing.Options) *ingestCatalog {
	t.Helper()
	if o.Readers == nil {
		o.Readers = map[string]processing.LocationReader{}
	}
	if _, ok := o.Readers["file"]; !ok {
		o.Readers["file"] = processing.FileReader{}
	}
	if o.Rules.IsZero() {
		o.Rules = allKinds(t)
	}
	c := &ingestCatalog{db: kind.open(t, t.TempDir()), opts: o}
	c.open(t)
	return c
}

func allKinds(t *testing.T) model.Rules {
	t.Helper()
	var kinds []model.RuleKind
	for _, k := range []string{"Component", "System", "API", "Resource", "Location", "Group", "User", "Domain", "Template"} {
		kinds = append(kinds, model.RuleKind{Kind: k})
	}
	r, err := model.NewRules([]model.Rule{{Allow: kinds}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// open (re)opens the store on the catalog's database and builds a new
// engine: what a start of the service does.
func (c *ingestCatalog) open(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c.db.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := database.Open(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c.logs = &logRecorder{}
	if c.store, err = sqlstore.New(ctx, db, slog.New(c.logs)); err != nil {
		t.Fatal(err)
	}
	o := c.opts
	o.Store = c.store
	o.Logger = slog.New(c.logs)
	c.engine = processing.New(o)
}

// configure applies catalog.locations (the config provider's full set)
// and drains.
func (c *ingestCatalog) configure(t *testing.T, locs ...processing.LocationSpec) {
	t.Helper()
	p := &processing.ConfigLocationsProvider{Locations: locs}
	if err := p.Connect(context.Background(), c.store); err != nil {
		t.Fatal(err)
	}
	c.drain(t)
}

func (c *ingestCatalog) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.engine.Drain(ctx); err != nil {
		t.Fatal(err)
	}
}

// refreshAll makes every stored entity due and drains.
func (c *ingestCatalog) refreshAll(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for _, reason := range []catalog.UnprocessedReason{catalog.UnprocessedPending, ""} {
		var refs []string
		if reason == "" {
			res, err := c.store.ListEntities(ctx, catalog.EntitiesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			for _, raw := range res.Entities {
				refs = append(refs, refOf(t, raw))
			}
		} else {
			rows, err := c.store.UnprocessedEntities(ctx, reason)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				refs = append(refs, r.EntityRef)
			}
		}
		for _, ref := range refs {
			if err := c.store.RequestRefresh(ctx, ref); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.drain(t)
}

// entity returns the stored entity, decoded and normalised, or nil.
func (c *ingestCatalog) entity(t *testing.T, n normaliser, ref string) map[string]any {
	t.Helper()
	raw, err := c.store.EntityByRef(context.Background(), ref, nil)
	if err != nil {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	return n.value(v).(map[string]any)
}

// refsByOrigin lists the stored entities by their normalised origin.
func (c *ingestCatalog) refsByOrigin(t *testing.T, n normaliser) map[string][]string {
	t.Helper()
	res, err := c.store.ListEntities(context.Background(), catalog.EntitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, raw := range res.Entities {
		e := decode(t, raw)
		origin := n.text(e.Metadata.Annotations["backstage.io/managed-by-origin-location"])
		ref := strings.ToLower(e.Kind + ":" + e.Metadata.Namespace + "/" + n.text(e.Metadata.Name))
		if strings.HasPrefix(e.Metadata.Name, "generated-") {
			ref = "location:default/generated-" + sha1hex(n.text(e.Spec["type"].(string)+":"+e.Spec["target"].(string)))
		}
		out[origin] = append(out[origin], ref)
	}
	for _, refs := range out {
		sort.Strings(refs)
	}
	return out
}

// unprocessed finds the entry of ref in the list of reason, or nil.
func (c *ingestCatalog) unprocessed(t *testing.T, reason catalog.UnprocessedReason, ref string) *catalog.UnprocessedEntity {
	t.Helper()
	rows, err := c.store.UnprocessedEntities(context.Background(), reason)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if rows[i].EntityRef == ref {
			return &rows[i]
		}
	}
	return nil
}

// errorsJSON is a list of serialized errors as decoded JSON, normalised.
func errorsJSON(t *testing.T, n normaliser, errs []catalog.SerializedError) any {
	t.Helper()
	b, err := json.Marshal(errs)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return n.value(v)
}

func fixturesNormaliser(t *testing.T) (string, normaliser) {
	t.Helper()
	dir, err := filepath.Abs(oracleFixtures)
	if err != nil {
		t.Fatal(err)
	}
	return dir, normaliser{fixtures: dir}
}

// TestConfigLocationRules: the rules of a configured location add to
// catalog.rules for everything that originates there, nested Locations
// included; a location whose entity the rules refuse stores nothing it
// emits and carries Backstage's NotAllowedError.
func TestConfigLocationRules(t *testing.T) {
	g := loadGolden(t)
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			fx, n := fixturesNormaliser(t)
			var global []model.RuleKind
			for _, k := range []string{"Component", "System", "API", "Resource", "Location", "Group", "User", "Domain"} {
				global = append(global, model.RuleKind{Kind: k})
			}
			rules, err := model.NewRules([]model.Rule{{Allow: global}}, []model.ConfigLocation{
				{Type: "file", Target: filepath.Join(fx, "rules/templates.yaml"), Rules: [][]string{{"Template"}}},
				{Type: "file", Target: filepath.Join(fx, "direct/template.yaml"), Rules: [][]string{{"Template"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			c := newIngest(t, kind, processing.Options{Rules: rules})
			c.configure(t,
				processing.LocationSpec{Type: "file", Target: filepath.Join(fx, "rules/templates.yaml")},
				processing.LocationSpec{Type: "file", Target: filepath.Join(fx, "norules/templates.yaml")},
				processing.LocationSpec{Type: "file", Target: filepath.Join(fx, "direct/template.yaml")},
			)
			got := c.refsByOrigin(t, n)
			for _, origin := range []string{"rules/templates.yaml", "norules/templates.yaml", "direct/template.yaml"} {
				origin = "file:$FIXTURES/" + origin
				sameJSON(t, "entities from "+origin, got[origin], g.Refs[origin])
			}
			sameJSON(t, "template:default/rules-t2", c.entity(t, n, "template:default/rules-t2"), g.Entities["template:default/rules-t2"])

			refused := c.unprocessed(t, catalog.UnprocessedPending, "location:default/norules-templates")
			if refused == nil {
				t.Fatal("the location whose Template the rules refuse is not pending")
			}
			sameJSON(t, "errors of location:default/norules-templates", errorsJSON(t, n, refused.Errors), g.Pending["location:default/norules-templates"].Errors)
		})
	}
}

// TestSameEntityTwiceInOneFile: the later document wins, as in Backstage.
func TestSameEntityTwiceInOneFile(t *testing.T) {
	g := loadGolden(t)
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			fx, n := fixturesNormaliser(t)
			c := newIngest(t, kind, processing.Options{})
			c.configure(t, processing.LocationSpec{Type: "file", Target: filepath.Join(fx, "dups/catalog-info.yaml")})
			origin := "file:$FIXTURES/dups/catalog-info.yaml"
			sameJSON(t, "entities from "+origin, c.refsByOrigin(t, n)[origin], g.Refs[origin])
			sameJSON(t, "component:default/dup-service", c.entity(t, n, "component:default/dup-service"), g.Entities["component:default/dup-service"])
			// Processing again changes nothing.
			c.refreshAll(t)
			sameJSON(t, "component:default/dup-service after a refresh", c.entity(t, n, "component:default/dup-service"), g.Entities["component:default/dup-service"])
		})
	}
}

// TestConflictingEntity: the first location keeps the entity; the losing
// Location entity stays exactly as Backstage stores it; the conflict is
// logged with both locations and listed as the loser's failure; once the
// owner lets go, the other location takes the entity over.
func TestConflictingEntity(t *testing.T) {
	g := loadGolden(t)
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			fx, n := fixturesNormaliser(t)
			first := processing.LocationSpec{Type: "file", Target: filepath.Join(fx, "conflict/first.yaml")}
			second := processing.LocationSpec{Type: "file", Target: filepath.Join(fx, "conflict/second.yaml")}
			c := newIngest(t, kind, processing.Options{})
			c.configure(t, first)
			c.configure(t, first, second)

			for _, origin := range []string{"file:$FIXTURES/conflict/first.yaml", "file:$FIXTURES/conflict/second.yaml"} {
				sameJSON(t, "entities from "+origin, c.refsByOrigin(t, n)[origin], g.Refs[origin])
			}
			// The golden names the Location by its normalised target.
			loser := "location:default/" + catalog.GeneratedLocationName("file", second.Target)
			goldenLoser := "location:default/generated-" + sha1hex("file:$FIXTURES/conflict/second.yaml")
			sameJSON(t, "component:default/contested", c.entity(t, n, "component:default/contested"), g.Entities["component:default/contested"])
			sameJSON(t, "the losing Location", c.entity(t, n, loser), g.Entities[goldenLoser])

			msg := "Detected conflicting entityRef component:default/contested already referenced by file:" + first.Target + " and now also file:" + second.Target
			logged := slices.ContainsFunc(c.logs.warnings(), func(w map[string]string) bool {
				return w["msg"] == msg && w["entityRef"] == "component:default/contested" &&
					w["existingLocationKey"] == "file:"+first.Target && w["locationKey"] == "file:"+second.Target
			})
			if !logged {
				t.Errorf("conflict not logged as %q; warnings: %v", msg, c.logs.warnings())
			}
			// A lasting conflict is logged once, not at every pass.
			c.refreshAll(t)
			if n := len(slices.DeleteFunc(c.logs.warnings(), func(w map[string]string) bool { return w["msg"] != msg })); n != 1 {
				t.Errorf("conflict logged %d times after two passes, want once", n)
			}
			failed := c.unprocessed(t, catalog.UnprocessedFailed, loser)
			if failed == nil {
				t.Fatal("the losing location is not among the failed entities")
			}
			want := []catalog.SerializedError{{Name: "ConflictError", Message: msg}}
			if !slices.Equal(failed.Errors, want) {
				t.Errorf("failed entry errors = %+v, want %+v", failed.Errors, want)
			}

			// The owner goes away: the other location takes the entity over
			// and the conflict is no longer reported.
			c.configure(t, second)
			c.refreshAll(t)
			contested := c.entity(t, n, "component:default/contested")
			if md, _ := contested["metadata"].(map[string]any); md == nil || md["description"] != "from second" {
				t.Errorf("contested after the first location left = %v, want the second's", contested)
			}
			if f := c.unprocessed(t, catalog.UnprocessedFailed, loser); f != nil {
				t.Errorf("conflict still reported after it ended: %+v", f.Errors)
			}
		})
	}
}

// phEntity is a component whose spec.data is a placeholder.
func phEntity(name, key, value string) string {
	return "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name +
		"\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  data:\n    " + key + ": " + value + "\n"
}

// placeholderError is the processing error of a placeholder that could not
// be read, as Backstage words it.
func placeholderError(key, value, cause string) []catalog.SerializedError {
	msg := "Placeholder " + key + " could not read location " + value + ", " + cause
	return []catalog.SerializedError{{Name: "InputError",
		Message: "Processor PlaceholderProcessor threw an error while preprocessing; caused by Error: " + msg,
		Cause:   &catalog.SerializedError{Name: "Error", Message: msg}}}
}

// TestFilePlaceholdersStayInTheirLocation: a placeholder in a file
// location reads files in the folder tree of the location the entity comes
// from (links resolved), and nothing else of the host.
func TestFilePlaceholdersStayInTheirLocation(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			repo := filepath.Join(dir, "repo")
			outside := filepath.Join(dir, "secret.txt")
			write(t, outside, "top secret\n")
			write(t, filepath.Join(repo, "docs/spec.yaml"), "openapi: 3.0.0\n")
			write(t, filepath.Join(repo, "docs/spec.json"), `{"openapi": "3.0.0"}`)
			symlink(t, "spec.yaml", filepath.Join(repo, "docs/inner-link.yaml"))
			symlink(t, outside, filepath.Join(repo, "docs/outer-link.txt"))
			symlink(t, dir, filepath.Join(repo, "up"))
			write(t, filepath.Join(repo, "catalog-info.yaml"), "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: repo\nspec:\n  targets: [./apis/*.yaml]\n"+
				phEntity("sibling", "$text", "./docs/spec.yaml")+
				phEntity("json", "$json", "./docs/spec.json")+
				phEntity("yaml", "$yaml", "./docs/spec.yaml")+
				phEntity("inner-link", "$text", "./docs/inner-link.yaml")+
				phEntity("parent", "$text", "../secret.txt")+
				phEntity("deep-parent", "$text", "../../../../../../../../etc/hostname")+
				phEntity("absolute", "$text", outside)+
				phEntity("etc", "$text", "/etc/hostname")+
				phEntity("outer-link", "$text", "./docs/outer-link.txt")+
				phEntity("dir-link", "$text", "./up/secret.txt")+
				phEntity("file-url", "$text", "file://"+outside)+
				phEntity("missing", "$text", "./docs/missing.yaml")+
				phEntity("not-a-string", "$text", "[1, 2]"))
			// An entity in a subfolder may read anywhere in its location's tree.
			write(t, filepath.Join(repo, "apis/nested.yaml"), phEntity("from-subfolder", "$text", "../docs/spec.yaml"))

			c := newIngest(t, kind, processing.Options{})
			c.configure(t, processing.LocationSpec{Type: "file", Target: filepath.Join(repo, "catalog-info.yaml")})

			n := normaliser{fixtures: dir}
			for name, want := range map[string]any{
				"sibling": "openapi: 3.0.0\n", "yaml": map[string]any{"openapi": "3.0.0"}, "json": map[string]any{"openapi": "3.0.0"},
				"inner-link": "openapi: 3.0.0\n", "from-subfolder": "openapi: 3.0.0\n",
			} {
				e := c.entity(t, n, "component:default/"+name)
				if e == nil {
					t.Errorf("component:default/%s missing", name)
					continue
				}
				sameJSON(t, name+" data", e["spec"].(map[string]any)["data"], want)
			}
			outsideErr := "NotAllowedError: the file is outside the folder of the entity's location"
			for name, want := range map[string][]catalog.SerializedError{
				"parent":      placeholderError("$text", "../secret.txt", outsideErr),
				"deep-parent": placeholderError("$text", "../../../../../../../../etc/hostname", outsideErr),
				"absolute":    placeholderError("$text", outside, outsideErr),
				"etc":         placeholderError("$text", "/etc/hostname", outsideErr),
				"outer-link":  placeholderError("$text", "./docs/outer-link.txt", outsideErr),
				"dir-link":    placeholderError("$text", "./up/secret.txt", outsideErr),
				"file-url": placeholderError("$text", "file://"+outside, "NotAllowedError: Reading from 'file://"+outside+"' is not allowed. "+
					"You may need to configure an integration for the target host, or add it to the configured list of allowed hosts at 'backend.reading.allow'"),
				"missing": placeholderError("$text", "./docs/missing.yaml", "NotFoundError: no such file"),
				"not-a-string": {{Name: "InputError",
					Message: "Processor PlaceholderProcessor threw an error while preprocessing; caused by Error: Placeholder $text expected a string value parameter, in the form of an absolute URL or a relative path",
					Cause:   &catalog.SerializedError{Name: "Error", Message: "Placeholder $text expected a string value parameter, in the form of an absolute URL or a relative path"}}},
			} {
				ref := "component:default/" + name
				if e := c.entity(t, n, ref); e != nil {
					t.Errorf("%s was stored: %v", ref, e["spec"])
				}
				row := c.unprocessed(t, catalog.UnprocessedFailed, ref)
				if row == nil {
					t.Errorf("%s is not among the failed entities", ref)
					continue
				}
				sameJSON(t, ref+" errors", errorsJSON(t, normaliser{fixtures: "\x00"}, row.Errors), errorsJSON(t, normaliser{fixtures: "\x00"}, want))
				if strings.Contains(string(row.Processed)+string(row.Unprocessed), "top secret") {
					t.Errorf("%s holds the outside file's content", ref)
				}
			}
		})
	}
}

func symlink(t *testing.T, oldname, newname string) {
	t.Helper()
	if err := os.Symlink(oldname, newname); err != nil {
		t.Fatal(err)
	}
}

// fixtureServer serves the oracle fixtures over HTTP, and URL readers that
// may read only from it.
func fixtureServer(t *testing.T) (*httptest.Server, *catalog.URLReaders) {
	t.Helper()
	fx, _ := fixturesNormaliser(t)
	srv := httptest.NewServer(http.FileServer(http.Dir(fx)))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	f := urlreaders.NewFetchReader([]urlreaders.AllowRule{{Host: u.Host}}, urlreaders.FetchOptions{})
	readers := catalog.NewURLReaders()
	readers.Register("fetch", f.Claims, f)
	return srv, readers
}

// TestURLPlaceholders: in a URL location a placeholder resolves against
// the URL and reads through the URL readers, which refuse other hosts and
// other schemes, as in Backstage.
func TestURLPlaceholders(t *testing.T) {
	g := loadGolden(t)
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			srv, readers := fixtureServer(t)
			fx, _ := fixturesNormaliser(t)
			n := normaliser{fixtures: fx, server: srv.URL}
			c := newIngest(t, kind, processing.Options{Readers: map[string]processing.LocationReader{
				"url": processing.URLLocationReader{Readers: readers}}})
			c.configure(t,
				processing.LocationSpec{Type: "url", Target: srv.URL + "/placeholders/catalog-info.yaml"},
				processing.LocationSpec{Type: "url", Target: srv.URL + "/switch/catalog-info.yaml"})

			good := c.entity(t, n, "api:default/ph-good")
			if good == nil {
				t.Fatal("api:default/ph-good missing")
			}
			want := g.Entities["api:default/ph-good"].(map[string]any)
			sameJSON(t, "ph-good", good, want)
			for _, name := range []string{"ph-other-host", "ph-file-url", "ph-missing", "ph-parent-dir"} {
				ref := "api:default/" + name
				row := c.unprocessed(t, catalog.UnprocessedPending, ref)
				if row == nil {
					t.Errorf("%s is not pending", ref)
					continue
				}
				sameJSON(t, ref+" errors", errorsJSON(t, n, row.Errors), g.Pending[ref].Errors)
			}

			// A repository cannot make the catalog read the host's files
			// through a Location of type file (Backstage's check).
			row := c.unprocessed(t, catalog.UnprocessedPending, "location:default/switch-to-file")
			refusal := []catalog.SerializedError{{Name: "InputError", Message: `Registered locations must be of an allowed type ["url"]`}}
			if row == nil || !slices.Equal(row.Errors, refusal) {
				t.Errorf("switch-to-file = %+v, want pending with %+v", row, refusal)
			}
		})
	}
}

// component is one component document.
func component(name string) string {
	return "---\napiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: " + name +
		"\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n"
}

// padTo pads a YAML file with a comment to exactly size bytes.
func padTo(t *testing.T, content string, size int) string {
	t.Helper()
	if len(content)+2 > size {
		t.Fatalf("content of %d bytes does not fit in %d", len(content), size)
	}
	return content + "#" + strings.Repeat("x", size-len(content)-2) + "\n"
}

// TestLimits: each budget lets an input at the limit through and stops one
// just over it with an error naming the config key, on the location or the
// entity that went over; what was ingested before stays.
func TestLimits(t *testing.T) {
	const fileLimit, placeholderLimit, entityLimit = 4096, 100, 3
	limits := processing.Limits{FileBytes: fileLimit, PlaceholderBytes: placeholderLimit, EntitiesPerFile: entityLimit}
	loc := func(dir string) string {
		return "location:default/" + catalog.GeneratedLocationName("file", filepath.Join(dir, "catalog-info.yaml"))
	}
	statusErrors := func(t *testing.T, c *ingestCatalog, ref string) []string {
		t.Helper()
		e, ok := (&testBundle{store: c.store}).get(t, ref)
		if !ok {
			t.Fatalf("%s missing", ref)
		}
		var out []string
		for _, it := range e.Status.Items {
			out = append(out, it.Message)
		}
		return out
	}
	tests := []struct {
		name string
		// under is at the limit, over just above it (files by name).
		under, over func(dir string) map[string]string
		// errorOn is the entity that reports going over, with wantErr.
		errorOn func(dir string) string
		wantErr func(dir string) string
	}{
		{
			name: "file size",
			under: func(string) map[string]string {
				return map[string]string{"catalog-info.yaml": padTo(t, component("sized"), fileLimit)}
			},
			over: func(string) map[string]string {
				return map[string]string{"catalog-info.yaml": padTo(t, component("sized"), fileLimit+1)}
			},
			errorOn: loc,
			wantErr: func(dir string) string {
				return "InputError: file:" + filepath.Join(dir, "catalog-info.yaml") + " is larger than 4096 bytes, the limit set by catalog.limits.maxFileSize"
			},
		},
		{
			name: "entities per file",
			under: func(string) map[string]string {
				return map[string]string{"catalog-info.yaml": component("sized") + component("e2") + component("e3")}
			},
			over: func(string) map[string]string {
				return map[string]string{"catalog-info.yaml": component("sized") + component("e2") + component("e3") + component("e4")}
			},
			errorOn: loc,
			wantErr: func(dir string) string {
				return "InputError: file:" + filepath.Join(dir, "catalog-info.yaml") + " holds more than 3 entities, the limit set by catalog.limits.maxEntitiesPerFile"
			},
		},
		{
			name: "placeholder size",
			under: func(string) map[string]string {
				return map[string]string{"catalog-info.yaml": phEntity("sized", "$text", "./data.txt"), "data.txt": strings.Repeat("d", placeholderLimit)}
			},
			over: func(string) map[string]string {
				return map[string]string{"catalog-info.yaml": phEntity("sized", "$text", "./data.txt"), "data.txt": strings.Repeat("d", placeholderLimit+1)}
			},
			errorOn: func(string) string { return "component:default/sized" },
			wantErr: func(string) string {
				return "InputError: Processor PlaceholderProcessor threw an error while preprocessing; caused by Error: Placeholder $text could not read location ./data.txt, " +
					"InputError: the file is larger than 100 bytes, the limit set by catalog.limits.maxPlaceholderSize"
			},
		},
	}
	for _, kind := range dbKinds {
		for _, tc := range tests {
			t.Run(kind.name+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				for name, content := range tc.under(dir) {
					write(t, filepath.Join(dir, name), content)
				}
				c := newIngest(t, kind, processing.Options{Limits: limits})
				c.configure(t, processing.LocationSpec{Type: "file", Target: filepath.Join(dir, "catalog-info.yaml")})
				if _, ok := (&testBundle{store: c.store}).get(t, "component:default/sized"); !ok {
					t.Fatal("the input at the limit was not ingested")
				}
				if errs := statusErrors(t, c, tc.errorOn(dir)); len(errs) > 0 {
					t.Fatalf("errors at the limit: %v", errs)
				}
				for name, content := range tc.over(dir) {
					write(t, filepath.Join(dir, name), content)
				}
				c.refreshAll(t)
				if got, want := statusErrors(t, c, tc.errorOn(dir)), []string{tc.wantErr(dir)}; !slices.Equal(got, want) {
					t.Errorf("errors over the limit = %q, want %q", got, want)
				}
				if _, ok := (&testBundle{store: c.store}).get(t, "component:default/sized"); !ok {
					t.Error("the last good entity was dropped")
				}
				if c.unprocessed(t, catalog.UnprocessedFailed, tc.errorOn(dir)) == nil {
					t.Errorf("%s is not among the failed entities", tc.errorOn(dir))
				}
			})
		}
	}
}

// TestDefaultLimitsFitBigFiles: the default limits take a 10,000-entity
// file (the benchmarks' size) and more.
func TestDefaultLimitsFitBigFiles(t *testing.T) {
	d := processing.DefaultLimits()
	var b strings.Builder
	for i := range 10000 {
		b.WriteString(component(fmt.Sprintf("big-%05d", i)))
	}
	if int64(b.Len())*4 > d.FileBytes || 4*10000 > d.EntitiesPerFile {
		t.Errorf("defaults %+v leave less than 4x headroom over a 10,000-entity file of %d bytes", d, b.Len())
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "catalog-info.yaml"), b.String())
	c := newIngest(t, dbKinds[0], processing.Options{})
	c.configure(t, processing.LocationSpec{Type: "file", Target: filepath.Join(dir, "catalog-info.yaml")})
	if n := c.count(t); n != 10001 {
		t.Errorf("%d entities, want 10,000 components and their location", n)
	}
}

func (c *ingestCatalog) count(t *testing.T) int {
	t.Helper()
	res, err := c.store.QueryEntities(context.Background(), catalog.QueryRequest{CountTotal: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.TotalItems
}

// TestBadInputsSurviveRestart: locations whose processing fails in each
// way stay stored, the catalog starts again on the same database and
// serves the rest, and every failure can be found with its reason.
func TestBadInputsSurviveRestart(t *testing.T) {
	for _, kind := range dbKinds {
		t.Run(kind.name, func(t *testing.T) {
			dir := t.TempDir()
			files := map[string]string{
				"good.yaml":            component("good"),
				"broken.yaml":          "apiVersion: [unclosed\n",
				"refused.yaml":         "apiVersion: scaffolder.backstage.io/v1beta3\nkind: Template\nmetadata:\n  name: refused\nspec:\n  type: service\n  steps: []\n",
				"escape.yaml":          phEntity("escape", "$text", "../../../../etc/hostname"),
				"huge.yaml":            padTo(t, component("huge"), 5000),
				"first.yaml":           component("contested"),
				"second.yaml":          component("contested"),
				"switch.yaml":          "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: switch\nspec:\n  type: github-discovery\n  target: https://example.com/x.yaml\n",
				"missing-targets.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: missing-targets\nspec:\n  targets: [./missing-dir/*.yaml, ./missing.yaml]\n",
				"many.yaml":            component("m1") + component("m2") + component("m3") + component("m4") + component("m5"),
			}
			var locs []processing.LocationSpec
			for name, content := range files {
				write(t, filepath.Join(dir, name), content)
				if name != "second.yaml" {
					locs = append(locs, processing.LocationSpec{Type: "file", Target: filepath.Join(dir, name)})
				}
			}
			sort.Slice(locs, func(i, j int) bool { return locs[i].Target < locs[j].Target })
			var kinds []model.RuleKind
			for _, k := range []string{"Component", "API", "Location"} {
				kinds = append(kinds, model.RuleKind{Kind: k})
			}
			rules, err := model.NewRules([]model.Rule{{Allow: kinds}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			c := newIngest(t, kind, processing.Options{Rules: rules, Limits: processing.Limits{FileBytes: 4096, EntitiesPerFile: 4}})
			c.configure(t, locs...)
			// The second owner of "contested" comes later.
			locs = append(locs, processing.LocationSpec{Type: "file", Target: filepath.Join(dir, "second.yaml")})
			c.configure(t, locs...)

			locRef := func(name string) string {
				return "location:default/" + catalog.GeneratedLocationName("file", filepath.Join(dir, name))
			}
			reasons := map[string]string{
				locRef("broken.yaml"):              "YAML error at file:" + filepath.Join(dir, "broken.yaml"),
				locRef("refused.yaml"):             "NotAllowedError: Entity template:default/refused",
				"component:default/escape":         "NotAllowedError: the file is outside the folder of the entity's location",
				locRef("huge.yaml"):                "the limit set by catalog.limits.maxFileSize",
				locRef("many.yaml"):                "the limit set by catalog.limits.maxEntitiesPerFile",
				locRef("second.yaml"):              "ConflictError: Detected conflicting entityRef component:default/contested",
				"location:default/switch":          `InputError: Registered locations must be of an allowed type ["url"]`,
				"location:default/missing-targets": "NotFoundError: file " + filepath.Join(dir, "missing.yaml") + " does not exist",
			}
			check := func(t *testing.T, when string) {
				t.Helper()
				for _, ref := range []string{"component:default/good", "component:default/contested", locRef("good.yaml"), locRef("missing-targets.yaml")} {
					if _, ok := (&testBundle{store: c.store}).get(t, ref); !ok {
						t.Errorf("%s: %s is not served", when, ref)
					}
				}
				failed, err := c.store.UnprocessedEntities(context.Background(), catalog.UnprocessedFailed)
				if err != nil {
					t.Fatal(err)
				}
				for ref, reason := range reasons {
					found := slices.ContainsFunc(failed, func(r catalog.UnprocessedEntity) bool {
						return r.EntityRef == ref && slices.ContainsFunc(r.Errors, func(e catalog.SerializedError) bool {
							return strings.Contains(e.Name+": "+e.Message, reason)
						})
					})
					if !found {
						t.Errorf("%s: %s is not reported as failed with %q", when, ref, reason)
					}
				}
			}
			check(t, "after the first start")

			c.open(t) // a restart on the same database
			c.configure(t, locs...)
			check(t, "after a restart")
			c.refreshAll(t)
			check(t, "after processing everything again")
		})
	}
}
