package github

import (
	"context"
	"fmt"

	gh "github.com/google/go-github/v60/github"
)

// pageSize is the largest page GitHub serves, which keeps listings to the
// fewest (conditional) requests.
const pageSize = 100

// listAll walks every page of a listing. Each page request goes through
// the client's conditional cache, so an unchanged page costs a 304.
func listAll[T any](ctx context.Context, what string, page func(opt gh.ListOptions) ([]T, *gh.Response, error)) ([]T, error) {
	var out []T
	opt := gh.ListOptions{PerPage: pageSize, Page: 1}
	for {
		items, resp, err := page(opt)
		if err != nil {
			return nil, classify(err, what)
		}
		out = append(out, items...)
		if resp == nil || resp.NextPage == 0 {
			return out, nil
		}
		opt.Page = resp.NextPage
	}
}

// ListOrgRepos lists every repository of an organisation.
func (c *Client) ListOrgRepos(ctx context.Context, org string) ([]*gh.Repository, error) {
	return listAll(ctx, fmt.Sprintf("repositories of %s", org), func(opt gh.ListOptions) ([]*gh.Repository, *gh.Response, error) {
		return c.gh.Repositories.ListByOrg(ctx, org, &gh.RepositoryListByOrgOptions{Type: "all", ListOptions: opt})
	})
}

// ListOrgMembers lists the members of an organisation (logins and avatars;
// GetUser has names and emails).
func (c *Client) ListOrgMembers(ctx context.Context, org string) ([]*gh.User, error) {
	return listAll(ctx, fmt.Sprintf("members of %s", org), func(opt gh.ListOptions) ([]*gh.User, *gh.Response, error) {
		return c.gh.Organizations.ListMembers(ctx, org, &gh.ListMembersOptions{ListOptions: opt})
	})
}

// GetUser reads one user's profile.
func (c *Client) GetUser(ctx context.Context, login string) (*gh.User, error) {
	u, _, err := c.gh.Users.Get(ctx, login)
	if err != nil {
		return nil, classify(err, "user "+login)
	}
	return u, nil
}

// Team is a team with its members' logins; Parent is the parent team's slug.
type Team struct {
	*gh.Team
	Parent  string
	Members []string
}

// ListTeams lists an organisation's teams with their members and parents.
func (c *Client) ListTeams(ctx context.Context, org string) ([]Team, error) {
	teams, err := listAll(ctx, fmt.Sprintf("teams of %s", org), func(opt gh.ListOptions) ([]*gh.Team, *gh.Response, error) {
		return c.gh.Teams.ListTeams(ctx, org, &opt)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Team, 0, len(teams))
	for _, t := range teams {
		members, err := listAll(ctx, fmt.Sprintf("members of team %s/%s", org, t.GetSlug()),
			func(opt gh.ListOptions) ([]*gh.User, *gh.Response, error) {
				return c.gh.Teams.ListTeamMembersBySlug(ctx, org, t.GetSlug(), &gh.TeamListTeamMembersOptions{ListOptions: opt})
			})
		if err != nil {
			return nil, err
		}
		tm := Team{Team: t, Parent: t.GetParent().GetSlug()}
		for _, m := range members {
			tm.Members = append(tm.Members, m.GetLogin())
		}
		out = append(out, tm)
	}
	return out, nil
}
