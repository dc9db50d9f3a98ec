package github

import (
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/understage/understage/plugins/backend"
)

// Location is a parsed GitHub URL.
type Location struct {
	Owner, Repo string
	// Ref is the branch, tag or commit; empty means the default branch.
	Ref string
	// Path is the file or directory inside the repository, without leading
	// or trailing slashes; empty is the root.
	Path string
}

// String is a short owner/repo@ref:path form for logs.
func (l Location) String() string { return l.Owner + "/" + l.Repo + "@" + l.Ref + ":" + l.Path }

var namePart = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Claims reports whether u is a URL of this integration: its web host, or
// under its raw base URL.
func (i Integration) Claims(u *url.URL) bool {
	if u.Scheme != "https" && u.Scheme != "http" {
		return false
	}
	if strings.EqualFold(u.Host, i.Host) {
		return true
	}
	_, ok := i.rawPath(u)
	return ok
}

// rawPath returns the part of u after the raw base URL.
func (i Integration) rawPath(u *url.URL) (string, bool) {
	rb, err := url.Parse(i.RawBaseURL)
	if err != nil || !strings.EqualFold(rb.Host, u.Host) || rb.Scheme != u.Scheme {
		return "", false
	}
	rest, ok := strings.CutPrefix(u.Path, strings.TrimRight(rb.Path, "/")+"/")
	return rest, ok
}

// ParseURL parses the URL forms Backstage accepts for GitHub:
//
//	https://<host>/<owner>/<repo>                      (root, default branch)
//	https://<host>/<owner>/<repo>/blob/<ref>/<path>    (file)
//	https://<host>/<owner>/<repo>/tree/<ref>/<path>    (directory)
//	<rawBaseUrl>/<owner>/<repo>/<ref>/<path>           (raw file)
//
// A ref is one path segment (branches with slashes are ambiguous in these
// URLs, as they are for Backstage). Query and fragment are ignored. Segments
// that would walk out of the repository ("..", encoded or not) are refused.
func (i Integration) ParseURL(raw string) (Location, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Location{}, backend.Input("invalid GitHub URL '%s': %v", raw, err)
	}
	bad := func(why string) (Location, error) {
		return Location{}, backend.Input("invalid GitHub URL '%s': %s", raw, why)
	}
	var segs []string
	isRaw := false
	if rest, ok := i.rawPath(u); ok {
		segs, isRaw = splitSegs(rest), true
	} else if strings.EqualFold(u.Host, i.Host) {
		segs = splitSegs(u.Path)
	} else {
		return bad("host is not " + i.Host)
	}
	for _, s := range segs {
		if s == "." || s == ".." || strings.ContainsAny(s, "\\\x00") {
			return bad("path traversal")
		}
	}
	if len(segs) < 2 {
		return bad("no owner and repository")
	}
	loc := Location{Owner: segs[0], Repo: strings.TrimSuffix(segs[1], ".git")}
	if !namePart.MatchString(loc.Owner) || !namePart.MatchString(loc.Repo) {
		return bad("invalid owner or repository")
	}
	rest := segs[2:]
	switch {
	case isRaw:
		if len(rest) < 2 {
			return bad("no ref and path")
		}
		loc.Ref, loc.Path = rest[0], strings.Join(rest[1:], "/")
	case len(rest) == 0:
	case rest[0] == "blob" || rest[0] == "tree" || rest[0] == "raw" || rest[0] == "edit":
		if len(rest) < 2 {
			return bad("no ref")
		}
		loc.Ref, loc.Path = rest[1], strings.Join(rest[2:], "/")
	default:
		return bad("expected /blob/ or /tree/ after the repository")
	}
	if loc.Path != "" && path.Clean(loc.Path) != loc.Path {
		return bad("unclean path")
	}
	return loc, nil
}

// splitSegs splits a decoded URL path into non-empty segments.
func splitSegs(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// BlobURL is the web URL of a file, the form ReadURL accepts back.
func (i Integration) BlobURL(owner, repo, ref, p string) string {
	return "https://" + i.Host + "/" + owner + "/" + repo + "/blob/" + escapePath(ref) + "/" + escapePath(p)
}

// TreeURL is the web URL of a directory.
func (i Integration) TreeURL(owner, repo, ref, p string) string {
	return strings.TrimSuffix("https://"+i.Host+"/"+owner+"/"+repo+"/tree/"+escapePath(ref)+"/"+escapePath(p), "/")
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for k, s := range segs {
		segs[k] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
