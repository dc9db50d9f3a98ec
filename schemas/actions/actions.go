// Package actions holds the metadata of the scaffolder's built-in actions
// (id, description, examples and input/output JSON Schemas) exactly as
// Backstage 1.55 publishes it on GET /api/scaffolder/v2/actions: the stock
// frontend's template editor shows these schemas, so they are reproduced as
// data rather than rebuilt from code.
package actions

import _ "embed"

// JSON is the body Backstage's GET /v2/actions returns for the 12 built-in
// actions, byte for byte (an array of {id, description, examples, schema}).
//
//go:embed actions.json
var JSON []byte
