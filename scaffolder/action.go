// Package scaffolder runs Backstage software templates
// (scaffolder.backstage.io/v1beta3): the action contract, the registry
// plugins and modules extend (Registry: actions, template filters and
// globals, autocomplete providers), and the workflow runner that renders
// step inputs with scaffolder/render and executes steps in a task's
// workspace.
package scaffolder

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Action is one template action, declared once beside its code: what GET
// /v2/actions lists (id, description, examples, schemas) and what runs. It
// is a value, so that the listing needs nothing to run.
type Action struct {
	ID          string // Backstage's id, e.g. "fetch:template"; never renamed
	Description string
	Examples    []ActionExample
	// Input and Output are JSON Schemas (as Backstage publishes them on
	// /v2/actions). Input is required (the registry refuses an action
	// without it); Output is nil when the action declares none.
	Input, Output json.RawMessage
	// SupportsDryRun actions run for real in dry runs (in the dry-run
	// workspace); the others are skipped with a log line.
	SupportsDryRun bool
	// Run executes the action. ctx is cancelled when the task is cancelled
	// or its lease is lost.
	Run func(ctx context.Context, ac *ActionContext) error
}

// ActionExample is one documented example of an action.
type ActionExample struct {
	Description string `json:"description"`
	Example     string `json:"example"` // YAML
}

// ActionContext is what an action sees of its task.
type ActionContext struct {
	// Input is the step's rendered input (ojson values).
	Input *ojson.Object
	// Workspace is the task's working directory; actions must not read or
	// write outside it (use package workspace).
	Workspace string
	// Log receives the step's log lines; secrets are redacted by the runner.
	Log    io.Writer
	Logger *slog.Logger
	// Output records a step output (steps.<id>.output.<name>).
	Output func(name string, value any)
	// TemplateInfo locates the template, for relative URLs.
	TemplateInfo TemplateInfo
	// Secrets are the task's secrets (including backstageToken).
	Secrets map[string]string
	// User is the user that started the task.
	User UserInfo
	// IsDryRun is true in POST /v2/dry-run.
	IsDryRun bool
	// TaskID identifies the task (context.task.id).
	TaskID string
	// Services the action may use.
	Reader  Reader
	Catalog CatalogClient
}

// TemplateInfo is the spec's templateInfo.
type TemplateInfo struct {
	EntityRef string        // "template:<ns>/<name>"
	BaseURL   string        // directory URL of the template's file: relative `url` inputs resolve against it
	Entity    *ojson.Object // {metadata: <template metadata>}
}

// UserInfo is the spec's user.
type UserInfo struct {
	Entity *ojson.Object // the user's catalog entity, when known
	Ref    string        // "user:default/jane"
}

// Reader reads files and trees by URL: file:// URLs of the local disk
// (templates loaded from file locations, dry runs) and whatever the
// configured catalog URL readers allow.
type Reader interface {
	ReadURL(ctx context.Context, rawURL string, opts catalog.ReadOptions) (catalog.ReadResult, error)
	ReadTree(ctx context.Context, rawURL string, opts catalog.ReadOptions) (catalog.Tree, error)
}

// CatalogClient is what the catalog:* actions need from the catalog, acting
// with the task's credentials.
type CatalogClient interface {
	// EntityByRef returns the stitched entity or an error wrapping backend.ErrNotFound.
	EntityByRef(ctx context.Context, ref string) (*ojson.Object, error)
	// AddLocation registers a location (POST /locations); dryRun only checks it.
	// It returns the entities the location produced (for dry runs) or none.
	AddLocation(ctx context.Context, typ, target string, dryRun bool) ([]*ojson.Object, error)
}
