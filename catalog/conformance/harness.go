// Package conformance compares Understage with a real Backstage backend (the
// "oracle") by sending the same HTTP requests to both and diffing the answers.
//
// Both servers are expected to load the same catalog corpus
// (testdata/corpus/all.yaml) from possibly different folders. Values that
// legitimately differ between two installations (uids, etags, location ids,
// cursors, the corpus folder, timestamps) are masked before comparing; all
// other bytes, including the key order of JSON objects, must be equal.
//
// Running: start both servers with testdata/corpus/all.yaml as their only
// catalog location (a file location; config rules must allow every kind),
// then
//
//	UNDERSTAGE_URL=http://127.0.0.1:7007 UNDERSTAGE_ORACLE_URL=http://127.0.0.1:7150 \
//	  CGO_ENABLED=0 go test ./catalog/conformance/ -run TestReadConformance -v
//
// Without both variables the live tests skip. Each side's corpus folder is
// found through the root Location's managed-by-location annotation, or set
// with UNDERSTAGE_CORPUS_ROOT / UNDERSTAGE_ORACLE_CORPUS_ROOT. The OpenAPI
// tests (TestOracleResponsesMatchSpec, TestUnderstageResponsesMatchSpec) need
// npm and node to fetch the published spec; UNDERSTAGE_SPEC_CACHE sets where
// it is cached (default: the user cache dir).
//
// Without an oracle, TestGoldenSQLite and TestGoldenPostgres compare an
// in-process Understage with the oracle's answers recorded in
// testdata/golden (see golden.go; TestRecordGolden records them).
package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/understage/understage/catalog/model"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend/ojson"
)

// CompareMode says how strictly two JSON bodies are compared.
type CompareMode int

const (
	// Exact compares the normalised bodies byte for byte.
	Exact CompareMode = iota
	// Unordered sorts the entity list before comparing: the top-level array,
	// or the "items" array of an object. Use it where Backstage orders by the
	// random uid (the unpaginated GET /entities stream, by-query without an
	// order field, ties of an order field).
	Unordered
	// StatusOnly compares only the status codes and Content-Type.
	StatusOnly
)

func (m CompareMode) String() string {
	switch m {
	case Exact:
		return "exact"
	case Unordered:
		return "unordered"
	case StatusOnly:
		return "status-only"
	}
	return fmt.Sprintf("CompareMode(%d)", int(m))
}

// Case is one request sent to both servers.
//
// Path is relative to the server's base URL and includes the query string. It
// may contain {uid:<entity ref>} which is replaced, separately on each side,
// by the uid that side gave to that entity. Body is sent as JSON (a string is
// sent verbatim); when Body is set and Headers has no Content-Type,
// application/json is used.
type Case struct {
	Name    string
	Method  string
	Path    string
	Body    any
	Headers map[string]string
	Compare CompareMode
	// FollowCursors walks every page: pageInfo.nextCursor to the end and then
	// prevCursor back to the start (by-query), or the rel="next" Link header
	// (GET /entities). Each side follows its own cursors. With Exact the
	// pages are compared one by one; with Unordered all items are pooled.
	FollowCursors bool
	// Mutates marks a case that changes state (registering a location):
	// it is sent once, and cases after it see the change.
	Mutates bool
}

// Summary counts the outcome of Run.
type Summary struct {
	Matching   int
	Total      int
	Mismatched []string
}

func (s Summary) String() string {
	return fmt.Sprintf("conformance: %d matching of %d cases", s.Matching, s.Total)
}

// Env names read by the tests of this package.
const (
	EnvUnderstageURL = "UNDERSTAGE_URL"
	EnvOracleURL     = "UNDERSTAGE_ORACLE_URL"
	// Optional overrides of the corpus folder of each side; by default it is
	// discovered from the corpus root Location entity.
	EnvUnderstageRoot = "UNDERSTAGE_CORPUS_ROOT"
	EnvOracleRoot     = "UNDERSTAGE_ORACLE_CORPUS_ROOT"
)

// CorpusRootLocation is the name of the Location entity in testdata/corpus/all.yaml.
const CorpusRootLocation = "conformance-corpus"

// errNoCorpus is returned by newSide when the server has not loaded the corpus.
var errNoCorpus = errors.New("corpus not loaded")

// Run sends every case to both servers, one subtest per case, and fails the
// subtests whose normalised responses differ. It logs and returns a summary.
func Run(t *testing.T, cases []Case, understageURL, oracleURL string) Summary {
	t.Helper()
	ctx := t.Context()
	client := &http.Client{
		Timeout: 60 * time.Second,
		// Redirects are part of the contract; never follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	us, err := newSide(ctx, client, "understage", understageURL, os.Getenv(EnvUnderstageRoot), CorpusRootLocation)
	if err != nil {
		t.Fatalf("understage: %v", err)
	}
	or, err := newSide(ctx, client, "oracle", oracleURL, os.Getenv(EnvOracleRoot), CorpusRootLocation)
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	t.Logf("corpus roots: understage %q, oracle %q", us.root, or.root)

	var sum Summary
	for _, c := range cases {
		sum.Total++
		ok := t.Run(c.Name, func(t *testing.T) {
			diff, err := compareCase(ctx, c, us, or)
			if err != nil {
				t.Fatalf("%s %s: %v", c.Method, c.Path, err)
			}
			if diff != "" {
				t.Errorf("%s %s (%s): responses differ (- oracle, + understage)\n%s", c.Method, c.Path, c.Compare, diff)
			}
		})
		if ok {
			sum.Matching++
		} else {
			sum.Mismatched = append(sum.Mismatched, c.Name)
		}
	}
	t.Log(sum.String())
	if len(sum.Mismatched) > 0 {
		t.Logf("mismatched: %s", strings.Join(sum.Mismatched, ", "))
	}
	return sum
}

// side is one server under test plus what is needed to normalise its answers.
type side struct {
	name   string
	base   string
	root   string // corpus folder, replaced by <ROOT>
	client *http.Client
	uids   map[string]string // lowercased entity ref → uid
	// observe, when set, sees every raw response before it is normalised
	// (the in-process golden test validates them against the OpenAPI spec).
	observe func(method, path string, resp *response)
}

// newSide connects to one server; root is its corpus folder, or "" to find
// it through the Location entity named rootLocation.
func newSide(ctx context.Context, client *http.Client, name, base, root, rootLocation string) (*side, error) {
	s := &side{name: name, base: strings.TrimRight(base, "/"), root: strings.TrimRight(root, "/"), client: client, uids: map[string]string{}}
	if s.root == "" {
		r, err := s.discoverRoot(ctx, rootLocation)
		if err != nil {
			return nil, err
		}
		s.root = r
	}
	return s, nil
}

// discoverRoot reads the folder of the corpus from the managed-by-location
// annotation of its root Location ("file:<root>/all.yaml", or
// "url:<root>/all.yaml" for a corpus served over HTTP).
func (s *side) discoverRoot(ctx context.Context, rootLocation string) (string, error) {
	resp, err := s.do(ctx, http.MethodGet, "/api/catalog/entities/by-name/location/default/"+url.PathEscape(rootLocation), nil, nil)
	if err != nil {
		return "", err
	}
	if resp.status != http.StatusOK {
		return "", fmt.Errorf("%w: corpus root location %q not found (status %d): is the corpus's all.yaml loaded?", errNoCorpus, rootLocation, resp.status)
	}
	o, err := ojson.DecodeObject(resp.body)
	if err != nil {
		return "", fmt.Errorf("decode corpus root location: %w", err)
	}
	loc := o.Object("metadata").Object("annotations").String("backstage.io/managed-by-location")
	typ, target, _ := strings.Cut(loc, ":")
	if typ != "file" && typ != "url" {
		return "", fmt.Errorf("corpus root location has managed-by-location %q, want a file or url location", loc)
	}
	i := strings.LastIndexByte(target, '/')
	if i < 0 {
		return "", fmt.Errorf("corpus root location target %q has no folder", target)
	}
	return target[:i], nil
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (s *side) do(ctx context.Context, method, path string, body any, headers map[string]string) (*response, error) {
	var rd io.Reader
	hasBody := body != nil
	if hasBody {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		case []byte:
			rd = bytes.NewReader(b)
		default:
			data, err := json.Marshal(body)
			if err != nil {
				return nil, fmt.Errorf("encode body: %w", err)
			}
			// {root} in a body is this side's corpus folder (e.g. a file
			// location to register), JSON-escaped.
			root, _ := json.Marshal(s.root)
			data = bytes.ReplaceAll(data, []byte("{root}"), root[1:len(root)-1])
			rd = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if hasBody {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read body: %w", s.name, err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, body: data}
	if s.observe != nil {
		s.observe(method, path, out)
	}
	return out, nil
}

var uidPlaceholder = regexp.MustCompile(`\{uid:([^}]+)\}`)

// locPlaceholder is {loc:<type>:<target>}: the id of that registered
// location on this side; {root} in the target is the side's corpus folder.
var locPlaceholder = regexp.MustCompile(`\{loc:([^:{}]+):((?:[^{}]|\{root\})*)\}`)

// resolve replaces {uid:<ref>} by this side's uid for the entity, and
// {loc:<type>:<target>} by the id of a registered location.
func (s *side) resolve(ctx context.Context, path string) (string, error) {
	var firstErr error
	path = locPlaceholder.ReplaceAllStringFunc(path, func(m string) string {
		sub := locPlaceholder.FindStringSubmatch(m)
		id, err := s.locationID(ctx, sub[1], strings.ReplaceAll(sub[2], "{root}", s.root))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return id
	})
	out := uidPlaceholder.ReplaceAllStringFunc(path, func(m string) string {
		ref := strings.ToLower(uidPlaceholder.FindStringSubmatch(m)[1])
		uid, err := s.uid(ctx, ref)
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return uid
	})
	return out, firstErr
}

func (s *side) locationID(ctx context.Context, typ, target string) (string, error) {
	resp, err := s.do(ctx, http.MethodGet, "/api/catalog/locations", nil, nil)
	if err != nil {
		return "", err
	}
	var list []struct {
		Data struct{ ID, Type, Target string }
	}
	if err := json.Unmarshal(resp.body, &list); err != nil {
		return "", fmt.Errorf("%s: list locations: %w", s.name, err)
	}
	for _, l := range list {
		if l.Data.Type == typ && l.Data.Target == target {
			return l.Data.ID, nil
		}
	}
	// Not registered (e.g. after a delete): an id nobody has.
	return "00000000-0000-4000-8000-000000000000", nil
}

func (s *side) uid(ctx context.Context, ref string) (string, error) {
	if uid, ok := s.uids[ref]; ok {
		return uid, nil
	}
	r, err := model.ParseRef(ref, model.RefDefaults{})
	if err != nil {
		return "", fmt.Errorf("uid placeholder needs a full ref: %w", err)
	}
	kind, ns, name := r.Kind, r.Namespace, r.Name
	resp, err := s.do(ctx, http.MethodGet, "/api/catalog/entities/by-name/"+url.PathEscape(kind)+"/"+url.PathEscape(ns)+"/"+url.PathEscape(name), nil, nil)
	if err != nil {
		return "", err
	}
	if resp.status != http.StatusOK {
		return "", fmt.Errorf("%s: entity %s not found (status %d)", s.name, ref, resp.status)
	}
	o, err := ojson.DecodeObject(resp.body)
	if err != nil {
		return "", fmt.Errorf("%s: decode %s: %w", s.name, ref, err)
	}
	uid := o.Object("metadata").String("uid")
	s.uids[ref] = uid
	return uid, nil
}

// compareCase runs c against both sides and returns a readable diff, or "" when they match.
func compareCase(ctx context.Context, c Case, us, or *side) (string, error) {
	if !c.FollowCursors {
		a, err := fetchOne(ctx, c, or)
		if err != nil {
			return "", err
		}
		b, err := fetchOne(ctx, c, us)
		if err != nil {
			return "", err
		}
		return diffResponses(c.Compare, a, b), nil
	}
	pa, err := fetchPages(ctx, c, or)
	if err != nil {
		return "", err
	}
	pb, err := fetchPages(ctx, c, us)
	if err != nil {
		return "", err
	}
	return diffPages(c.Compare, pa, pb), nil
}

// normalized is a response after masking, ready to be compared.
type normalized struct {
	status      int
	contentType string
	link        string
	body        string // canonical JSON (or the masked raw text when not JSON)
	value       any    // decoded JSON body, nil when not JSON
	canonical   bool   // the raw body was already encoded like JSON.stringify
}

func fetchOne(ctx context.Context, c Case, s *side) (*normalized, error) {
	path, err := s.resolve(ctx, c.Path)
	if err != nil {
		return nil, err
	}
	resp, err := s.do(ctx, c.Method, path, c.Body, c.Headers)
	if err != nil {
		return nil, err
	}
	return s.normalize(resp), nil
}

func (s *side) normalize(resp *response) *normalized {
	m := masker{root: s.root}
	n := &normalized{
		status:      resp.status,
		contentType: resp.header.Get("Content-Type"),
		link:        m.link(resp.header.Get("Link")),
	}
	if len(bytes.TrimSpace(resp.body)) > 0 {
		if v, err := ojson.Decode(resp.body); err == nil {
			if enc, err := ojson.Marshal(v); err == nil {
				n.canonical = bytes.Equal(enc, resp.body)
			}
			n.value = m.value(v)
			n.body = string(ojson.MustMarshal(n.value))
			return n
		}
	}
	n.canonical = true
	n.body = m.text(string(resp.body))
	return n
}

// pageResult is one page of a cursor walk.
type pageResult struct {
	label string
	resp  *normalized
}

// maxPages bounds a cursor walk so that a server that never stops paging fails instead of hanging.
const maxPages = 100

func fetchPages(ctx context.Context, c Case, s *side) ([]pageResult, error) {
	path, err := s.resolve(ctx, c.Path)
	if err != nil {
		return nil, err
	}
	first, err := s.do(ctx, c.Method, path, c.Body, c.Headers)
	if err != nil {
		return nil, err
	}
	pages := []pageResult{{label: "page 1", resp: s.normalize(first)}}
	raw := first

	// GET /entities: follow the rel="next" Link header.
	if link := raw.header.Get("Link"); link != "" || strings.HasPrefix(path, "/api/catalog/entities?") || path == "/api/catalog/entities" {
		for i := 2; ; i++ {
			next := nextLink(raw.header.Get("Link"))
			if next == "" {
				return pages, nil
			}
			if i > maxPages {
				return nil, fmt.Errorf("%s: more than %d pages", s.name, maxPages)
			}
			// The link is relative to the plugin's mount point.
			raw, err = s.do(ctx, http.MethodGet, pluginPrefix(path)+next, nil, c.Headers)
			if err != nil {
				return nil, err
			}
			pages = append(pages, pageResult{label: fmt.Sprintf("page %d", i), resp: s.normalize(raw)})
		}
	}

	// by-query: nextCursor forwards, then prevCursor backwards.
	cursorReq := func(cursor string) (*response, error) {
		if c.Method == http.MethodPost {
			body := map[string]any{"cursor": cursor}
			if b, ok := c.Body.(map[string]any); ok {
				for _, k := range []string{"limit", "fields"} {
					if v, ok := b[k]; ok {
						body[k] = v
					}
				}
			}
			return s.do(ctx, http.MethodPost, path, body, c.Headers)
		}
		u, err := url.Parse(path)
		if err != nil {
			return nil, fmt.Errorf("parse path: %w", err)
		}
		q := url.Values{}
		// Like @backstage/catalog-client: with a cursor only limit and fields are sent.
		for _, k := range []string{"limit", "fields"} {
			if v, ok := u.Query()[k]; ok {
				q[k] = v
			}
		}
		q.Set("cursor", cursor)
		return s.do(ctx, http.MethodGet, u.Path+"?"+q.Encode(), nil, c.Headers)
	}
	for _, dir := range []string{"nextCursor", "prevCursor"} {
		for i := 1; ; i++ {
			cur := pageCursor(raw.body, dir)
			if cur == "" {
				break
			}
			if len(pages) > maxPages {
				return nil, fmt.Errorf("%s: more than %d pages", s.name, maxPages)
			}
			raw, err = cursorReq(cur)
			if err != nil {
				return nil, err
			}
			pages = append(pages, pageResult{label: fmt.Sprintf("%s step %d", dir, i), resp: s.normalize(raw)})
		}
	}
	return pages, nil
}

func pluginPrefix(path string) string {
	// "/api/catalog/entities?..." → "/api/catalog"
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return "/" + parts[0] + "/" + parts[1]
}

var linkNext = regexp.MustCompile(`<([^>]*)>\s*;\s*rel="?next"?`)

func nextLink(h string) string {
	m := linkNext.FindStringSubmatch(h)
	if m == nil {
		return ""
	}
	return m[1]
}

func pageCursor(body []byte, key string) string {
	o, err := ojson.DecodeObject(body)
	if err != nil {
		return ""
	}
	return o.Object("pageInfo").String(key)
}

func diffPages(mode CompareMode, a, b []pageResult) string {
	if mode == Unordered {
		pa, pb := poolPages(a), poolPages(b)
		return diffResponses(Unordered, pa, pb)
	}
	var out strings.Builder
	for i := 0; i < max(len(a), len(b)); i++ {
		switch {
		case i >= len(a):
			fmt.Fprintf(&out, "%s: only understage has this page\n", b[i].label)
		case i >= len(b):
			fmt.Fprintf(&out, "%s: only the oracle has this page\n", a[i].label)
		case a[i].label != b[i].label:
			fmt.Fprintf(&out, "page %d: oracle walked %q, understage %q\n", i+1, a[i].label, b[i].label)
		default:
			if d := diffResponses(mode, a[i].resp, b[i].resp); d != "" {
				fmt.Fprintf(&out, "%s:\n%s", a[i].label, d)
			}
		}
	}
	return out.String()
}

// poolPages merges the pages of a walk into one response for Unordered
// comparison. Which items land on which page depends on the uids, so only the
// forward walk's items are pooled; every page contributes its status, item
// count and the rest of its body. The backward walk must revisit exactly the
// forward items minus the last forward page; a side where it does not is
// flagged with "backwardWalkConsistent": false.
func poolPages(ps []pageResult) *normalized {
	var forward, backward, lastForward []any
	var shells []any
	for _, p := range ps {
		shell := ojson.NewObject("page", p.label, "status", ojson.NumberFromFloat(float64(p.resp.status)), "link", p.resp.link)
		var items []any
		switch v := p.resp.value.(type) {
		case []any:
			items = v
		case *ojson.Object:
			rest := v.Clone()
			if it, ok := rest.Get("items"); ok {
				items, _ = it.([]any)
				rest.Delete("items")
			}
			shell.Set("body", rest)
		default:
			shell.Set("body", p.resp.body)
		}
		shell.Set("itemCount", ojson.NumberFromFloat(float64(len(items))))
		if strings.HasPrefix(p.label, "prevCursor") {
			backward = append(backward, items...)
		} else {
			forward = append(forward, items...)
			lastForward = items
		}
		shells = append(shells, shell)
	}
	if forward == nil {
		forward = []any{}
	}
	v := ojson.NewObject("pages", shells, "items", forward)
	if len(backward) > 0 {
		revisited := append(append([]any{}, backward...), lastForward...)
		consistent := string(ojson.MustMarshal(sortItems(revisited))) == string(ojson.MustMarshal(sortItems(forward)))
		v.Set("backwardWalkConsistent", consistent)
	}
	first := ps[0].resp
	return &normalized{status: first.status, contentType: first.contentType, value: v, body: string(ojson.MustMarshal(v)), canonical: allCanonical(ps)}
}

func allCanonical(ps []pageResult) bool {
	for _, p := range ps {
		if !p.resp.canonical {
			return false
		}
	}
	return true
}

// diffResponses compares the oracle's response a with Understage's b.
func diffResponses(mode CompareMode, a, b *normalized) string {
	var out strings.Builder
	if a.status != b.status {
		fmt.Fprintf(&out, "status: oracle %d, understage %d\n", a.status, b.status)
	}
	if a.contentType != b.contentType {
		fmt.Fprintf(&out, "Content-Type: oracle %q, understage %q\n", a.contentType, b.contentType)
	}
	if mode == StatusOnly {
		return out.String()
	}
	if a.link != b.link {
		fmt.Fprintf(&out, "Link: oracle %q, understage %q\n", a.link, b.link)
	}
	if a.canonical && !b.canonical {
		out.WriteString("body: understage's JSON is not encoded the way JSON.stringify encodes it (whitespace or escapes differ)\n")
	}
	ba, bb := a.body, b.body
	if mode == Unordered && a.value != nil && b.value != nil {
		ba, bb = string(ojson.MustMarshal(sortItems(a.value))), string(ojson.MustMarshal(sortItems(b.value)))
	}
	if ba != bb {
		out.WriteString("body:\n")
		out.WriteString(lineDiff(pretty(ba), pretty(bb)))
	}
	return out.String()
}

// sortItems returns v with its entity list sorted by canonical encoding.
func sortItems(v any) any {
	sortArr := func(arr []any) []any {
		c := make([]any, len(arr))
		copy(c, arr)
		keys := make([]string, len(c))
		idx := make([]int, len(c))
		for i, e := range c {
			keys[i] = string(ojson.MustMarshal(e))
			idx[i] = i
		}
		sort.SliceStable(idx, func(i, j int) bool { return keys[idx[i]] < keys[idx[j]] })
		out := make([]any, len(c))
		for i, k := range idx {
			out[i] = c[k]
		}
		return out
	}
	switch t := v.(type) {
	case []any:
		return sortArr(t)
	case *ojson.Object:
		it, ok := t.Get("items")
		arr, isArr := it.([]any)
		if !ok || !isArr {
			return v
		}
		c := t.Clone()
		c.Set("items", sortArr(arr))
		return c
	}
	return v
}

func pretty(s string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		return s
	}
	return b.String()
}
