package githubtest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ServeGit makes the server a git host too: every repository gets a bare
// repository under root (created on first use) served over git's smart HTTP
// protocol by `git http-backend` at /git/<owner>/<name>.git, and the API
// reports that URL as the repository's clone_url. When Token is set, git
// requests must authenticate as GitHub expects for tokens: basic auth with
// the token as the password. After each push the API's view of the branches
// (contents, trees, commits, branches) is refreshed from the bare repository.
// It fails when no git executable is installed.
func (s *Server) ServeGit(root string) error {
	if _, err := exec.LookPath("git"); err != nil {
		return fmt.Errorf("githubtest: git smart HTTP needs the git executable: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gitRoot = root
	return nil
}

// GitDir is the bare repository of owner/name (it exists once the
// repository was pushed to or fetched from).
func (s *Server) GitDir(full string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return filepath.Join(s.gitRoot, filepath.FromSlash(full)+".git")
}

func (s *Server) cloneURL(full string) string {
	if s.gitRoot == "" {
		return "https://github.com/" + full + ".git"
	}
	return s.URL + "/git/" + full + ".git"
}

func (s *Server) serveGit(w http.ResponseWriter, r *http.Request, p string) {
	rec := Request{Method: r.Method, Path: p, Query: r.URL.RawQuery, Auth: r.Header.Get("Authorization")}
	status := s.gitStatus(w, r, p)
	rec.Status = status
	s.mu.Lock()
	s.log = append(s.log, rec)
	s.mu.Unlock()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (s *Server) gitStatus(w http.ResponseWriter, r *http.Request, p string) int {
	rel := strings.TrimPrefix(p, "/git/")
	parts := strings.SplitN(rel, "/", 3)
	s.mu.Lock()
	root, token := s.gitRoot, s.Token
	var rp *Repo
	if len(parts) >= 2 {
		rp = s.repos[parts[0]+"/"+strings.TrimSuffix(parts[1], ".git")]
	}
	s.mu.Unlock()
	if root == "" || rp == nil || !strings.HasSuffix(parts[1], ".git") {
		http.NotFound(w, r)
		return http.StatusNotFound
	}
	if token != "" {
		if _, pw, ok := r.BasicAuth(); !ok || pw != token {
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
			return http.StatusUnauthorized
		}
	}
	full := rp.Owner + "/" + rp.Name
	dir := filepath.Join(root, filepath.FromSlash(full)+".git")
	if err := ensureBare(dir); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return http.StatusInternalServerError
	}
	gitBin, _ := exec.LookPath("git")
	h := &cgi.Handler{Path: gitBin, Args: []string{"http-backend"}, Root: "/git",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	sw := &statusWriter{ResponseWriter: w}
	h.ServeHTTP(sw, r)
	if r.Method == http.MethodPost && strings.HasSuffix(p, "/git-receive-pack") {
		if err := s.syncFromGit(full, dir); err != nil {
			fmt.Fprintf(os.Stderr, "githubtest: sync %s: %v\n", full, err)
		}
	}
	return sw.status
}

func ensureBare(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); err == nil {
		return nil
	}
	repo, err := git.PlainInit(dir, true)
	if err != nil {
		return fmt.Errorf("init %s: %w", dir, err)
	}
	cfg, err := repo.Config()
	if err != nil {
		return err
	}
	cfg.Raw.Section("http").SetOption("receivepack", "true")
	return repo.SetConfig(cfg)
}

// syncFromGit copies every branch of the bare repository into the API's
// state, so that API reads see what was pushed.
func (s *Server) syncFromGit(full, dir string) error {
	repo, err := git.PlainOpen(dir)
	if err != nil {
		return err
	}
	refs, err := repo.References()
	if err != nil {
		return err
	}
	type branch struct {
		name, sha string
		c         *apiCommit
	}
	var branches []branch
	err = refs.ForEach(func(ref *plumbing.Reference) error {
		if !ref.Name().IsBranch() {
			return nil
		}
		commit, err := repo.CommitObject(ref.Hash())
		if err != nil {
			return err
		}
		files := map[string]string{}
		tree, err := commit.Tree()
		if err != nil {
			return err
		}
		err = tree.Files().ForEach(func(f *object.File) error {
			rd, err := f.Reader()
			if err != nil {
				return err
			}
			defer rd.Close()
			b, err := io.ReadAll(rd)
			files[f.Name] = string(b)
			return err
		})
		if err != nil {
			return err
		}
		var parents []string
		for _, h := range commit.ParentHashes {
			parents = append(parents, h.String())
		}
		branches = append(branches, branch{ref.Name().Short(), ref.Hash().String(), &apiCommit{Files: files,
			Message: commit.Message, Parents: parents,
			Author: map[string]any{"name": commit.Author.Name, "email": commit.Author.Email}}})
		return nil
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repos[full]
	if rp == nil {
		return errors.New("repository is gone")
	}
	for _, b := range branches {
		s.commits[b.sha] = b.c
		for _, c := range b.c.Files {
			s.remember(c)
		}
		s.setBranch(rp, b.name, b.sha, b.c.Files)
	}
	return nil
}
