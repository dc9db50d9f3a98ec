// Package scaffolder runs Backstage software templates
// (scaffolder.backstage.io/v1beta3): the action contract, the registry of
// actions, and the workflow runner that renders step inputs with
// scaffolder/render and executes steps in a task's workspace.
package scaffolder

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/catalog/ojson"
)

// Action is one template action. It is a value, so that GET /v2/actions can
// list it without running anything.
type Action struct {
	ID          string // Backstage's id, e.g. "fetch:template"; never renamed
	Description string
	Examples    []ActionExample
	// Input and Output are JSON Schemas (as Backstage publishes them on
	// /v2/actions); nil when the action declares none.
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

// ActionImpl is the code of an action whose metadata comes from a listing.
type ActionImpl struct {
	SupportsDryRun bool
	Run            func(ctx context.Context, ac *ActionContext) error
}

// ActionsFromListing builds actions from a GET /v2/actions body (the
// metadata Backstage publishes: ids, descriptions, examples, schemas) for
// the ids impls implements, in the listing's order. Ids of the listing
// without an implementation are left out.
func ActionsFromListing(listing []byte, impls map[string]ActionImpl) ([]Action, error) {
	var metas []struct {
		ID          string          `json:"id"`
		Description string          `json:"description"`
		Examples    []ActionExample `json:"examples"`
		Schema      struct {
			Input  json.RawMessage `json:"input"`
			Output json.RawMessage `json:"output"`
		} `json:"schema"`
	}
	if err := json.Unmarshal(listing, &metas); err != nil {
		return nil, fmt.Errorf("action listing: %w", err)
	}
	nonEmpty := func(r json.RawMessage) json.RawMessage {
		if len(r) == 0 || string(r) == "null" {
			return nil
		}
		return r
	}
	out := make([]Action, 0, len(impls))
	for _, m := range metas {
		im, ok := impls[m.ID]
		if !ok {
			continue
		}
		out = append(out, Action{
			ID: m.ID, Description: m.Description, Examples: m.Examples,
			Input: nonEmpty(m.Schema.Input), Output: nonEmpty(m.Schema.Output),
			SupportsDryRun: im.SupportsDryRun, Run: im.Run,
		})
	}
	return out, nil
}
