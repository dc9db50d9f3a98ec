package github

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"

	gh "github.com/google/go-github/v60/github"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/config"
	"github.com/understage/understage/plugins/backend/ojson"
	"github.com/understage/understage/scaffolder"
	"github.com/understage/understage/scaffolder/builtin"
	"github.com/understage/understage/scaffolder/render"
	"github.com/understage/understage/scaffolder/workspace"
)

// ActionOptions configure the GitHub scaffolder actions (publish:github,
// github:repo:create, github:repo:push, publish:github:pull-request,
// github:actions:dispatch, github:webhook) and the "github" autocomplete
// provider.
type ActionOptions struct {
	// Integrations are the configured GitHub hosts (ReadIntegrations). A
	// repoUrl whose host is not among them fails as in Backstage.
	Integrations []Integration
	// OtherIntegrations types the hosts of other SCM integrations, so that
	// a repoUrl on e.g. gitlab.com parses and then fails with "No
	// integration for host". Nil means render.DefaultIntegrations.
	OtherIntegrations render.IntegrationType
	// DefaultAuthorName/Email are scaffolder.defaultAuthor.name/email.
	DefaultAuthorName, DefaultAuthorEmail string
	// DefaultCommitMessage is scaffolder.defaultCommitMessage.
	DefaultCommitMessage string
	// RequireSCMUserCredentials is scaffolder.requireScmUserCredentials:
	// the integration's token is never used, the input token is required.
	RequireSCMUserCredentials bool
	// Client tunes the API clients (tests point HTTPClient anywhere) when
	// Clients is nil.
	Client ClientOptions
	// Clients is the module's shared client per host (and token); nil
	// builds a Clients for each call from Integrations and Client.
	Clients *Clients
}

// clients is o.Clients, or a fresh one for unconfigured options.
func (o ActionOptions) clients() *Clients {
	if o.Clients != nil {
		return o.Clients
	}
	return NewClients(o.Integrations, o.Client)
}

// ActionOptionsFromConfig reads integrations.github and the scaffolder keys
// the GitHub actions use.
func ActionOptionsFromConfig(cfg *config.Config) (ActionOptions, error) {
	integs, err := ReadIntegrations(cfg)
	if err != nil {
		return ActionOptions{}, err
	}
	o := ActionOptions{Integrations: integs}
	for key, dst := range map[string]*string{
		"scaffolder.defaultAuthor.name":   &o.DefaultAuthorName,
		"scaffolder.defaultAuthor.email":  &o.DefaultAuthorEmail,
		"scaffolder.defaultCommitMessage": &o.DefaultCommitMessage,
	} {
		if *dst, _, err = cfg.ReadString(key); err != nil {
			return ActionOptions{}, err
		}
	}
	if o.RequireSCMUserCredentials, _, err = cfg.ReadBool("scaffolder.requireScmUserCredentials"); err != nil {
		return ActionOptions{}, err
	}
	return o, nil
}

// RegisterScaffolder adds what the GitHub module gives the scaffolder to
// its extension points: the GitHub actions and the "github" autocomplete
// provider.
func RegisterScaffolder(actions scaffolder.ActionRegistry, autocomplete scaffolder.AutocompleteRegistry, o ActionOptions) error {
	if err := actions.AddActions(Actions(o)...); err != nil {
		return fmt.Errorf("github scaffolder module: %w", err)
	}
	if err := autocomplete.AddAutocompleteProvider(scaffolder.AutocompleteProvider{ID: "github", Handler: Autocomplete(o)}); err != nil {
		return fmt.Errorf("github scaffolder module: %w", err)
	}
	return nil
}

// Actions returns the implemented GitHub actions with Backstage's metadata.
// Dry runs run publish:github:pull-request and github:webhook (which stop
// before changing anything) and skip the others, as Backstage declares.
func Actions(o ActionOptions) []scaffolder.Action {
	return []scaffolder.Action{
		o.githubActionsDispatchAction(),
		o.githubRepoCreateAction(),
		o.githubRepoPushAction(),
		o.githubWebhookAction(),
		o.publishGithubAction(),
		o.publishGithubPullRequestAction(),
	}
}

// ---- repository target and client ----

// target is the repository a step addresses and a client for its host.
type target struct {
	host, owner, repo string
	token             string
	client            *Client
}

func (o ActionOptions) integrationType(host string) string {
	for _, in := range o.Integrations {
		if strings.EqualFold(in.WithDefaults().Host, host) {
			return "github"
		}
	}
	if o.OtherIntegrations != nil {
		return o.OtherIntegrations(host)
	}
	return render.DefaultIntegrations(host)
}

func (o ActionOptions) integration(host string) (Integration, bool) {
	for _, in := range o.Integrations {
		in = in.WithDefaults()
		if strings.EqualFold(in.Host, host) {
			return in, true
		}
	}
	return Integration{}, false
}

// parseRepoURL is the scaffolder's parseRepoUrl with InputError kinds.
func (o ActionOptions) parseRepoURL(repoURL string) (host, owner, repo string, err error) {
	parsed, err := render.ParseRepoURL(repoURL, o.integrationType)
	if err != nil {
		return "", "", "", backend.Input("%s", err.Error())
	}
	s := func(k string) string { v, _ := parsed.Get(k); r, _ := v.(string); return r }
	return s("host"), s("owner"), s("repo"), nil
}

// clientFor picks the token (the step's token input, else the
// integration's) and builds a client for host, with Backstage's errors.
func (o ActionOptions) clientFor(host, owner, repo, token string) (*Client, string, error) {
	integ, ok := o.integration(host)
	if !ok {
		return nil, "", backend.Input("No integration for host %s", host)
	}
	if token == "" {
		if o.RequireSCMUserCredentials {
			return nil, "", backend.Input("No user credentials provided for host %s, but scaffolder.requireScmUserCredentials is enabled", host)
		}
		if owner == "" || repo == "" {
			return nil, "", backend.Input("No owner and/or repo provided, which is required if a token is not provided")
		}
		token = integ.Token
		if token == "" {
			return nil, "", backend.Input("No token available for host: %s, with owner %s, and repo %s. Make sure GitHub auth is configured correctly. See https://backstage.io/docs/auth/github/provider for more details.", host, owner, repo)
		}
	}
	c, err := o.clients().WithToken(integ, token)
	if err != nil {
		return nil, "", err
	}
	return c, token, nil
}

// target parses repoUrl and builds the client for it.
func (o ActionOptions) target(in *ojson.Object) (*target, error) {
	repoURL, err := builtin.RequiredStringInput(in, "repoUrl")
	if err != nil {
		return nil, err
	}
	host, owner, repo, err := o.parseRepoURL(repoURL)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		return nil, backend.Input("Invalid repository owner provided in repoUrl")
	}
	tok, _, err := builtin.StringInput(in, "token")
	if err != nil {
		return nil, err
	}
	c, tok, err := o.clientFor(host, owner, repo, tok)
	if err != nil {
		return nil, err
	}
	return &target{host: host, owner: owner, repo: repo, token: tok, client: c}, nil
}

// call makes one REST request; body is JSON-encoded, out receives the
// answer (nil: discarded).
func (c *Client) call(ctx context.Context, method, path string, body, out any) (*gh.Response, error) {
	req, err := c.gh.NewRequest(method, path, body)
	if err != nil {
		return nil, err
	}
	return c.gh.Do(ctx, req, out)
}

// apiMessage is what Octokit's RequestError says: GitHub's message, with
// the validation errors' messages when there are any.
func apiMessage(err error) string {
	var er *gh.ErrorResponse
	if errors.As(err, &er) {
		msg := er.Message
		var details []string
		for _, e := range er.Errors {
			if e.Message != "" {
				details = append(details, e.Message)
			}
		}
		if len(details) > 0 {
			msg += ": " + strings.Join(details, ", ")
		}
		return msg
	}
	return err.Error()
}

// statusOf is the HTTP status of a failed API call (0 when none).
func statusOf(err error) int {
	var er *gh.ErrorResponse
	if errors.As(err, &er) && er.Response != nil {
		return er.Response.StatusCode
	}
	return 0
}

// apiError keeps the kind of an API failure (backend.KindForUpstreamStatus);
// a failure without one stays an internal error.
func apiError(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if msg != "" {
		msg += ", "
	}
	msg += apiMessage(err)
	kind := backend.KindForUpstreamStatus(statusOf(err))
	if kind == nil {
		return fmt.Errorf("%s: %w", msg, err)
	}
	return &backend.Error{Kind: kind, Message: msg, Cause: err}
}

// ---- input helpers ----

// strOr reads an optional string input, def when absent or not a string.
func strOr(in *ojson.Object, key, def string) string {
	if s, ok, _ := builtin.StringInput(in, key); ok {
		return s
	}
	return def
}

// boolOr reads a boolean input with its default when absent.
func boolOr(in *ojson.Object, key string, def bool) bool {
	v, ok := in.Get(key)
	if b, isBool := v.(bool); ok && isBool {
		return b
	}
	return def
}

// optBool is a boolean input or nil, for request fields left out when unset.
func optBool(in *ojson.Object, key string) any {
	v, _ := in.Get(key)
	if b, ok := v.(bool); ok {
		return b
	}
	return nil
}

func strList(in *ojson.Object, key string) []string {
	v, _ := in.Get(key)
	arr, _ := v.([]any)
	out := []string{}
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	if arr == nil {
		return nil
	}
	return out
}

func numberOr(in *ojson.Object, key string, def float64) float64 {
	v, _ := in.Get(key)
	if n, ok := v.(ojson.Number); ok {
		return n.Float()
	}
	return def
}

// plain turns an ojson input value into plain Go values for a request body.
func plain(in *ojson.Object, key string) any {
	v, ok := in.Get(key)
	if !ok || v == nil {
		return nil
	}
	return ojson.ToGo(v)
}

// setIf sets body[key] when v is not nil (undefined params are not sent).
func setIf(body map[string]any, key string, v any) {
	if v != nil {
		body[key] = v
	}
}

// ---- logging ----

func logf(ac *scaffolder.ActionContext, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ac.Log != nil {
		_, _ = io.WriteString(ac.Log, msg+"\n")
	}
	if ac.Logger != nil {
		ac.Logger.Debug(msg, slog.String("task", ac.TaskID))
	}
}

// warnf logs a warning: the step goes on.
func warnf(ac *scaffolder.ActionContext, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if ac.Log != nil {
		_, _ = io.WriteString(ac.Log, msg+"\n")
	}
	if ac.Logger != nil {
		ac.Logger.Warn(msg, slog.String("task", ac.TaskID))
	}
}

// ---- workspace paths ----

var leadingDotDot = regexp.MustCompile(`^(\.\.(/|\\|$))+`)

// repoSourceDir is the directory of sourcePath inside the workspace, as
// Backstage's getRepoSourceDirectory: leading ".." segments are dropped,
// and anything that still leaves the workspace (also through a symlink)
// fails.
func repoSourceDir(ws, sourcePath string) (string, error) {
	if sourcePath == "" {
		return ws, nil
	}
	safe := leadingDotDot.ReplaceAllString(filepath.ToSlash(filepath.Clean(sourcePath)), "")
	if filepath.IsAbs(safe) {
		safe = strings.TrimLeft(safe, "/")
	}
	p, err := workspace.ResolveSafeChildPath(ws, safe)
	if err != nil {
		return "", errors.New("Invalid source path")
	}
	return p, nil
}
