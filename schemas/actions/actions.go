// Package actions is the record of what Backstage 1.55 answers on GET
// /api/scaffolder/v2/actions for its 12 built-in actions, byte for byte.
// It is the golden the tests hold the scaffolder's own declarations to
// (each action declares its metadata beside its code, in
// scaffolder/builtin); nothing reads it at run time.
package actions

import _ "embed"

// JSON is Backstage's GET /v2/actions body for the built-in actions (an
// array of {id, description, examples, schema}).
//
//go:embed actions.json
var JSON []byte
