package processing_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// The expectations of the ingestion tests were recorded from the real
// Backstage (1.55.0: plugin-catalog-backend 4.0.0 with
// plugin-catalog-backend-module-unprocessed 0.6.16) into
// testdata/oracle/golden.json. To record again, run an oracle copy whose
// app-config.yaml has the catalog and backend.reading sections of
// testdata/oracle/app-config.yaml and whose index.js adds the unprocessed
// module, started with INGEST_FIXTURES=<abs path of testdata/oracle/fixtures>;
// then
//
//	UNDERSTAGE_RECORD_INGEST=http://127.0.0.1:7311 go test ./catalog/processing -run TestRecordOracle -v
//
// The test serves the fixtures on oracleFileServer itself (the oracle's
// config allows reading from it) and registers the locations it needs.

const (
	envRecordIngest  = "UNDERSTAGE_RECORD_INGEST"
	oracleGolden     = "testdata/oracle/golden.json"
	oracleFixtures   = "testdata/oracle/fixtures"
	oracleFileServer = "127.0.0.1:7312"
)

// golden is what the oracle answered, normalised (see normalise).
type golden struct {
	RecordedFrom string `json:"recordedFrom"`
	// Refs are the entities the oracle serves from the fixtures, by the
	// origin location they come from.
	Refs map[string][]string `json:"refs"`
	// Entities are some of them, as GET /entities/by-name serves them.
	Entities map[string]any `json:"entities"`
	// Pending are GET /entities/unprocessed/pending's entries by the ref
	// of their unprocessed entity.
	Pending map[string]goldenRow `json:"pending"`
	// PendingKeys are the keys of a pending entry, in order.
	PendingKeys []string `json:"pendingKeys"`
	// FailedBody is GET /entities/unprocessed/failed's whole answer.
	FailedBody any `json:"failedBody"`
	// DeleteStatus is DELETE /entities/unprocessed/delete/{id}'s status.
	DeleteStatus int `json:"deleteStatus"`
}

// goldenRow is one unprocessed entry: its errors, and the JSON type of
// each value (ids, hashes and times vary).
type goldenRow struct {
	Errors any               `json:"errors"`
	Types  map[string]string `json:"types"`
}

// goldenRefs are the entities whose stored form the tests compare.
var goldenRefs = []string{
	"component:default/dup-service",
	"component:default/contested",
	"location:default/generated-" + sha1hex("file:$FIXTURES/conflict/second.yaml"),
	"template:default/rules-t2",
	"api:default/ph-good",
}

func loadGolden(t *testing.T) golden {
	t.Helper()
	data, err := os.ReadFile(oracleGolden)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	return g
}

// normaliser replaces what differs between runs: the fixtures folder, the
// file server, uids and etags.
type normaliser struct{ fixtures, server string }

func (n normaliser) text(s string) string {
	s = strings.ReplaceAll(s, n.fixtures, "$FIXTURES")
	if n.server != "" {
		s = strings.ReplaceAll(s, n.server, "$SERVER")
	}
	return s
}

// value normalises decoded JSON; a location entity's generated name hashes
// its target, so it is recomputed from the normalised target.
func (n normaliser) value(v any) any {
	switch t := v.(type) {
	case string:
		return n.text(t)
	case []any:
		out := make([]any, len(t))
		for i, el := range t {
			out[i] = n.value(el)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, el := range t {
			out[n.text(k)] = n.value(el)
		}
		if md, ok := out["metadata"].(map[string]any); ok {
			delete(md, "uid")
			delete(md, "etag")
			if name, _ := md["name"].(string); strings.HasPrefix(name, "generated-") {
				if spec, ok := out["spec"].(map[string]any); ok {
					md["name"] = "generated-" + sha1hex(fmt.Sprint(spec["type"], ":", spec["target"]))
				}
			}
		}
		return out
	}
	return v
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case float64, json.Number:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

// rowRef is the ref of an unprocessed entry's entity.
func rowRef(row map[string]any) string {
	e, _ := row["unprocessed_entity"].(map[string]any)
	md, _ := e["metadata"].(map[string]any)
	ns, _ := md["namespace"].(string)
	if ns == "" {
		ns = "default"
	}
	return strings.ToLower(fmt.Sprint(e["kind"], ":", ns, "/", md["name"]))
}

// orderedKeys lists the keys of a JSON object in document order.
func orderedKeys(t *testing.T, raw []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", raw)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// unprocessedRows splits an unprocessed-entities answer into its rows,
// each raw (for key order) and decoded.
func unprocessedRows(t *testing.T, body []byte) ([]json.RawMessage, []map[string]any) {
	t.Helper()
	var resp struct {
		Type     string            `json:"type"`
		Entities []json.RawMessage `json:"entities"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	rows := make([]map[string]any, len(resp.Entities))
	for i, raw := range resp.Entities {
		if err := json.Unmarshal(raw, &rows[i]); err != nil {
			t.Fatal(err)
		}
	}
	return resp.Entities, rows
}

func TestRecordOracle(t *testing.T) {
	base := os.Getenv(envRecordIngest)
	if base == "" {
		t.Skip("set " + envRecordIngest + "=http://127.0.0.1:7311 to record from the oracle (see oracle_test.go)")
	}
	api := strings.TrimSuffix(base, "/") + "/api/catalog"
	fixtures, err := filepath.Abs(oracleFixtures)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", oracleFileServer)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(fixtures))}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	n := normaliser{fixtures: fixtures, server: "http://" + oracleFileServer}

	call := func(method, path, body string) (int, []byte) {
		req, err := http.NewRequest(method, api+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	register := func(typ, target string) {
		status, b := call("POST", "/locations", fmt.Sprintf(`{"type":%q,"target":%q}`, typ, target))
		if status != 201 && status != 409 {
			t.Fatalf("register %s: %d %s", target, status, b)
		}
	}
	// The oracle processes every 2 s; a few rounds settle everything.
	settle := func() { time.Sleep(12 * time.Second) }
	register("file", filepath.Join(fixtures, "dups/catalog-info.yaml"))
	register("file", filepath.Join(fixtures, "conflict/first.yaml"))
	settle()
	register("file", filepath.Join(fixtures, "conflict/second.yaml"))
	register("url", "http://"+oracleFileServer+"/placeholders/catalog-info.yaml")
	settle()

	g := golden{RecordedFrom: "Backstage 1.55.0: plugin-catalog-backend 4.0.0, plugin-catalog-backend-module-unprocessed 0.6.16",
		Refs: map[string][]string{}, Entities: map[string]any{}, Pending: map[string]goldenRow{}}
	_, b := call("GET", "/entities", "")
	var all []map[string]any
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	for _, e := range all {
		e = n.value(e).(map[string]any)
		md := e["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		origin, _ := ann["backstage.io/managed-by-origin-location"].(string)
		if !strings.Contains(origin, "$FIXTURES") && !strings.Contains(origin, "$SERVER") {
			continue
		}
		ref := strings.ToLower(fmt.Sprint(e["kind"], ":default/", md["name"]))
		g.Refs[origin] = append(g.Refs[origin], ref)
		for _, want := range goldenRefs {
			if ref == want {
				g.Entities[ref] = e
			}
		}
	}
	for _, refs := range g.Refs {
		sort.Strings(refs)
	}
	_, b = call("GET", "/entities/unprocessed/pending", "")
	raws, rows := unprocessedRows(t, b)
	for i, row := range rows {
		types := map[string]string{}
		for k, v := range row {
			types[k] = jsonType(v)
		}
		g.Pending[rowRef(row)] = goldenRow{Errors: n.value(row["errors"]), Types: types}
		g.PendingKeys = orderedKeys(t, raws[i])
	}
	_, b = call("GET", "/entities/unprocessed/failed", "")
	if err := json.Unmarshal(b, &g.FailedBody); err != nil {
		t.Fatal(err)
	}
	g.DeleteStatus, _ = call("DELETE", "/entities/unprocessed/delete/00000000-0000-0000-0000-000000000000", "")
	out, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(oracleGolden, append(out, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// sameJSON compares two decoded JSON values and describes the first
// difference.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("%s differs from Backstage's\n got: %s\nwant: %s", what, g, w)
	}
}
