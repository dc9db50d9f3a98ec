// Package github holds the metadata of the actions of Backstage's GitHub
// scaffolder module (@backstage/plugin-scaffolder-backend-module-github
// 0.10.0, the release that ships with Backstage 1.55): id, description,
// examples and input/output JSON Schemas exactly as a Backstage backend with
// that module lists them on GET /api/scaffolder/v2/actions. The stock
// frontend's template editor shows these schemas, so they are kept as data.
package github

import _ "embed"

// JSON is the part of Backstage's GET /v2/actions body that the GitHub
// module contributes, byte for byte: an array of {id, description?,
// examples, schema} for its 13 actions, in id order.
//
//go:embed actions.json
var JSON []byte
