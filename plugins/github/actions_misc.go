package github

import (
	"context"
	_ "embed"
	"net/http"
	"net/url"

	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// ---- github:actions:dispatch ----

//go:embed schemas/github_actions_dispatch.input.json
var githubActionsDispatchInput []byte

//go:embed schemas/github_actions_dispatch.output.json
var githubActionsDispatchOutput []byte

// githubActionsDispatchAction declares github:actions:dispatch: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o ActionOptions) githubActionsDispatchAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "github:actions:dispatch",
		Description: "Dispatches a GitHub Action workflow for a given branch or tag",
		Examples: []scaffolder.ActionExample{
			{Description: "GitHub Action Workflow Without Inputs.",
				Example: `steps:
  - action: github:actions:dispatch
    name: Dispatch Github Action Workflow
    input:
      repoUrl: github.com?repo=repo&owner=owner
      workflowId: WORKFLOW_ID
      branchOrTagName: main
`},
			{Description: "GitHub Action Workflow With Inputs",
				Example: `steps:
  - action: github:actions:dispatch
    name: Dispatch Github Action Workflow with inputs
    input:
      repoUrl: github.com?repo=repo&owner=owner
      workflowId: WORKFLOW_ID
      branchOrTagName: main
      workflowInputs:
        input1: value1
        input2: value2
`},
			{Description: "GitHub Action Workflow With Custom Token",
				Example: `steps:
  - action: github:actions:dispatch
    name: Dispatch GitHub Action Workflow (custom token)
    input:
      repoUrl: github.com?repo=reponame&owner=owner
      workflowId: WORKFLOW_ID
      branchOrTagName: release-1.0
      token: ${{ secrets.MY_CUSTOM_TOKEN }}
`},
			{Description: "GitHub Action Workflow returning run details",
				Example: `steps:
  - action: github:actions:dispatch
    name: Dispatch GitHub Action Workflow and get run ID
    input:
      repoUrl: github.com?repo=repo&owner=owner
      workflowId: WORKFLOW_ID
      branchOrTagName: main
      returnWorkflowRunDetails: true
`},
		},
		Input:          githubActionsDispatchInput,
		Output:         githubActionsDispatchOutput,
		SupportsDryRun: false,
		Run:            o.actionsDispatch,
	}
}

func (o ActionOptions) actionsDispatch(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := builtin.Input(ac)
	workflowID, ref := strOr(in, "workflowId", ""), strOr(in, "branchOrTagName", "")
	logf(ac, "Dispatching workflow %s for repo %s on %s", workflowID, strOr(in, "repoUrl", ""), ref)
	t, err := o.target(in)
	if err != nil {
		return err
	}
	details := boolOr(in, "returnWorkflowRunDetails", false)
	body := map[string]any{"ref": ref}
	setIf(body, "inputs", plain(in, "workflowInputs"))
	if details {
		body["return_run_details"] = true
	}
	var run struct {
		ID      *int64 `json:"workflow_run_id"`
		RunURL  string `json:"run_url"`
		HTMLURL string `json:"html_url"`
	}
	resp, err := t.client.call(ctx, http.MethodPost,
		repoPath(t, "actions/workflows/"+url.PathEscape(workflowID)+"/dispatches"), body, &run)
	if err != nil {
		warnf(ac, "Failed: dispatching workflow '%s' on repo: '%s', %s", workflowID, t.repo, apiMessage(err))
		return apiError(err, "")
	}
	logf(ac, "Workflow %s dispatched successfully", workflowID)
	// GitHub answers 204 without a body unless run details were asked for.
	if details && resp.StatusCode != http.StatusNoContent {
		if run.ID != nil {
			ac.Output("workflowRunId", *run.ID)
		}
		ac.Output("workflowRunUrl", run.RunURL)
		ac.Output("workflowRunHtmlUrl", run.HTMLURL)
		if run.HTMLURL != "" {
			logf(ac, "Workflow run url: %s", run.HTMLURL)
		}
	}
	return nil
}

// ---- github:webhook ----

//go:embed schemas/github_webhook.input.json
var githubWebhookInput []byte

// githubWebhookAction declares github:webhook: its metadata as Backstage lists it on
// GET /v2/actions, and its code.
func (o ActionOptions) githubWebhookAction() scaffolder.Action {
	return scaffolder.Action{
		ID:          "github:webhook",
		Description: "Creates webhook for a repository on GitHub.",
		Examples: []scaffolder.ActionExample{
			{Description: "Create a GitHub webhook for a repository",
				Example: `steps:
  - action: github:webhook
    name: Create GitHub Webhook
    input:
      repoUrl: github.com?repo=repo&owner=owner
      webhookUrl: https://example.com/my-webhook
      webhookSecret: mysecret
      events:
        - push
      active: true
      contentType: json
      insecureSsl: false
      token: my-github-token
`},
			{Description: "Create a GitHub webhook with minimal configuration",
				Example: `steps:
  - action: github:webhook
    name: Create GitHub Webhook
    input:
      repoUrl: github.com?repo=repo&owner=owner
      webhookUrl: https://example.com/my-webhook
`},
			{Description: "Create a GitHub webhook with custom events",
				Example: `steps:
  - action: github:webhook
    name: Create GitHub Webhook
    input:
      repoUrl: github.com?repo=repo&owner=owner
      webhookUrl: https://example.com/my-webhook
      events:
        - push
        - pull_request
`},
			{Description: "Create a GitHub webhook with JSON content type",
				Example: `steps:
  - action: github:webhook
    name: Create GitHub Webhook
    input:
      repoUrl: github.com?repo=repo&owner=owner
      webhookUrl: https://example.com/my-webhook
      contentType: json
`},
			{Description: "Create a GitHub webhook with insecure SSL",
				Example: `steps:
  - action: github:webhook
    name: Create GitHub Webhook
    input:
      repoUrl: github.com?repo=repo&owner=owner
      webhookUrl: https://example.com/my-webhook
      insecureSsl: true
`},
			{Description: "Create an inactive GitHub webhook",
				Example: `steps:
  - action: github:webhook
    name: Create GitHub Webhook
    input:
      repoUrl: github.com?repo=repo&owner=owner
      webhookUrl: https://example.com/my-webhook
      active: false
`},
		},
		Input:          githubWebhookInput,
		SupportsDryRun: true,
		Run:            o.webhook,
	}
}

func (o ActionOptions) webhook(ctx context.Context, ac *scaffolder.ActionContext) error {
	in := builtin.Input(ac)
	hookURL := strOr(in, "webhookUrl", "")
	logf(ac, "Creating webhook %s for repo %s", hookURL, strOr(in, "repoUrl", ""))
	t, err := o.target(in)
	if err != nil {
		return err
	}
	if ac.IsDryRun {
		logf(ac, "Dry run complete")
		return nil
	}
	insecure := "0"
	if boolOr(in, "insecureSsl", false) {
		insecure = "1"
	}
	cfg := map[string]any{"url": hookURL, "content_type": strOr(in, "contentType", "form"), "insecure_ssl": insecure}
	if s, ok, _ := builtin.StringInput(in, "webhookSecret"); ok {
		cfg["secret"] = s
	}
	events := strList(in, "events")
	if events == nil {
		events = []string{"push"}
	}
	body := map[string]any{"config": cfg, "events": events, "active": boolOr(in, "active", true)}
	if _, err := t.client.call(ctx, http.MethodPost, repoPath(t, "hooks"), body, nil); err != nil {
		// Backstage only warns: the step succeeds without the webhook.
		warnf(ac, "Failed: create webhook '%s' on repo: '%s', %s", hookURL, t.repo, apiMessage(err))
		return nil
	}
	logf(ac, "Webhook '%s' created successfully", hookURL)
	return nil
}
