// Package schemas holds the JSON Schemas (draft-07) that define the shape of
// catalog entities: the envelope, the entity and its metadata, and one schema
// per built-in kind. They accept and reject the same entities as Backstage's
// catalog-model and scaffolder-common schemas; catalog/model compiles them
// once and uses them as the source of truth for per-kind spec shape.
//
// Schemas refer to each other by file name relative to BaseURL, so a
// compiler must add every file of FS under BaseURL before compiling.
package schemas

import "embed"

// FS contains every schema file: *.json and kinds/*.json.
//
//go:embed *.json kinds/*.json
var FS embed.FS

// BaseURL is the base every schema file is registered under; "$ref"s are
// relative to it.
const BaseURL = "https://understage.invalid/schemas/"

// Kind schemas by file, in the order Backstage's processors try them.
var (
	// BuiltinKinds are validated by the catalog's built-in kinds processor.
	BuiltinKinds = []string{
		"kinds/api.json", "kinds/component.json", "kinds/resource.json", "kinds/group.json",
		"kinds/location.json", "kinds/user.json", "kinds/system.json", "kinds/domain.json",
	}
	// ScaffolderKinds are validated by the scaffolder's entity-model processor.
	ScaffolderKinds = []string{"kinds/template.json"}
)
