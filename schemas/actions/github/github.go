// Package github is the record of the part of GET /api/scaffolder/v2/actions
// that Backstage's GitHub scaffolder module
// (@backstage/plugin-scaffolder-backend-module-github 0.10.0, the release
// that ships with Backstage 1.55) contributes, byte for byte. It is the
// golden the tests hold plugins/github's action declarations to; nothing
// reads it at run time.
package github

import _ "embed"

// JSON is the module's part of Backstage's GET /v2/actions body: an array
// of {id, description?, examples, schema} for its 13 actions, in id order
// (understage implements 6 of them).
//
//go:embed actions.json
var JSON []byte
