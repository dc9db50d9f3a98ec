package main

// These blank imports keep the modules the design fixes in go.mod until the
// packages that use them are wired in; drop a line once a real import
// exists.
import (
	_ "github.com/cucumber/godog"
	_ "github.com/getkin/kin-openapi/openapi3"
	_ "github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/santhosh-tekuri/jsonschema/v6"
	_ "github.com/uptrace/bun"
	_ "github.com/uptrace/bun/dialect/pgdialect"
	_ "github.com/uptrace/bun/dialect/sqlitedialect"
	_ "github.com/uptrace/bun/driver/sqliteshim"
	_ "gopkg.in/yaml.v3"
)
