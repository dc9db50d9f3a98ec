package github

import (
	"context"

	gh "github.com/google/go-github/v60/github"

	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/ojson"
)

// Autocomplete is the scaffolder's "github" autocomplete provider (POST
// /v2/autocomplete/github/<resource>), acting with the user's token:
// repositoriesWithOwner lists "owner/name" of the repositories the user
// can see, branches the branches of context.owner/context.repository, and
// owners the user's organisations. context.host picks the integration
// (default github.com); other resources fail with InputError.
func Autocomplete(o ActionOptions) func(ctx context.Context, resource, token string, context map[string]string) ([]any, error) {
	return func(ctx context.Context, resource, token string, context map[string]string) ([]any, error) {
		host := context["host"]
		if host == "" {
			host = DefaultHost
		}
		integ, ok := o.integration(host)
		if !ok {
			return nil, backend.Input("No integration for host %s", host)
		}
		c, err := o.clients().WithToken(integ, token)
		if err != nil {
			return nil, err
		}
		g := c.GitHub()
		var out []any
		opts := gh.ListOptions{PerPage: 100}
		switch resource {
		case "repositoriesWithOwner":
			for {
				repos, resp, err := g.Repositories.ListByAuthenticatedUser(ctx, &gh.RepositoryListByAuthenticatedUserOptions{ListOptions: opts})
				if err != nil {
					return nil, apiError(err, "")
				}
				for _, r := range repos {
					out = append(out, ojson.NewObject("id", r.GetFullName()))
				}
				if resp.NextPage == 0 {
					return out, nil
				}
				opts.Page = resp.NextPage
			}
		case "branches":
			owner, repo := context["owner"], context["repository"]
			if owner == "" || repo == "" {
				return nil, backend.Input("Missing owner and/or repository context parameter")
			}
			for {
				branches, resp, err := g.Repositories.ListBranches(ctx, owner, repo, &gh.BranchListOptions{ListOptions: opts})
				if err != nil {
					return nil, apiError(err, "")
				}
				for _, b := range branches {
					out = append(out, ojson.NewObject("id", b.GetName()))
				}
				if resp.NextPage == 0 {
					return out, nil
				}
				opts.Page = resp.NextPage
			}
		case "owners":
			for {
				orgs, resp, err := g.Organizations.List(ctx, "", &opts)
				if err != nil {
					return nil, apiError(err, "")
				}
				for _, org := range orgs {
					out = append(out, ojson.NewObject("id", org.GetLogin()))
				}
				if resp.NextPage == 0 {
					return out, nil
				}
				opts.Page = resp.NextPage
			}
		}
		return nil, backend.Input("Invalid resource: %s", resource)
	}
}
