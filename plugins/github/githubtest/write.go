package githubtest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"

	"golang.org/x/crypto/nacl/box"
)

// This file is the write half of the fake: repository creation (for an
// organisation or the authenticated user), collaborators, team access,
// topics, branch protection, Actions variables and secrets, the git data API
// (blobs, trees, commits, refs), pull requests with reviewers and assignees,
// workflow dispatches and webhooks. State lands on the Repo values (see the
// fields set by the write API) and every body is in the request log.

// Dispatch is one workflow dispatch.
type Dispatch struct {
	Workflow string
	Ref      string
	Inputs   map[string]any
	RunID    int64 // set when return_run_details was asked
}

// Pull is one pull request.
type Pull struct {
	Number        int
	Head, Base    string // branch names (head without the "owner:" prefix)
	Title, Body   string
	Draft         bool
	Reviewers     []string
	TeamReviewers []string
	Assignees     []string
}

// apiCommit is a commit made through POST git/commits or read from a push.
type apiCommit struct {
	Files   map[string]string
	Message string
	Author  map[string]any
	Parents []string
}

// Repo returns a copy of a repository's state (nil when there is none).
func (s *Server) Repo(full string) *Repo {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[full]
	if rp == nil {
		return nil
	}
	c := *rp
	return &c
}

// Commit returns the message, author ({name, email}) and files of a commit
// made through the git data API.
func (s *Server) Commit(sha string) (message string, author map[string]any, files map[string]string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.commits[sha]
	if c == nil {
		return "", nil, nil, false
	}
	return c.Message, c.Author, c.Files, true
}

func readBody(r *http.Request) []byte {
	if r.Body == nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	r.Body = io.NopCloser(bytes.NewReader(b))
	return b
}

func decodeBody(r *http.Request) map[string]any {
	m := map[string]any{}
	b := readBody(r)
	if len(b) > 0 {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

var errValidation = errBody{Message: "Validation Failed", DocumentationURL: "https://docs.github.com/rest"}

// routeRead answers the GETs the write API adds, then the original ones.
func (s *Server) routeRead(r *http.Request, p string) (int, any, []byte) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	switch {
	case p == "/user":
		return http.StatusOK, s.userJSON(s.Login, true), nil
	case p == "/user/repos":
		var all []any
		for _, k := range sortedKeys(s.repos) {
			all = append(all, s.repoJSON(s.repos[k]))
		}
		return s.page(r, all)
	case p == "/user/orgs":
		var all []any
		for _, o := range sortedKeys(s.orgs) {
			all = append(all, map[string]any{"login": o, "id": idOf(o)})
		}
		return s.page(r, all)
	case len(seg) >= 3 && seg[0] == "repos":
		rp := s.repos[seg[1]+"/"+seg[2]]
		rest := seg[3:]
		if rp == nil || len(rest) == 0 {
			break
		}
		switch {
		case len(rest) == 1 && rest[0] == "branches":
			var all []any
			for _, b := range s.branchNames(rp) {
				files, sha, _ := s.resolve(rp, b)
				all = append(all, map[string]any{"name": b, "commit": map[string]any{"sha": sha,
					"commit": map[string]any{"tree": map[string]any{"sha": treeSHA(files, "")}}}})
			}
			return s.page(r, all)
		case len(rest) >= 4 && rest[0] == "git" && rest[1] == "ref" && rest[2] == "heads":
			b := strings.Join(rest[3:], "/")
			if !slicesContains(s.branchNames(rp), b) {
				return http.StatusNotFound, notFound, nil
			}
			_, sha, _ := s.resolve(rp, b)
			return http.StatusOK, map[string]any{"ref": "refs/heads/" + b,
				"object": map[string]any{"type": "commit", "sha": sha}}, nil
		case len(rest) == 3 && rest[0] == "git" && rest[1] == "commits":
			files, sha, ok := s.resolve(rp, rest[2])
			if !ok {
				return http.StatusNotFound, notFound, nil
			}
			return http.StatusOK, map[string]any{"sha": sha, "tree": map[string]any{"sha": treeSHA(files, "")}}, nil
		case len(rest) == 1 && rest[0] == "pulls":
			q := r.URL.Query()
			var all []any
			for _, pr := range rp.Pulls {
				if h := q.Get("head"); h != "" && h != rp.Owner+":"+pr.Head {
					continue
				}
				all = append(all, s.pullJSON(rp, pr))
			}
			return s.page(r, all)
		case len(rest) == 3 && rest[0] == "actions" && rest[1] == "secrets" && rest[2] == "public-key":
			if err := s.ensureSecretKey(); err != nil {
				return http.StatusInternalServerError, errBody{Message: err.Error()}, nil
			}
			return http.StatusOK, map[string]any{"key_id": "fake-key-1",
				"key": base64.StdEncoding.EncodeToString(s.secretPub[:])}, nil
		}
	}
	return s.route(r, p)
}

func slicesContains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

// branchNames lists the default branch and every other branch, sorted.
func (s *Server) branchNames(rp *Repo) []string {
	names := []string{rp.DefaultBranch}
	for _, b := range sortedKeys(rp.Branches) {
		if b != rp.DefaultBranch {
			names = append(names, b)
		}
	}
	return names
}

// resolve finds the files and commit sha of a branch, HEAD or commit sha.
func (s *Server) resolve(rp *Repo, ref string) (map[string]string, string, bool) {
	full := rp.Owner + "/" + rp.Name
	if c := s.commits[ref]; c != nil {
		return c.Files, ref, true
	}
	if ref == "" || ref == "HEAD" {
		ref = rp.DefaultBranch
	}
	files, ok := rp.files(ref)
	if !ok {
		return nil, "", false
	}
	if sha := s.heads[full+"\x00"+ref]; sha != "" {
		return files, sha, true
	}
	sha := commitSHA(files)
	s.trees[treeSHA(files, "")] = files
	return files, sha, true
}

// setBranch points a branch at a commit's files.
func (s *Server) setBranch(rp *Repo, branch, sha string, files map[string]string) {
	if branch == rp.DefaultBranch {
		rp.Files = files
	} else {
		if rp.Branches == nil {
			rp.Branches = map[string]map[string]string{}
		}
		rp.Branches[branch] = files
	}
	s.heads[rp.Owner+"/"+rp.Name+"\x00"+branch] = sha
}

// routeWrite answers POST, PUT, PATCH and DELETE with s.mu held.
func (s *Server) routeWrite(r *http.Request, p string) (int, any) {
	seg := strings.Split(strings.Trim(p, "/"), "/")
	body := decodeBody(r)
	switch {
	case r.Method == http.MethodPost && len(seg) == 3 && seg[0] == "orgs" && seg[2] == "repos":
		if !s.orgs[seg[1]] {
			return http.StatusNotFound, notFound
		}
		return s.createRepo(seg[1], body)
	case r.Method == http.MethodPost && p == "/user/repos":
		return s.createRepo(s.Login, body)
	case r.Method == http.MethodPut && len(seg) == 7 && seg[0] == "orgs" && seg[2] == "teams" && seg[4] == "repos":
		if s.team(seg[1], seg[3]) == nil {
			return http.StatusNotFound, notFound
		}
		rp := s.repos[seg[5]+"/"+seg[6]]
		if rp == nil {
			return http.StatusNotFound, notFound
		}
		if rp.TeamAccess == nil {
			rp.TeamAccess = map[string]string{}
		}
		rp.TeamAccess[seg[3]] = str(body["permission"])
		return http.StatusNoContent, nil
	case len(seg) >= 4 && seg[0] == "repos":
		rp := s.repos[seg[1]+"/"+seg[2]]
		if rp == nil {
			return http.StatusNotFound, notFound
		}
		return s.writeRepo(r, rp, seg[3:], body)
	}
	return http.StatusNotFound, notFound
}

func str(v any) string { s, _ := v.(string); return s }

func strs(v any) []string {
	arr, _ := v.([]any)
	var out []string
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (s *Server) createRepo(owner string, body map[string]any) (int, any) {
	name := str(body["name"])
	if name == "" {
		return http.StatusUnprocessableEntity, errValidation
	}
	if s.repos[owner+"/"+name] != nil {
		return http.StatusUnprocessableEntity, map[string]any{"message": "Repository creation failed.",
			"errors": []any{map[string]any{"resource": "Repository", "code": "custom", "field": "name",
				"message": "name already exists on this account"}}}
	}
	rp := &Repo{Owner: owner, Name: name, DefaultBranch: "main", Files: map[string]string{},
		Description: str(body["description"]), Homepage: str(body["homepage"]), Created: body}
	rp.Private, _ = body["private"].(bool)
	if v := str(body["visibility"]); v != "" {
		rp.Visibility = v
		rp.Private = v != "public"
	}
	s.repos[owner+"/"+name] = rp
	if s.users[owner] == nil {
		s.orgs[owner] = true
	}
	return http.StatusCreated, s.repoJSON(rp)
}

// writeRepo answers writes under /repos/{owner}/{repo}/.
func (s *Server) writeRepo(r *http.Request, rp *Repo, rest []string, body map[string]any) (int, any) {
	full := rp.Owner + "/" + rp.Name
	m, joined := r.Method, strings.Join(rest, "/")
	switch {
	case m == http.MethodPut && len(rest) == 2 && rest[0] == "collaborators":
		if s.users[rest[1]] == nil {
			return http.StatusNotFound, notFound
		}
		if rp.Collaborators == nil {
			rp.Collaborators = map[string]string{}
		}
		rp.Collaborators[rest[1]] = str(body["permission"])
		return http.StatusCreated, map[string]any{"id": idOf(full + rest[1]), "permissions": str(body["permission"])}
	case m == http.MethodPut && joined == "topics":
		rp.Topics = strs(body["names"])
		return http.StatusOK, map[string]any{"names": body["names"]}
	case m == http.MethodPut && len(rest) >= 3 && rest[0] == "branches" && rest[len(rest)-1] == "protection":
		b := strings.Join(rest[1:len(rest)-1], "/")
		if !slicesContains(s.branchNames(rp), b) || (b == rp.DefaultBranch && len(rp.Files) == 0) {
			return http.StatusNotFound, errBody{Message: "Branch not found"}
		}
		if rp.Protection == nil {
			rp.Protection = map[string]any{}
		}
		rp.Protection[b] = body
		return http.StatusOK, map[string]any{"url": "https://api.github.com/repos/" + full + "/branches/" + b + "/protection"}
	case m == http.MethodPost && len(rest) >= 4 && rest[0] == "branches" && rest[len(rest)-1] == "required_signatures":
		b := strings.Join(rest[1:len(rest)-2], "/")
		if _, ok := rp.Protection[b]; !ok {
			return http.StatusNotFound, errBody{Message: "Branch not protected"}
		}
		rp.Protection[b+":required_signatures"] = true
		return http.StatusOK, map[string]any{"enabled": true}
	case m == http.MethodPost && joined == "actions/variables":
		if rp.Variables == nil {
			rp.Variables = map[string]string{}
		}
		rp.Variables[str(body["name"])] = str(body["value"])
		return http.StatusCreated, map[string]any{}
	case m == http.MethodPut && len(rest) == 3 && rest[0] == "actions" && rest[1] == "secrets":
		return s.putSecret(rp, rest[2], body)
	case m == http.MethodPut && (joined == "actions/oidc/customization/sub" || joined == "subscription" ||
		joined == "actions/permissions/access"):
		return http.StatusNoContent, nil
	case m == http.MethodPost && joined == "hooks":
		hook := map[string]any{"id": len(rp.Hooks) + 1, "type": "Repository", "name": "web",
			"active": body["active"], "events": body["events"], "config": body["config"]}
		rp.Hooks = append(rp.Hooks, body)
		return http.StatusCreated, hook
	case m == http.MethodPost && len(rest) == 4 && rest[0] == "actions" && rest[1] == "workflows" && rest[3] == "dispatches":
		ref := str(body["ref"])
		if ref == "" {
			return http.StatusUnprocessableEntity, errValidation
		}
		inputs, _ := body["inputs"].(map[string]any)
		d := Dispatch{Workflow: rest[2], Ref: ref, Inputs: inputs}
		if rd, _ := body["return_run_details"].(bool); rd {
			d.RunID = idOf(fmt.Sprintf("%s/%s/%d", full, rest[2], len(rp.Dispatches)))
			rp.Dispatches = append(rp.Dispatches, d)
			return http.StatusOK, map[string]any{"workflow_run_id": d.RunID,
				"run_url":  fmt.Sprintf("https://api.github.com/repos/%s/actions/runs/%d", full, d.RunID),
				"html_url": fmt.Sprintf("https://github.com/%s/actions/runs/%d", full, d.RunID)}
		}
		rp.Dispatches = append(rp.Dispatches, d)
		return http.StatusNoContent, nil
	case m == http.MethodPost && joined == "git/blobs":
		data := []byte(str(body["content"]))
		if str(body["encoding"]) == "base64" {
			dec, err := base64.StdEncoding.DecodeString(string(data))
			if err != nil {
				return http.StatusUnprocessableEntity, errValidation
			}
			data = dec
		}
		s.remember(string(data))
		return http.StatusCreated, map[string]any{"sha": blobSHA(string(data))}
	case m == http.MethodPost && joined == "git/trees":
		return s.createTree(rp, body)
	case m == http.MethodPost && joined == "git/commits":
		tree := s.trees[str(body["tree"])]
		if tree == nil {
			return http.StatusUnprocessableEntity, errBody{Message: "Tree SHA does not exist"}
		}
		parents := strs(body["parents"])
		author, _ := body["author"].(map[string]any)
		h := sha1.New()
		fmt.Fprintf(h, "apicommit %s\x00%s\x00%v\x00%v", str(body["tree"]), str(body["message"]), parents, author)
		sha := hex.EncodeToString(h.Sum(nil))
		s.commits[sha] = &apiCommit{Files: tree, Message: str(body["message"]), Author: author, Parents: parents}
		return http.StatusCreated, map[string]any{"sha": sha, "message": body["message"],
			"tree": map[string]any{"sha": body["tree"]}}
	case m == http.MethodPost && joined == "git/refs":
		b, ok := strings.CutPrefix(str(body["ref"]), "refs/heads/")
		c := s.commits[str(body["sha"])]
		if !ok || c == nil {
			return http.StatusUnprocessableEntity, errValidation
		}
		if slicesContains(s.branchNames(rp), b) && (b != rp.DefaultBranch || len(rp.Files) > 0) {
			return http.StatusUnprocessableEntity, errBody{Message: "Reference already exists"}
		}
		s.setBranch(rp, b, str(body["sha"]), c.Files)
		return http.StatusCreated, map[string]any{"ref": "refs/heads/" + b, "object": map[string]any{"sha": body["sha"], "type": "commit"}}
	case m == http.MethodPatch && len(rest) >= 4 && rest[0] == "git" && rest[1] == "refs" && rest[2] == "heads":
		b := strings.Join(rest[3:], "/")
		c := s.commits[str(body["sha"])]
		if c == nil {
			return http.StatusUnprocessableEntity, errValidation
		}
		if !slicesContains(s.branchNames(rp), b) {
			return http.StatusUnprocessableEntity, errBody{Message: "Reference does not exist"}
		}
		s.setBranch(rp, b, str(body["sha"]), c.Files)
		return http.StatusOK, map[string]any{"ref": "refs/heads/" + b, "object": map[string]any{"sha": body["sha"], "type": "commit"}}
	case m == http.MethodPost && joined == "pulls":
		return s.createPull(rp, body)
	case m == http.MethodPatch && len(rest) == 2 && rest[0] == "pulls":
		pr := s.pull(rp, rest[1])
		if pr == nil {
			return http.StatusNotFound, notFound
		}
		pr.Title, pr.Body = str(body["title"]), str(body["body"])
		return http.StatusOK, s.pullJSON(rp, pr)
	case m == http.MethodPost && len(rest) == 3 && rest[0] == "pulls" && rest[2] == "requested_reviewers":
		pr := s.pull(rp, rest[1])
		if pr == nil {
			return http.StatusNotFound, notFound
		}
		pr.Reviewers = append(pr.Reviewers, strs(body["reviewers"])...)
		pr.TeamReviewers = append(pr.TeamReviewers, strs(body["team_reviewers"])...)
		return http.StatusCreated, s.pullJSON(rp, pr)
	case m == http.MethodPost && len(rest) == 3 && rest[0] == "issues" && rest[2] == "assignees":
		pr := s.pull(rp, rest[1])
		if pr == nil {
			return http.StatusNotFound, notFound
		}
		pr.Assignees = append(pr.Assignees, strs(body["assignees"])...)
		return http.StatusCreated, s.pullJSON(rp, pr)
	}
	return http.StatusNotFound, notFound
}

func (s *Server) createTree(rp *Repo, body map[string]any) (int, any) {
	files := map[string]string{}
	if base := str(body["base_tree"]); base != "" {
		bt := s.trees[base]
		if bt == nil {
			return http.StatusUnprocessableEntity, errBody{Message: "base_tree is not a valid tree oid"}
		}
		for k, v := range bt {
			files[k] = v
		}
	}
	entries, _ := body["tree"].([]any)
	for _, e := range entries {
		em, _ := e.(map[string]any)
		p := str(em["path"])
		if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") || strings.HasPrefix(p, "../") {
			return http.StatusUnprocessableEntity, errBody{Message: "tree.path contains a malformed path component"}
		}
		switch sha, has := em["sha"]; {
		case has && sha == nil:
			delete(files, p)
		case has:
			c, ok := s.objects[str(sha)]
			if !ok {
				return http.StatusUnprocessableEntity, errBody{Message: "tree.sha " + str(sha) + " is not a valid blob"}
			}
			files[p] = string(c)
		default:
			files[p] = str(em["content"])
			s.remember(files[p])
		}
	}
	sha := treeSHA(files, "")
	s.trees[sha] = files
	return http.StatusCreated, map[string]any{"sha": sha}
}

func (s *Server) createPull(rp *Repo, body map[string]any) (int, any) {
	head := str(body["head"])
	if _, b, ok := strings.Cut(head, ":"); ok {
		head = b
	}
	base := str(body["base"])
	if !slicesContains(s.branchNames(rp), head) || !slicesContains(s.branchNames(rp), base) || head == base {
		return http.StatusUnprocessableEntity, errValidation
	}
	draft, _ := body["draft"].(bool)
	pr := &Pull{Number: len(rp.Pulls) + 1, Head: head, Base: base, Title: str(body["title"]),
		Body: str(body["body"]), Draft: draft}
	rp.Pulls = append(rp.Pulls, pr)
	return http.StatusCreated, s.pullJSON(rp, pr)
}

func (s *Server) pull(rp *Repo, num string) *Pull {
	n, _ := strconv.Atoi(num)
	for _, pr := range rp.Pulls {
		if pr.Number == n {
			return pr
		}
	}
	return nil
}

func (s *Server) pullJSON(rp *Repo, pr *Pull) map[string]any {
	full := rp.Owner + "/" + rp.Name
	users := func(l []string) []any {
		out := []any{}
		for _, u := range l {
			out = append(out, map[string]any{"login": u})
		}
		return out
	}
	teams := []any{}
	for _, t := range pr.TeamReviewers {
		teams = append(teams, map[string]any{"slug": t})
	}
	return map[string]any{"number": pr.Number, "state": "open", "title": pr.Title, "body": pr.Body,
		"draft":     pr.Draft,
		"html_url":  fmt.Sprintf("https://github.com/%s/pull/%d", full, pr.Number),
		"url":       fmt.Sprintf("https://api.github.com/repos/%s/pulls/%d", full, pr.Number),
		"head":      map[string]any{"ref": pr.Head, "label": rp.Owner + ":" + pr.Head},
		"base":      map[string]any{"ref": pr.Base, "label": rp.Owner + ":" + pr.Base},
		"assignees": users(pr.Assignees), "requested_reviewers": users(pr.Reviewers),
		"requested_teams": teams}
}

func (s *Server) ensureSecretKey() error {
	if s.secretKey != nil {
		return nil
	}
	pub, priv, err := box.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	s.secretPub, s.secretKey = pub, priv
	return nil
}

// putSecret opens the sealed box the client made with the public key, as
// GitHub does, and keeps the plain value for the test to check.
func (s *Server) putSecret(rp *Repo, name string, body map[string]any) (int, any) {
	if s.secretKey == nil || str(body["key_id"]) != "fake-key-1" {
		return http.StatusUnprocessableEntity, errBody{Message: "Bad key_id"}
	}
	sealed, err := base64.StdEncoding.DecodeString(str(body["encrypted_value"]))
	if err != nil {
		return http.StatusUnprocessableEntity, errBody{Message: "encrypted_value is not base64"}
	}
	plain, ok := box.OpenAnonymous(nil, sealed, s.secretPub, s.secretKey)
	if !ok {
		return http.StatusUnprocessableEntity, errBody{Message: "encrypted_value cannot be decrypted"}
	}
	if rp.Secrets == nil {
		rp.Secrets = map[string]string{}
	}
	rp.Secrets[name] = string(plain)
	return http.StatusCreated, map[string]any{}
}
