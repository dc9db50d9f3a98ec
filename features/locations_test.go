package features

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cucumber/godog"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/cmd/understage/wire"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/github/githubtest"
)

// locationsState is the registration scenarios' part of the world: a fake
// GitHub, the last answers and the backend's captured warnings.
type locationsState struct {
	gh       *githubtest.Server
	analysis map[string]any
	location map[string]any
	logs     *logCapture
	// registered is when the last registration was answered, to measure
	// how long its entities take to be served.
	registered time.Time
}

// logCapture keeps the backend's records (and passes warnings to stderr).
type logCapture struct {
	mu      sync.Mutex
	records []map[string]any
	next    slog.Handler
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(ctx context.Context, r slog.Record) error {
	rec := map[string]any{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool { rec[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	if r.Level >= slog.LevelWarn {
		return l.next.Handle(ctx, r)
	}
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }

func (w *world) registerLocations(sc *godog.ScenarioContext) {
	sc.Step(`^a GitHub server with the repository "([^/"]*)/([^"]*)" describing the component "([^"]*)"$`, w.ghRepo)
	sc.Step(`^the GitHub server also has the repository "([^/"]*)/([^"]*)" describing the component "([^"]*)"$`, w.ghRepo)
	sc.Step(`^the GitHub server also has the repository "([^/"]*)/([^"]*)" without catalog files$`, w.ghEmptyRepo)
	sc.Step(`^understage reads that GitHub server as its github.com integration$`, w.startWithGitHub)
	sc.Step(`^I analyze the repository "([^"]*)"$`, w.analyze)
	sc.Step(`^the analysis lists the component "([^"]*)" from an existing file$`, w.analysisLists)
	sc.Step(`^the analysis proposes a component named "([^"]*)" with the project slug "([^"]*)"$`, w.analysisProposes)
	sc.Step(`^I register "([^"]*)"$`, w.registerURL)
	sc.Step(`^the registration answers 201 with the new location$`, w.registered201)
	sc.Step(`^I have registered the repository "([^"]*)"$`, w.registeredRepo)
	sc.Step(`^I find the component "([^"]*)" at once$`, func(name string) error { return w.findAtOnce(name, "") })
	sc.Step(`^I find the component "([^"]*)" with the description "([^"]*)" at once$`, w.findAtOnce)
	sc.Step(`^the component "([^"]*)" is edited in the repository to have the description "([^"]*)"$`, w.ghEdit)
	sc.Step(`^I ask the catalog to refresh "([^"]*)"$`, w.refresh)
	sc.Step(`^the file "([^"]*)" is deleted from the repository$`, w.ghDelete)
	sc.Step(`^the component "([^"]*)" disappears$`, w.disappears)
	sc.Step(`^the GitHub server answers 500 for the repository "([^"]*)"$`, w.ghFail)
	sc.Step(`^the Location entity of the registration reports a processing error$`, w.registrationError)
	sc.Step(`^the component "([^"]*)" is still managed by "([^"]*)"$`, w.managedBy)
	sc.Step(`^the conflict over "([^"]*)" is reported for "([^"]*)"$`, w.conflictReported)
	sc.Step(`^the Location entity of "([^"]*)" shows no processing error, as in Backstage$`, w.locationShowsNoError)
	sc.Step(`^the failed unprocessed entities list the conflict over "([^"]*)" for "([^"]*)"$`, w.unprocessedListsConflict)
}

func (w *world) locs() *locationsState {
	if w.loc == nil {
		w.loc = &locationsState{}
	}
	return w.loc
}

func componentYAML(name, desc string) string {
	return fmt.Sprintf(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  description: %s
spec:
  type: service
  lifecycle: production
  owner: team-payments
`, name, desc)
}

// ghRepo adds a repository whose catalog-info.yaml describes the component
// and a Location reading services/*.yaml, with one worker component there.
func (w *world) ghRepo(owner, repo, component string) error {
	s := w.locs()
	if s.gh == nil {
		s.gh = githubtest.New(w.t)
	}
	info := componentYAML(component, "Original") + `---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: ` + repo + `-services
spec:
  targets: [./services/*.yaml]
`
	s.gh.AddRepo(githubtest.Repo{Owner: owner, Name: repo, Files: map[string]string{
		"catalog-info.yaml":    info,
		"services/worker.yaml": componentYAML(repo+"-worker", "Works"),
	}})
	return nil
}

func (w *world) ghEmptyRepo(owner, repo string) error {
	w.locs().gh.AddRepo(githubtest.Repo{Owner: owner, Name: repo, Files: map[string]string{"README.md": "# " + repo}})
	return nil
}

// startWithGitHub builds the backend with the fake GitHub as github.com
// and runs its processing loop, as the binary does.
func (w *world) startWithGitHub() error {
	dir, err := os.MkdirTemp("", "understage-locations-*")
	if err != nil {
		return err
	}
	w.dir = dir
	dbConf, err := dbConfig(w.t, dir)
	if err != nil {
		return err
	}
	s := w.locs()
	conf := fmt.Sprintf(`backend:
  baseUrl: http://127.0.0.1:0
  auth: {dangerouslyDisableDefaultAuthPolicy: true}
  database: %s
integrations:
  github:
    - host: github.com
      apiBaseUrl: %s
catalog:
  processingInterval: PT10M
  rules:
    - allow: [Component, Location]
`, dbConf, s.gh.APIURL())
	cfg, err := config.LoadBytes([]byte(conf), filepath.Join(dir, "app-config.yaml"), nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	s.logs = &logCapture{next: slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})}
	b, err := wire.New(ctx, cfg, slog.New(s.logs))
	if err != nil {
		return err
	}
	w.backend = b
	b.Server.SetReady()
	w.srv = httptest.NewServer(b.Server.Handler())
	go func() { _ = b.Engine.Run(ctx) }()
	return nil
}

func (w *world) post(path, body string) (int, []byte, error) {
	resp, err := http.Post(w.srv.URL+"/api/catalog"+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	w.lastStatus, w.lastBody = resp.StatusCode, data
	return resp.StatusCode, data, err
}

func (w *world) analyze(target string) error {
	status, body, err := w.post("/analyze-location", `{"location":{"type":"url","target":"`+target+`"}}`)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("analyze-location: %d %s", status, body)
	}
	return json.Unmarshal(body, &w.locs().analysis)
}

func (w *world) analysisLists(name string) error {
	files, _ := w.locs().analysis["existingEntityFiles"].([]any)
	for _, f := range files {
		fe, _ := f.(map[string]any)
		e, _ := fe["entity"].(map[string]any)
		if e["kind"] == "Component" && e["metadata"].(map[string]any)["name"] == name && fe["isRegistered"] == false {
			return nil
		}
	}
	return fmt.Errorf("component %s not among the existing entity files: %v", name, w.locs().analysis)
}

func (w *world) analysisProposes(name, slug string) error {
	a := w.locs().analysis
	gen, _ := a["generateEntities"].([]any)
	if len(gen) != 1 {
		return fmt.Errorf("want one proposed entity: %v", a)
	}
	e := gen[0].(map[string]any)["entity"].(map[string]any)
	meta := e["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	if e["kind"] != "Component" || meta["name"] != name || ann["github.com/project-slug"] != slug {
		return fmt.Errorf("proposed entity %v", e)
	}
	return nil
}

func (w *world) registerURL(target string) error {
	w.locs().registered = time.Now()
	status, body, err := w.post("/locations", `{"type":"url","target":"`+target+`"}`)
	if err != nil {
		return err
	}
	if status != 201 {
		return fmt.Errorf("POST /locations: %d %s", status, body)
	}
	var res struct{ Location map[string]any }
	if err := json.Unmarshal(body, &res); err != nil {
		return err
	}
	w.locs().location = res.Location
	return nil
}

func (w *world) registered201() error {
	l := w.locs().location
	ref := "location:default/" + catalog.GeneratedLocationName("url", fmt.Sprint(l["target"]))
	if w.lastStatus != 201 || l["id"] == "" || l["type"] != "url" || l["entityRef"] != ref {
		return fmt.Errorf("registration answer %d %s", w.lastStatus, w.lastBody)
	}
	return nil
}

func (w *world) registeredRepo(repo string) error {
	if err := w.registerURL("https://github.com/" + repo + "/blob/main/catalog-info.yaml"); err != nil {
		return err
	}
	return w.findAtOnce(strings.SplitN(repo, "/", 2)[1]+"-api", "")
}

// findAtOnce polls the API (the processing loop runs on its own) until
// the component is served, and reports how long that took. The deadline
// only keeps a broken build from hanging; the time is printed, not asserted.
func (w *world) findAtOnce(name, desc string) error {
	start := w.locs().registered
	if start.IsZero() {
		start = time.Now()
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, err := w.get("/entities/by-name/component/default/" + name)
		if err != nil {
			return err
		}
		if status == 200 {
			var e struct{ Metadata struct{ Description string } }
			if err := json.Unmarshal(body, &e); err != nil {
				return err
			}
			if desc == "" || e.Metadata.Description == desc {
				fmt.Fprintf(os.Stderr, "    component %s served %v after the request\n", name, time.Since(start).Round(time.Millisecond))
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("component %s (description %q) not served: %d %s", name, desc, status, body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (w *world) ghEdit(name, desc string) error {
	s := w.locs()
	s.gh.SetFile("acme/payments", "catalog-info.yaml", strings.Replace(componentYAML(name, desc)+`---
apiVersion: backstage.io/v1alpha1
kind: Location
metadata:
  name: payments-services
spec:
  targets: [./services/*.yaml]
`, "Original", desc, 1))
	return nil
}

func (w *world) refresh(ref string) error {
	w.locs().registered = time.Now()
	status, body, err := w.post("/refresh", `{"entityRef":"`+ref+`"}`)
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("refresh: %d %s", status, body)
	}
	return nil
}

func (w *world) ghDelete(p string) error {
	w.locs().gh.DeleteFile("acme/payments", p)
	return nil
}

func (w *world) disappears(name string) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		status, body, err := w.get("/entities/by-name/component/default/" + name)
		if err != nil {
			return err
		}
		if status == 404 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("component %s still served: %d %s", name, status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *world) ghFail(repo string) error {
	w.locs().gh.Fail("/repos/"+repo, 500, -1)
	return nil
}

func (w *world) registrationError() error {
	name := catalog.GeneratedLocationName("url", fmt.Sprint(w.locs().location["target"]))
	deadline := time.Now().Add(15 * time.Second)
	for {
		var e struct {
			Status struct {
				Items []struct{ Type, Level string }
			}
		}
		if err := w.getJSON("/entities/by-name/location/default/"+name, &e); err != nil {
			return err
		}
		for _, it := range e.Status.Items {
			if it.Type == "backstage.io/catalog-processing" && it.Level == "error" {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("registration's Location entity has no processing error: %s", w.lastBody)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (w *world) managedBy(name, location string) error {
	e, err := w.entity("component:default/" + name)
	if err != nil {
		return err
	}
	ann, _ := e["metadata"].(map[string]any)["annotations"].(map[string]any)
	if ann["backstage.io/managed-by-location"] != location {
		return fmt.Errorf("component %s is managed by %v", name, ann["backstage.io/managed-by-location"])
	}
	return nil
}

// conflictReported finds the warning the catalog logs when a location
// emits an entity another location already owns (Backstage logs it too).
func (w *world) conflictReported(ref, location string) error {
	l := w.locs().logs
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r["level"] == "WARN" && r["entityRef"] == ref && r["locationKey"] == location {
			return nil
		}
	}
	var b bytes.Buffer
	for _, r := range l.records {
		if r["level"] == "WARN" {
			fmt.Fprintln(&b, r)
		}
	}
	return fmt.Errorf("no conflict reported for %s from %s; warnings:\n%s", ref, location, b.String())
}

// locationShowsNoError checks that the losing Location entity is stored
// as Backstage stores it: the conflict is not in its status.
func (w *world) locationShowsNoError(location string) error {
	typ, target, _ := strings.Cut(location, ":")
	e, err := w.entity("location:default/" + catalog.GeneratedLocationName(typ, target))
	if err != nil {
		return err
	}
	if st, ok := e["status"]; ok {
		return fmt.Errorf("location %s has a status: %v", location, st)
	}
	return nil
}

// unprocessedListsConflict finds the conflict among the failed entities of
// the unprocessed-entities API, on the losing Location entity.
func (w *world) unprocessedListsConflict(ref, location string) error {
	typ, target, _ := strings.Cut(location, ":")
	var resp struct {
		Entities []struct {
			EntityRef string `json:"entity_ref"`
			Errors    []struct{ Name, Message string }
		}
	}
	if err := w.getJSON("/entities/unprocessed/failed", &resp); err != nil {
		return err
	}
	loser := "location:default/" + catalog.GeneratedLocationName(typ, target)
	for _, e := range resp.Entities {
		for _, er := range e.Errors {
			if e.EntityRef == loser && er.Name == "ConflictError" && strings.HasPrefix(er.Message, "Detected conflicting entityRef "+ref) {
				return nil
			}
		}
	}
	return fmt.Errorf("no conflict over %s for %s among the failed entities: %+v", ref, location, resp.Entities)
}
