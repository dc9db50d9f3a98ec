// Package githubmodule adds GitHub to the catalog and the scaffolder: the
// discovery and org entity providers, analyze-location for GitHub
// repositories and the push webhook (catalog), and the github actions and
// autocomplete (scaffolder). The GitHub URL reader is part of the URL
// reader service (plugins/backend/urlreaders).
package githubmodule

import (
	"context"
	"fmt"
	"strings"

	"github.com/labstack/echo/v4"

	catalogplugin "github.com/understage/understage/catalog/plugin"
	"github.com/understage/understage/plugins/backend/system"
	"github.com/understage/understage/plugins/github"
	scaffolderplugin "github.com/understage/understage/scaffolder/plugin"
)

// CatalogModule is the catalog's GitHub module.
var CatalogModule = system.Module{PluginID: "catalog", ModuleID: "github", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{Func: initCatalog})
}}

func initCatalog(ctx context.Context, env *system.Env) error {
	x, err := system.Extension(env, catalogplugin.ExtensionPoint)
	if err != nil {
		return err
	}
	cfg := env.Config
	clients := env.GitHubClients()
	for _, in := range clients.Integrations() {
		c, _, err := clients.For(in.Host)
		if err != nil {
			return fmt.Errorf("github integration %s: %w", in.Host, err)
		}
		x.AddLocationAnalyzer(repoHost{c})
	}
	providers, err := github.Providers(ctx, cfg, github.ProviderOptions{Logger: env.Logger, Clients: clients})
	if err != nil {
		return fmt.Errorf("github providers: %w", err)
	}
	for _, p := range providers {
		if err := x.AddEntityProvider(p); err != nil {
			return err
		}
	}
	secrets, err := github.WebhookSecrets(cfg)
	if err != nil {
		return fmt.Errorf("github webhook: %w", err)
	}
	// GitHub signs its deliveries; the signature, not a Backstage token,
	// authenticates them (Backstage's events path, so existing hooks work).
	env.RouterFor("events").POST("/http/github", echo.WrapHandler(github.NewWebhook(github.WebhookOptions{
		Secrets:   secrets,
		Providers: github.DiscoveryProviders(providers),
		Refresher: x,
		Trigger:   x.TriggerProvider,
		Logger:    env.Logger.With("plugin", "events"),
	})))
	return nil
}

// repoHost lets analyze-location recognise and query the repositories of
// a GitHub integration.
type repoHost struct{ c *github.Client }

func (h repoHost) Kind() string { return "github" }

func (h repoHost) Repo(raw string) (string, string, bool) {
	loc, err := h.c.Integration().ParseURL(raw)
	if err != nil || loc.Owner == "" || loc.Repo == "" {
		return "", "", false
	}
	return loc.Owner, strings.TrimSuffix(loc.Repo, ".git"), true
}

func (h repoHost) DefaultBranch(ctx context.Context, owner, repo string) (string, error) {
	return h.c.DefaultBranch(ctx, owner, repo)
}

func (h repoHost) BlobURL(owner, repo, ref, p string) string {
	return h.c.Integration().BlobURL(owner, repo, ref, p)
}

// ScaffolderModule is the scaffolder's GitHub module: publish:github,
// github:* actions and the github autocomplete provider.
var ScaffolderModule = system.Module{PluginID: "scaffolder", ModuleID: "github", Register: func(r *system.Registrar) {
	r.RegisterInit(system.Init{Func: initScaffolder})
}}

func initScaffolder(_ context.Context, env *system.Env) error {
	x, err := system.Extension(env, scaffolderplugin.ExtensionPoint)
	if err != nil {
		return err
	}
	opts, err := github.ActionOptionsFromConfig(env.Config)
	if err != nil {
		return fmt.Errorf("scaffolder github actions: %w", err)
	}
	opts.Clients = env.GitHubClients()
	return github.RegisterScaffolder(x, x, opts)
}
