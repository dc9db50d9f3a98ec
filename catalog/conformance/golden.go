package conformance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/understage/understage/plugins/backend/ojson"
)

// Golden files hold the oracle's normalised answers to a suite's cases, one
// JSON file per case under the suite's golden folder, so that the comparison
// also runs where no Backstage backend is available (CI): the same masks and
// the same Exact/Unordered/StatusOnly comparison as the live harness, against
// recorded answers instead of a second server.
//
// A suite is one corpus (its all.yaml root Location), its cases and its golden
// folder; see Suites. Recording needs an oracle whose only catalog location is
// that suite's all.yaml; suites the oracle has not loaded are skipped:
//
//	UNDERSTAGE_RECORD_ORACLE=http://127.0.0.1:7150 \
//	  CGO_ENABLED=0 go test ./catalog/conformance/ -run TestRecordGolden -v
//
// Replaying: TestGoldenSQLite, TestGoldenPostgres (the core suite) and
// TestRealWorldGoldenSQLite, TestRealWorldGoldenPostgres build Understage in
// process and compare every case with its golden file.

// EnvRecordOracle names the oracle TestRecordGolden records from.
const EnvRecordOracle = "UNDERSTAGE_RECORD_ORACLE"

// EnvRecordCorpusAddr is where TestRecordGolden serves a ServeHTTP suite's
// corpus for the oracle to read (default 127.0.0.1:7174); the oracle's
// config must name it under backend.reading.allow and as its url location.
const EnvRecordCorpusAddr = "UNDERSTAGE_RECORD_CORPUS_ADDR"

// corpusWait bounds how long recording waits for the oracle to read a
// corpus it serves; corpusSettle is how long it then lets the oracle
// re-process everything before asking.
const (
	corpusWait   = 30 * time.Second
	corpusSettle = 15 * time.Second
)

// serveCorpus serves dir over HTTP at EnvRecordCorpusAddr until the test
// ends, with the same file server the in-process replay uses, so that both
// sides see the same status lines for files that do not exist.
func serveCorpus(t *testing.T, dir string) {
	t.Helper()
	addr := os.Getenv(EnvRecordCorpusAddr)
	if addr == "" {
		addr = "127.0.0.1:7174"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("serve the corpus: %v", err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns once Close is called
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
}

// GoldenDir is where the core suite's golden files live, relative to this package.
const GoldenDir = "testdata/golden"

// Suite is a corpus with the cases asked of it and their recorded answers.
type Suite struct {
	Name string
	// Corpus is the corpus folder relative to this package; its all.yaml is
	// the only catalog location and defines the Location RootLocation.
	Corpus       string
	RootLocation string
	// GoldenDir holds one recorded answer per case.
	GoldenDir string
	Cases     []Case
	// ServeHTTP registers the corpus as a url location, served over HTTP
	// from a host allowed under backend.reading.allow, instead of a file
	// location.
	ServeHTTP bool
}

// CoreSuite covers the catalog API over the synthetic corpus in testdata/corpus.
func CoreSuite() Suite {
	return Suite{Name: "core", Corpus: "testdata/corpus", RootLocation: CorpusRootLocation, GoldenDir: GoldenDir, Cases: AllCases()}
}

// Suites lists every suite, in recording order.
func Suites() []Suite { return []Suite{CoreSuite(), RealWorldSuite(), RealWorldURLSuite()} }

// goldenFile is the on-disk form of one case's recorded answer. The request
// is stored so that a case edited after recording is reported as stale
// instead of being compared with an answer to a different question.
type goldenFile struct {
	Request   goldenRequest    `json:"request"`
	Responses []goldenResponse `json:"responses"`
}

type goldenRequest struct {
	Method        string            `json:"method"`
	Path          string            `json:"path"`
	Body          string            `json:"body,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Compare       string            `json:"compare"`
	FollowCursors bool              `json:"followCursors,omitempty"`
}

// goldenResponse is one normalised response (or one page of a cursor walk).
type goldenResponse struct {
	Page        string `json:"page"`
	Status      int    `json:"status"`
	ContentType string `json:"contentType"`
	Link        string `json:"link,omitempty"`
	// Canonical records that the oracle's raw body was byte-equal to its
	// JSON.stringify encoding; the stored body itself is re-indented.
	Canonical bool            `json:"canonical"`
	JSON      json.RawMessage `json:"json,omitempty"`
	Text      string          `json:"text,omitempty"`
}

// GoldenPath is the golden file of the case named name inside dir.
func GoldenPath(dir, name string) string {
	return filepath.Join(dir, filepath.FromSlash(name)+".json")
}

func requestOf(c Case) (goldenRequest, error) {
	r := goldenRequest{Method: c.Method, Path: c.Path, Headers: c.Headers, Compare: c.Compare.String(), FollowCursors: c.FollowCursors}
	switch b := c.Body.(type) {
	case nil:
	case string:
		r.Body = b
	case []byte:
		r.Body = string(b)
	default:
		data, err := json.Marshal(b) // map keys sorted: stable
		if err != nil {
			return r, fmt.Errorf("encode body: %w", err)
		}
		r.Body = string(data)
	}
	return r, nil
}

// observeCase sends c to s and returns the normalised answer in the form
// golden files store: the pages of a cursor walk compared page by page; one
// pooled response for an Unordered walk; the single response otherwise.
// Unordered entity lists are sorted so that re-recording gives the same file.
func observeCase(t testing.TB, c Case, s *side) ([]pageResult, error) {
	ctx := t.Context()
	var pages []pageResult
	if c.FollowCursors {
		ps, err := fetchPages(ctx, c, s)
		if err != nil {
			return nil, err
		}
		pages = ps
		if c.Compare == Unordered {
			pages = []pageResult{{label: "pooled walk", resp: poolPages(ps)}}
		}
	} else {
		n, err := fetchOne(ctx, c, s)
		if err != nil {
			return nil, err
		}
		pages = []pageResult{{label: "page 1", resp: n}}
	}
	if c.Compare == Unordered {
		for i, p := range pages {
			if p.resp.value == nil {
				continue
			}
			n := *p.resp
			n.value = sortItems(n.value)
			n.body = string(ojson.MustMarshal(n.value))
			pages[i].resp = &n
		}
	}
	return pages, nil
}

// diffObserved compares the expected answer a (oracle) with b (Understage)
// the way the live harness does.
func diffObserved(c Case, a, b []pageResult) string {
	if c.FollowCursors && c.Compare != Unordered {
		return diffPages(c.Compare, a, b)
	}
	if len(a) != 1 || len(b) != 1 {
		return fmt.Sprintf("expected one response each, have %d and %d\n", len(a), len(b))
	}
	return diffResponses(c.Compare, a[0].resp, b[0].resp)
}

func encodeGolden(c Case, pages []pageResult) ([]byte, error) {
	req, err := requestOf(c)
	if err != nil {
		return nil, err
	}
	g := goldenFile{Request: req}
	for _, p := range pages {
		r := goldenResponse{Page: p.label, Status: p.resp.status, ContentType: p.resp.contentType, Link: p.resp.link, Canonical: p.resp.canonical}
		switch {
		case c.Compare == StatusOnly:
			// Bodies are not compared; keeping them would only churn the file.
		case p.resp.value != nil || p.resp.body == "null":
			r.JSON = json.RawMessage(p.resp.body)
		default:
			r.Text = p.resp.body
		}
		g.Responses = append(g.Responses, r)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		return nil, fmt.Errorf("encode golden file: %w", err)
	}
	return buf.Bytes(), nil
}

// decodeGolden reads a golden file back into pages comparable with observeCase's.
func decodeGolden(data []byte) (goldenRequest, []pageResult, error) {
	var g goldenFile
	if err := json.Unmarshal(data, &g); err != nil {
		return g.Request, nil, fmt.Errorf("decode golden file: %w", err)
	}
	if len(g.Responses) == 0 {
		return g.Request, nil, errors.New("golden file has no responses")
	}
	pages := make([]pageResult, 0, len(g.Responses))
	for _, r := range g.Responses {
		n := &normalized{status: r.Status, contentType: r.ContentType, link: r.Link, canonical: r.Canonical, body: r.Text}
		if len(r.JSON) > 0 {
			v, err := ojson.Decode(r.JSON)
			if err != nil {
				return g.Request, nil, fmt.Errorf("decode body of %s: %w", r.Page, err)
			}
			n.value = v
			n.body = string(ojson.MustMarshal(v))
		}
		pages = append(pages, pageResult{label: r.Page, resp: n})
	}
	return g.Request, pages, nil
}

// staleness explains how the recorded request differs from c, or returns "".
func staleness(c Case, recorded goldenRequest) (string, error) {
	want, err := requestOf(c)
	if err != nil {
		return "", err
	}
	a, _ := json.Marshal(recorded)
	b, _ := json.Marshal(want)
	if bytes.Equal(a, b) {
		return "", nil
	}
	return fmt.Sprintf("recorded request %s, case now sends %s", a, b), nil
}

func checkCaseNames(cases []Case) error {
	seen := map[string]bool{}
	for _, c := range cases {
		if c.Name == "" || strings.Contains(c.Name, "..") || strings.HasPrefix(c.Name, "/") {
			return fmt.Errorf("case name %q cannot name a golden file", c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("two cases are named %q", c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

// goldenNames lists the case names that have a golden file in dir.
func goldenNames(dir string) ([]string, error) {
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		names = append(names, strings.TrimSuffix(filepath.ToSlash(rel), ".json"))
		return nil
	})
	sort.Strings(names)
	return names, err
}

func newHTTPClient() *http.Client {
	return &http.Client{
		Timeout: 60 * time.Second,
		// Redirects are part of the contract; never follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// RecordGolden asks the oracle at oracleURL every case of the suite twice and
// writes the normalised answer into the suite's golden folder, one file per
// case; golden files of cases that no longer exist are removed. A case whose
// two answers differ (after masking, in its compare mode) is not
// deterministic enough to be recorded and fails. An oracle that has not
// loaded the suite's corpus skips the test.
func RecordGolden(t *testing.T, suite Suite, oracleURL string) {
	t.Helper()
	cases, dir := suite.Cases, suite.GoldenDir
	if err := checkCaseNames(cases); err != nil {
		t.Fatal(err)
	}
	if suite.ServeHTTP {
		serveCorpus(t, suite.Corpus)
	}
	or, err := newSide(t.Context(), newHTTPClient(), "oracle", oracleURL, os.Getenv(EnvOracleRoot), suite.RootLocation)
	// A corpus served from here only now can take the oracle a processing
	// interval or two to read.
	for wait := time.Now().Add(corpusWait); suite.ServeHTTP && errors.Is(err, errNoCorpus) && time.Now().Before(wait); {
		time.Sleep(time.Second)
		or, err = newSide(t.Context(), newHTTPClient(), "oracle", oracleURL, os.Getenv(EnvOracleRoot), suite.RootLocation)
	}
	if errors.Is(err, errNoCorpus) {
		t.Skipf("oracle has not loaded the %s suite: %v", suite.Name, err)
	}
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	if suite.ServeHTTP {
		// While nothing served the corpus the oracle's refreshes failed and
		// left errors in the status of its entities; let a few processing
		// intervals (PT2S on the harness's oracle) clear them.
		time.Sleep(corpusSettle)
	}
	t.Logf("oracle corpus root: %q", or.root)
	keep := map[string]bool{}
	written := 0
	for _, c := range cases {
		keep[c.Name] = true
		t.Run(c.Name, func(t *testing.T) {
			first, err := observeCase(t, c, or)
			if err != nil {
				t.Fatalf("%s %s: %v", c.Method, c.Path, err)
			}
			again := first
			if !c.Mutates {
				if again, err = observeCase(t, c, or); err != nil {
					t.Fatalf("%s %s: %v", c.Method, c.Path, err)
				}
			}
			if d := diffObserved(c, first, again); d != "" {
				t.Fatalf("%s %s (%s): the oracle answered differently when asked twice; make the case deterministic before recording it\n%s", c.Method, c.Path, c.Compare, d)
			}
			data, err := encodeGolden(c, first)
			if err != nil {
				t.Fatal(err)
			}
			p := GoldenPath(dir, c.Name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			written++
		})
	}
	names, err := goldenNames(dir)
	if err != nil {
		t.Fatalf("list golden files: %v", err)
	}
	for _, n := range names {
		if keep[n] {
			continue
		}
		if err := os.Remove(GoldenPath(dir, n)); err != nil {
			t.Errorf("remove stale golden file: %v", err)
			continue
		}
		t.Logf("removed the golden file of the deleted case %q", n)
	}
	t.Logf("golden: recorded %d of %d cases into %s", written, len(cases), dir)
}

// ReplayOptions configures ReplayGolden.
type ReplayOptions struct {
	// SpecExempt names cases whose recorded Backstage answer itself breaks
	// Backstage's published spec; they are exempt only while understage
	// answers exactly as the recording does.
	SpecExempt map[string]string
	// Known lists the cases where Understage is known to answer differently
	// from the recording, with the reason. Their differences are logged, not
	// failed; a known case that matches fails so that the list stays short.
	Known map[string]string
	// Spec, when set, is the catalog OpenAPI document every response the
	// server gives (every page of a cursor walk too) must conform to.
	Spec *openapi3.T
}

// GoldenSummary counts the outcome of ReplayGolden.
type GoldenSummary struct {
	Matching, Total int
	Mismatched      []string
	KnownDiffering  []string
	// SpecChecked and SpecFailed count responses checked against Spec.
	SpecChecked, SpecFailed int
}

func (s GoldenSummary) String() string {
	return fmt.Sprintf("golden: %d matching of %d cases", s.Matching, s.Total)
}

// ReplayGolden sends every case of the suite to the server at baseURL and
// compares its normalised answers with the golden files, one subtest per
// case; a case without a golden file, or whose golden file was recorded for
// another request, fails. Golden files without a case fail too.
func ReplayGolden(t *testing.T, suite Suite, baseURL string, o ReplayOptions) GoldenSummary {
	t.Helper()
	cases, dir := suite.Cases, suite.GoldenDir
	if err := checkCaseNames(cases); err != nil {
		t.Fatal(err)
	}
	s, err := newSide(t.Context(), newHTTPClient(), "understage", baseURL, "", suite.RootLocation)
	if err != nil {
		t.Fatalf("understage: %v", err)
	}
	t.Logf("understage corpus root: %q", s.root)
	var projected *openapi3.T
	if o.Spec != nil {
		if projected, err = ProjectionSpec(t.Context(), o.Spec); err != nil {
			t.Fatalf("ProjectionSpec: %v", err)
		}
	}

	var sum GoldenSummary
	caseNames := map[string]bool{}
	for _, c := range cases {
		sum.Total++
		caseNames[c.Name] = true
		matched := false
		t.Run(c.Name, func(t *testing.T) {
			data, err := os.ReadFile(GoldenPath(dir, c.Name))
			if err != nil {
				t.Fatalf("golden: no recorded answer (%v); record it with %s=<oracle url> go test -run TestRecordGolden", err, EnvRecordOracle)
			}
			recorded, want, err := decodeGolden(data)
			if err != nil {
				t.Fatalf("golden: %s: %v", GoldenPath(dir, c.Name), err)
			}
			if why, err := staleness(c, recorded); err != nil {
				t.Fatal(err)
			} else if why != "" {
				t.Fatalf("golden: stale golden file, record it again (%s=<oracle url> go test -run TestRecordGolden): %s", EnvRecordOracle, why)
			}

			var seen []observed
			s.observe = func(method, path string, r *response) { seen = append(seen, observed{method, path, r}) }
			got, err := observeCase(t, c, s)
			s.observe = nil
			if err != nil {
				t.Fatalf("%s %s: %v", c.Method, c.Path, err)
			}

			diff := diffObserved(c, want, got)
			reason, isKnown := o.Known[c.Name]
			switch {
			case diff == "" && isKnown:
				t.Errorf("golden: matches now although listed as a known difference (%s); remove it from the list", reason)
			case diff == "":
				matched = true
			case isKnown:
				t.Logf("golden: known difference (%s):\n%s", reason, diff)
				sum.KnownDiffering = append(sum.KnownDiffering, c.Name)
			default:
				t.Errorf("golden: %s %s (%s): responses differ (- oracle recording, + understage)\n%s", c.Method, c.Path, c.Compare, diff)
			}

			if o.Spec == nil {
				return
			}
			if why, ok := o.SpecExempt[c.Name]; ok && matched {
				t.Logf("openapi: not checked, %s", why)
				return
			}
			for _, r := range seen {
				u, err := url.Parse(r.path)
				if err != nil {
					t.Fatal(err)
				}
				use := o.Spec
				if usesProjection(c, u.Query()) {
					use = projected
				}
				sum.SpecChecked++
				if err := CheckResponse(t.Context(), use, r.method, u.Path, u.Query(), r.resp.status, r.resp.header, r.resp.body); err != nil {
					sum.SpecFailed++
					t.Errorf("openapi: %s %s → %d: %v", r.method, r.path, r.resp.status, err)
				}
			}
		})
		if matched {
			sum.Matching++
		} else if _, isKnown := o.Known[c.Name]; !isKnown {
			sum.Mismatched = append(sum.Mismatched, c.Name)
		}
	}
	for name := range o.Known {
		if !caseNames[name] {
			t.Errorf("known difference listed for %q, which is not a case", name)
		}
	}
	names, err := goldenNames(dir)
	if err != nil {
		t.Fatalf("list golden files: %v", err)
	}
	for _, n := range names {
		if !caseNames[n] {
			t.Errorf("golden file %s belongs to no case; record again to remove it", GoldenPath(dir, n))
		}
	}

	t.Log(sum.String())
	if len(sum.Mismatched) > 0 {
		t.Logf("mismatched: %s", strings.Join(sum.Mismatched, ", "))
	}
	if len(sum.KnownDiffering) > 0 {
		t.Logf("known differences: %s", strings.Join(sum.KnownDiffering, ", "))
	}
	if o.Spec != nil {
		t.Logf("openapi: %d of %d responses conform to the catalog spec", sum.SpecChecked-sum.SpecFailed, sum.SpecChecked)
	}
	return sum
}

// observed is one raw response seen during a case.
type observed struct {
	method, path string
	resp         *response
}
