// Package examplemodule is a worked example of extending understage from
// outside its plugins, as a third-party module would: an entity provider
// (a catalog module) and a scaffolder action (a scaffolder module). Add it
// to the backend with one line in cmd/understage/wire's Features:
//
//	examplemodule.CatalogModule, examplemodule.ScaffolderModule,
//
// or pass them to wire.New, as module_test.go does.
package examplemodule

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/understage/understage/catalog"
	catalogplugin "github.com/understage/understage/catalog/plugin"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/plugins/backend/scheduler"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/scaffolder"
	scaffolderplugin "github.com/understage/understage/scaffolder/plugin"
)

// CatalogModule adds the greeter entity provider to the catalog.
var CatalogModule = system.Module{PluginID: "catalog", ModuleID: "example", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{Func: func(_ context.Context, env *system.Env) error {
		x, err := system.Extension(env, catalogplugin.ExtensionPoint)
		if err != nil {
			return err
		}
		return x.AddEntityProvider(greeterProvider{})
	}})
}}

// greeterProvider emits one Component on a schedule. A real provider reads
// its source (an API, a file) in Run and replaces what it emitted before.
type greeterProvider struct{}

func (greeterProvider) Name() string { return "example-greeter-provider" }

func (greeterProvider) Schedule() scheduler.Schedule {
	return scheduler.Schedule{Frequency: time.Hour, Timeout: time.Minute}
}

func (p greeterProvider) Run(ctx context.Context, store catalog.ProcessingStore) error {
	const loc = "example:greeter"
	entity, err := ojson.DecodeObject([]byte(`{
  "apiVersion": "backstage.io/v1alpha1",
  "kind": "Component",
  "metadata": {
    "name": "example-greeter",
    "annotations": {"backstage.io/managed-by-location": "` + loc + `", "backstage.io/managed-by-origin-location": "` + loc + `"}
  },
  "spec": {"type": "service", "lifecycle": "experimental", "owner": "group:default/team-platform"}
}`))
	if err != nil {
		return err
	}
	return store.ApplyFullMutation(ctx, p.Name(), []catalog.DeferredEntity{{Entity: entity, LocationKey: p.Name()}})
}

// ScaffolderModule adds the example:greet action to the scaffolder.
var ScaffolderModule = system.Module{PluginID: "scaffolder", ModuleID: "example", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{Func: func(_ context.Context, env *system.Env) error {
		x, err := system.Extension(env, scaffolderplugin.ExtensionPoint)
		if err != nil {
			return err
		}
		return x.AddActions(greetAction)
	}})
}}

// greetAction writes greeting.txt in the workspace and outputs its text;
// its schemas and example sit beside its code.
var greetAction = scaffolder.Action{
	ID:          "example:greet",
	Description: "Writes a greeting to greeting.txt in the workspace.",
	Input: json.RawMessage(`{"type":"object","required":["name"],"properties":{
  "name":{"type":"string","title":"Who to greet","maxLength":100}}}`),
	Output:         json.RawMessage(`{"type":"object","properties":{"greeting":{"type":"string"}}}`),
	Examples:       []scaffolder.ActionExample{{Description: "Greet the world", Example: "steps:\n  - id: greet\n    action: example:greet\n    input: {name: world}\n"}},
	SupportsDryRun: true,
	Run: func(ctx context.Context, ac *scaffolder.ActionContext) error {
		name, _ := ac.Input.Get("name")
		s, ok := name.(string)
		if !ok || s == "" {
			return fmt.Errorf("example:greet: input name must be a non-empty string")
		}
		text := "Hello, " + s + "!"
		// os.Root keeps the write inside the workspace whatever the input.
		root, err := os.OpenRoot(ac.Workspace)
		if err != nil {
			return err
		}
		defer root.Close()
		if err := root.WriteFile("greeting.txt", []byte(text+"\n"), 0o644); err != nil {
			return fmt.Errorf("example:greet: %w", err)
		}
		if ac.Log != nil {
			_, _ = io.WriteString(ac.Log, text+"\n")
		}
		ac.Output("greeting", text)
		return nil
	},
}
