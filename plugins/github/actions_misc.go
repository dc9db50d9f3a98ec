package github

import (
	"context"
	"net/http"
	"net/url"

	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
)

// ---- github:actions:dispatch ----

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
