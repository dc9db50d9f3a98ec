package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode/utf16"
)

// bodiesGolden holds the oracle's answers to oversized and malformed bodies
// on every POST and PUT route of the catalog. Recording:
//
//	UNDERSTAGE_RECORD_ORACLE=http://127.0.0.1:7150 go test ./catalog/httpapi -run TestRecordBodies
const bodiesGolden = "testdata/bodies.oracle.json"

// bodyRoutes are the catalog's POST and PUT routes (unprocessed entities
// aside); the PUT names a location that does not exist.
var bodyRoutes = []struct{ method, path string }{
	{"POST", "/refresh"},
	{"POST", "/entities/by-query"},
	{"POST", "/entities/by-refs"},
	{"POST", "/entity-facets"},
	{"POST", "/validate-entity"},
	{"POST", "/locations"},
	{"POST", "/locations?dryRun=true"},
	{"POST", "/locations/by-query"},
	{"PUT", "/locations/00000000-0000-4000-8000-000000000000"},
	{"POST", "/analyze-location"},
}

type bodyCase struct {
	name    string
	body    []byte
	headers map[string]string
	chunked bool // sent without a Content-Length
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func zlibbed(b []byte) []byte {
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func utf16LE(s string, bom bool) []byte {
	var out []byte
	if bom {
		out = append(out, 0xff, 0xfe)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u), byte(u>>8))
	}
	return out
}

func utf16BE(s string) []byte {
	var out []byte
	for _, u := range utf16.Encode([]rune(s)) {
		out = append(out, byte(u>>8), byte(u))
	}
	return out
}

func bodyCases() []bodyCase {
	const small = `{"entityRefs":[],"limit":1,"facets":["kind"]}`
	padded := func(n int) []byte { // valid JSON of exactly n bytes
		return []byte(`{"x":"` + strings.Repeat("a", n-8) + `"}`)
	}
	gz := gzipped([]byte(small))
	badCRC := append([]byte{}, gz...)
	badCRC[len(badCRC)-8] ^= 0xff
	z := zlibbed([]byte(small))
	json := map[string]string{"Content-Type": "application/json"}
	with := func(kv ...string) map[string]string {
		h := map[string]string{"Content-Type": "application/json"}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	return []bodyCase{
		{name: "200 KiB", body: padded(200 << 10), headers: json},
		{name: "200 KiB chunked", body: padded(200 << 10), headers: json, chunked: true},
		{name: "100 KiB", body: padded(100 << 10), headers: json},
		{name: "100 KiB and a byte", body: padded(100<<10 + 1), headers: json},
		{name: "100 KiB and a byte chunked", body: padded(100<<10 + 1), headers: json, chunked: true},
		{name: "100000 refs", body: []byte(`{"entityRefs":["` + strings.Repeat(`component:default/x","`, 100000) + `"]}`), headers: json},
		{name: "truncated JSON", body: []byte(`{"x":`), headers: json},
		{name: "not JSON", body: []byte(`hello`), headers: json},
		{name: "text/plain", body: []byte(small), headers: map[string]string{"Content-Type": "text/plain"}},
		{name: "garbage media type", body: []byte(small), headers: map[string]string{"Content-Type": "///"}},
		{name: "invalid media type parameter", body: []byte(small), headers: with("Content-Type", "application/json; charset=")},
		{name: "charset latin1", body: []byte(small), headers: with("Content-Type", "application/json; charset=latin1")},
		{name: "charset utf-9", body: []byte(small), headers: with("Content-Type", "application/json; charset=utf-9")},
		{name: "charset UTF-8", body: []byte(small), headers: with("Content-Type", "application/json; charset=UTF-8")},
		{name: "charset utf-16 with BOM", body: utf16LE(small, true), headers: with("Content-Type", "application/json; charset=utf-16")},
		{name: "charset utf-16le", body: utf16LE(small, false), headers: with("Content-Type", "application/json; charset=utf-16le")},
		{name: "utf-16 without a charset", body: utf16LE(small, true), headers: json},
		{name: "charset utf-16be", body: utf16BE(small), headers: with("Content-Type", "application/json; charset=UTF-16BE")},
		{name: "charset utf-16 big endian without BOM", body: utf16BE(small), headers: with("Content-Type", "application/json; charset=utf-16")},
		{name: "charset utf-7", body: []byte(`{"entityRefs":[],"limit":1,"facets":["+AGs-ind"]}`), headers: with("Content-Type", "application/json; charset=utf-7")},
		{name: "charset latin1, 200 KiB", body: padded(200 << 10), headers: with("Content-Type", "application/json; charset=latin1")},
		{name: "text/plain, 200 KiB", body: padded(200 << 10), headers: map[string]string{"Content-Type": "text/plain"}},
		{name: "nested 5000 levels", body: []byte(`{"entityRefs":[],"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`), headers: json},
		{name: "encoding br", body: []byte(small), headers: with("Content-Encoding", "br")},
		{name: "encoding list", body: gz, headers: with("Content-Encoding", "gzip, identity")},
		{name: "gzip", body: gz, headers: with("Content-Encoding", "gzip")},
		{name: "gzip upper case", body: gz, headers: with("Content-Encoding", "GZIP")},
		{name: "gzip truncated", body: gz[:len(gz)-6], headers: with("Content-Encoding", "gzip")},
		{name: "gzip header only", body: gz[:5], headers: with("Content-Encoding", "gzip")},
		{name: "gzip empty", body: nil, headers: with("Content-Encoding", "gzip")},
		{name: "gzip bad checksum", body: badCRC, headers: with("Content-Encoding", "gzip")},
		{name: "gzip not gzip", body: bytes.Repeat([]byte("x"), 100), headers: with("Content-Encoding", "gzip")},
		{name: "gzip trailing garbage", body: append(append([]byte{}, gz...), "xx"...), headers: with("Content-Encoding", "gzip")},
		{name: "gzip two members", body: append(append([]byte{}, gz...), gz...), headers: with("Content-Encoding", "gzip")},
		{name: "gzip bomb", body: gzipped(padded(5 << 20)), headers: with("Content-Encoding", "gzip")},
		{name: "deflate", body: z, headers: with("Content-Encoding", "deflate")},
		{name: "deflate without zlib header", body: z[2 : len(z)-4], headers: with("Content-Encoding", "deflate")},
		{name: "deflate not deflate", body: []byte("garbage!garbage"), headers: with("Content-Encoding", "deflate")},
		{name: "deflate truncated", body: z[:len(z)-3], headers: with("Content-Encoding", "deflate")},
		{name: "deflate bomb", body: zlibbed(padded(5 << 20)), headers: with("Content-Encoding", "deflate")},
	}
}

type bodyAnswer struct {
	Case   string `json:"case"`
	Route  string `json:"route"`
	Status int    `json:"status"`
	// Body is the error envelope verbatim; success bodies depend on the
	// catalog's content and are not kept.
	Body string `json:"body,omitempty"`
}

func sendBody(t *testing.T, base, method, path string, c bodyCase) bodyAnswer {
	t.Helper()
	var r io.Reader = bytes.NewReader(c.body)
	if c.chunked {
		r = io.MultiReader(bytes.NewReader(c.body)) // no length known: chunked
	}
	req, err := http.NewRequest(method, base+"/api/catalog"+path, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", c.name, method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := bodyAnswer{Case: c.name, Route: method + " " + path, Status: res.StatusCode}
	if res.StatusCode >= 400 {
		a.Body = string(b)
	}
	return a
}

func TestRecordBodies(t *testing.T) {
	oracle := os.Getenv("UNDERSTAGE_RECORD_ORACLE")
	if oracle == "" {
		t.Skip("set UNDERSTAGE_RECORD_ORACLE to the oracle's URL to record " + bodiesGolden)
	}
	var out []bodyAnswer
	for _, c := range bodyCases() {
		for _, r := range bodyRoutes {
			out = append(out, sendBody(t, oracle, r.method, r.path, c))
		}
	}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bodiesGolden, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// knownBodyDifferences are answers Understage gives on purpose otherwise,
// by case name.
var knownBodyDifferences = map[string]string{
	"nested 5000 levels": "bodies nested deeper than 1000 levels are refused (Backstage parses any depth; see README)",
}

// TestBodies sends every recorded body case to every POST and PUT route of
// the real server and expects the oracle's status and error envelope.
func TestBodies(t *testing.T) {
	data, err := os.ReadFile(bodiesGolden)
	if err != nil {
		t.Fatal(err)
	}
	var golden []bodyAnswer
	if err := json.Unmarshal(data, &golden); err != nil {
		t.Fatal(err)
	}
	want := map[string]bodyAnswer{}
	for _, a := range golden {
		want[a.Case+"|"+a.Route] = a
	}
	s := startCatalog(t, sqliteYAML(t))
	base := strings.TrimSuffix(s.url, "/api/catalog")
	for _, c := range bodyCases() {
		for _, r := range bodyRoutes {
			t.Run(c.name+"/"+r.method+" "+r.path, func(t *testing.T) {
				w, ok := want[c.name+"|"+r.method+" "+r.path]
				if !ok {
					t.Fatalf("no recorded answer: record %s", bodiesGolden)
				}
				if why, known := knownBodyDifferences[c.name]; known {
					t.Skip(why)
				}
				got := sendBody(t, base, r.method, r.path, c)
				assertNoLeak(t, answer{got.Status, got.Body})
				if got.Status != w.Status || got.Body != w.Body {
					t.Errorf("got %d %.400s\nwant %d %.400s", got.Status, got.Body, w.Status, w.Body)
				}
			})
		}
	}
}
