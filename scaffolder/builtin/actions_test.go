package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/schemas/actions"
)

func TestActionsMetadata(t *testing.T) {
	got := Actions(Options{})
	var published []json.RawMessage
	if err := json.Unmarshal(actions.JSON, &published); err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 || len(published) != 12 {
		t.Fatalf("%d actions, %d published", len(got), len(published))
	}
	dry := map[string]bool{"debug:wait": false, "catalog:register": false}
	for i, a := range got {
		// Re-serialising our Action gives back Backstage's entry byte for byte.
		schema := ojson.NewObject()
		if a.Input != nil {
			schema.Set("input", json.RawMessage(a.Input))
		}
		if a.Output != nil {
			schema.Set("output", json.RawMessage(a.Output))
		}
		ex, _ := json.Marshal(a.Examples)
		var buf bytes.Buffer
		buf.WriteString(`{"id":`)
		idb, _ := json.Marshal(a.ID)
		buf.Write(idb)
		buf.WriteString(`,"description":`)
		db, _ := ojson.Marshal(a.Description)
		buf.Write(db)
		buf.WriteString(`,"examples":`)
		buf.Write(ex)
		buf.WriteString(`,"schema":{"input":`)
		buf.Write(a.Input)
		if a.Output != nil {
			buf.WriteString(`,"output":`)
			buf.Write(a.Output)
		}
		buf.WriteString(`}}`)
		var want, have any
		_ = json.Unmarshal(published[i], &want)
		_ = json.Unmarshal(buf.Bytes(), &have)
		wb, _ := json.Marshal(want)
		hb, _ := json.Marshal(have)
		if !bytes.Equal(wb, hb) {
			t.Errorf("%s: metadata differs", a.ID)
		}
		if !json.Valid(a.Input) {
			t.Errorf("%s: input schema invalid", a.ID)
		}
		wantDry, listed := dry[a.ID]
		if !listed {
			wantDry = true
		}
		if a.SupportsDryRun != wantDry {
			t.Errorf("%s: SupportsDryRun = %v", a.ID, a.SupportsDryRun)
		}
		if a.Run == nil {
			t.Errorf("%s: no Run", a.ID)
		}
	}
}

func TestFsActions(t *testing.T) {
	e := newEnv(t, nil)
	writeTree(t, e.ws, map[string]string{
		"a.txt": "a", "b.txt": "b", "keep.md": "k", "d/x.txt": "x", "d/e/y.txt": "y", ".hidden.txt": "h", "dir/f": "f",
	})
	if err := e.run(t, "fs:delete", `{"files":["*.txt","dir"]}`); err != nil {
		t.Fatal(err)
	}
	got := readTree(t, e.ws)
	equalTrees(t, got, map[string]string{"keep.md": "k", "d/x.txt": "x", "d/e/y.txt": "y"})
	if err := e.run(t, "fs:rename", `{"files":[{"from":"keep.md","to":"n/new.md"},{"from":"d/x.txt","to":"n/new.md"}]}`); err == nil || err.Error() != "dest already exists." {
		t.Fatalf("rename onto existing: %v", err)
	}
	if err := e.run(t, "fs:rename", `{"files":[{"from":"d/x.txt","to":"n/new.md","overwrite":true}]}`); err != nil {
		t.Fatal(err)
	}
	equalTrees(t, readTree(t, e.ws), map[string]string{"n/new.md": "x", "d/e/y.txt": "y"})
	if err := e.run(t, "fs:rename", `{"files":[{"from":"d"}]}`); err == nil || err.Error() != "each file must have a from and to property" {
		t.Errorf("missing to: %v", err)
	}
	if err := e.run(t, "fs:delete", `{"files":"x"}`); !errors.Is(err, backend.ErrInput) {
		t.Errorf("files not an array: %v", err)
	}

	if err := e.run(t, "fs:readdir", `{"paths":["."],"recursive":true}`); err != nil {
		t.Fatal(err)
	}
	names := func(v any) string {
		var out []string
		for _, x := range v.([]any) {
			o := x.(*ojson.Object)
			if o.String("fullPath") != filepath.Join(e.ws, o.String("path")) {
				t.Errorf("fullPath %s", o.String("fullPath"))
			}
			out = append(out, o.String("path"))
		}
		return strings.Join(out, ",")
	}
	if f, d := names(e.outputs["files"]), names(e.outputs["folders"]); f != "n/new.md,d/e/y.txt" || d != "d,dir,n,d/e" {
		t.Errorf("files %s folders %s", f, d)
	}
	if err := e.run(t, "fs:readdir", `{"paths":["d"]}`); err != nil {
		t.Fatal(err)
	}
	if f, d := names(e.outputs["files"]), names(e.outputs["folders"]); f != "" || d != "d/e" {
		t.Errorf("non-recursive: files %q folders %q", f, d)
	}
}

func TestDebugLog(t *testing.T) {
	tests := []struct{ input, want string }{
		{`{"message":"hi"}`, "{\n  \"message\": \"hi\"\n}\nhi\n"},
		{`{}`, "{}\n"},
		{`{"listWorkspace":true}`, "{\n  \"listWorkspace\": true\n}\nWorkspace:\n  - a.txt\n  - d/b.txt\n"},
		{`{"listWorkspace":"with-filenames"}`, "{\n  \"listWorkspace\": \"with-filenames\"\n}\nWorkspace:\n  - a.txt\n  - d/b.txt\n"},
		{`{"listWorkspace":"with-contents"}`, "{\n  \"listWorkspace\": \"with-contents\"\n}\nWorkspace:\n - a.txt:\n  A\n - d/b.txt:\n  B\n"},
	}
	for _, tc := range tests {
		e := newEnv(t, nil)
		writeTree(t, e.ws, map[string]string{"a.txt": "A", "d/b.txt": "B"})
		if err := e.run(t, "debug:log", tc.input); err != nil {
			t.Fatal(err)
		}
		if e.log.String() != tc.want {
			t.Errorf("%s: log %q, want %q", tc.input, e.log.String(), tc.want)
		}
	}
}

func TestDebugWait(t *testing.T) {
	e := newEnv(t, nil)
	err := e.run(t, "debug:wait", `{"minutes":10,"seconds":1}`)
	if err == nil || err.Error() != "Waiting duration is longer than the maximum threshold of 0 hours, 10 minutes, 0 seconds" {
		t.Errorf("cap: %v", err)
	}
	if err := e.run(t, "debug:wait", `{"milliseconds":1}`); err != nil {
		t.Errorf("short wait: %v", err)
	}
	// Cancellation ends a long wait.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	in, _ := ojson.DecodeObject([]byte(`{"minutes":9}`))
	go func() {
		done <- action(t, "debug:wait").Run(ctx, &scaffolder.ActionContext{Input: in, Workspace: e.ws})
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled wait: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("wait not cancelled")
	}
}

func TestCatalogFetch(t *testing.T) {
	comp := ojson.NewObject("kind", "Component", "metadata", ojson.NewObject("name", "a"))
	tests := []struct {
		input   string
		wantErr string
		want    map[string]string
	}{
		{input: `{"entityRef":"component:default/a"}`, want: map[string]string{"entity": `{"kind":"Component","metadata":{"name":"a"}}`}},
		{input: `{"entityRef":"a","defaultKind":"Component"}`, want: map[string]string{"entity": `{"kind":"Component","metadata":{"name":"a"}}`}},
		{input: `{"entityRef":"b","defaultKind":"component","defaultNamespace":"x"}`, wantErr: "Entity b not found"},
		{input: `{"entityRef":"component:b","optional":true}`, want: map[string]string{"entity": `null`}},
		{input: `{"entityRefs":["component:a","component:zz"],"optional":true}`, want: map[string]string{"entities": `[{"kind":"Component","metadata":{"name":"a"}},null]`}},
		{input: `{"entityRefs":["component:a","component:zz"]}`, wantErr: "Entity component:zz not found"},
		{input: `{}`, wantErr: "Missing entity reference or references"},
		{input: `{"optional":true}`, want: map[string]string{}},
	}
	for _, tc := range tests {
		e := newEnv(t, nil)
		e.catalog.entities["component:default/a"] = comp
		err := e.run(t, "catalog:fetch", tc.input)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("%s: err %v, want %s", tc.input, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.input, err)
			continue
		}
		if len(e.outputs) != len(tc.want) {
			t.Errorf("%s: outputs %v", tc.input, e.outputs)
		}
		for k, w := range tc.want {
			if g := string(ojson.MustMarshal(e.outputs[k])); g != w {
				t.Errorf("%s: %s = %s, want %s", tc.input, k, g, w)
			}
		}
	}
}

func TestCatalogRegister(t *testing.T) {
	loc := ojson.NewObject("kind", "Location", "metadata", ojson.NewObject("name", "generated-abc"))
	api := ojson.NewObject("kind", "API", "metadata", ojson.NewObject("name", "Api1", "namespace", "NS"))
	comp := ojson.NewObject("kind", "Component", "metadata", ojson.NewObject("name", "svc"))
	tests := []struct {
		name, input string
		produced    []*ojson.Object
		addErr      error
		wantURL     string
		wantRef     any
		wantErr     string
	}{
		{"component preferred", `{"repoContentsUrl":"https://github.com/o/r/blob/main"}`, []*ojson.Object{loc, api, comp}, nil,
			"https://github.com/o/r/blob/main/catalog-info.yaml", "component:default/svc", ""},
		{"first non-location", `{"repoContentsUrl":"https://github.com/o/r/tree/main/sub","catalogInfoPath":"/x/c.yaml"}`, []*ojson.Object{loc, api}, nil,
			"https://github.com/o/r/tree/main/x/c.yaml", "api:ns/api1", ""},
		{"only location", `{"catalogInfoUrl":"https://h/c.yaml"}`, []*ojson.Object{loc}, nil, "https://h/c.yaml", "location:default/generated-abc", ""},
		{"nothing produced", `{"catalogInfoUrl":"https://h/c.yaml"}`, nil, nil, "https://h/c.yaml", nil, ""},
		{"failure", `{"catalogInfoUrl":"https://h/c.yaml"}`, nil, backend.Conflict("boom"), "", nil, "boom"},
		{"optional failure", `{"catalogInfoUrl":"https://h/c.yaml","optional":true}`, nil, backend.Conflict("boom"), "https://h/c.yaml", nil, ""},
		{"unknown host", `{"repoContentsUrl":"https://example.com/o/r"}`, nil, nil, "", nil, "No integration found for host https://example.com/o/r"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.catalog.produced, e.catalog.addErr = tc.produced, tc.addErr
			err := e.run(t, "catalog:register", tc.input)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.outputs["catalogInfoUrl"] != tc.wantURL {
				t.Errorf("catalogInfoUrl %v", e.outputs["catalogInfoUrl"])
			}
			if ref, ok := e.outputs["entityRef"]; ok != (tc.wantRef != nil) || (ok && ref != tc.wantRef) {
				t.Errorf("entityRef %v, want %v", ref, tc.wantRef)
			}
			if tc.addErr == nil && (len(e.catalog.locations) != 2 || e.catalog.locations[0] != "url "+tc.wantURL || e.catalog.locations[1] != "url "+tc.wantURL+" dry") {
				t.Errorf("locations %v", e.catalog.locations)
			}
		})
	}
}

func TestCatalogWriteDefaults(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.run(t, "catalog:write", `{"entity":{"kind":"X","metadata":{"name":"n","annotations":{"a":"1"}},"spec":{"owner":"o"}}}`); err != nil {
		t.Fatal(err)
	}
	equalTrees(t, readTree(t, e.ws), map[string]string{
		"catalog-info.yaml": "kind: X\nmetadata:\n  name: n\n  annotations:\n    a: \"1\"\n    backstage.io/source-template: template:default/t\nspec:\n  owner: o\n",
	})
}
