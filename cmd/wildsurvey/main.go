// Command wildsurvey counts which catalog-file and template features a
// sample of public repositories uses, and which of our own test inputs
// exercise the same features. It writes a markdown table; it reads only
// the directories it is given and never copies their content.
//
//	wildsurvey catalog  -sample DIR [-ours DIR,...]
//	wildsurvey nunjucks -sample DIR [-ours DIR,...] [-corpus corpus.json]
//
// DIR for -sample holds one subdirectory per repository.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const maxFileSize = 1 << 20

type tally struct {
	files map[string]map[[32]byte]bool // feature -> unique file hashes
	repos map[string]map[string]bool   // feature -> repositories
	ours  map[string][]string          // feature -> our test inputs
	paths map[string][]string          // feature -> sample paths (for -show)
	nfile int
	nrepo map[string]int
	skip  map[string]int
}

func newTally() *tally {
	return &tally{files: map[string]map[[32]byte]bool{}, repos: map[string]map[string]bool{}, ours: map[string][]string{}, paths: map[string][]string{}, nrepo: map[string]int{}, skip: map[string]int{}}
}

func (t *tally) addSample(repo, path string, h [32]byte, feats map[string]bool) {
	t.nfile++
	t.nrepo[repo]++
	for f := range feats {
		if t.files[f] == nil {
			t.files[f] = map[[32]byte]bool{}
			t.repos[f] = map[string]bool{}
		}
		t.files[f][h] = true
		t.paths[f] = append(t.paths[f], path)
		t.repos[f][repo] = true
	}
}

func (t *tally) addOurs(name string, feats map[string]bool) {
	for f := range feats {
		t.ours[f] = append(t.ours[f], name)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wildsurvey catalog|nunjucks -sample DIR [-ours DIR,...]")
		os.Exit(2)
	}
	mode := os.Args[1]
	fl := flag.NewFlagSet(mode, flag.ExitOnError)
	sample := fl.String("sample", "", "directory with one subdirectory per repository")
	ours := fl.String("ours", "", "comma-separated directories of our test inputs")
	corpus := fl.String("corpus", "", "render corpus.json (nunjucks mode)")
	show := fl.String("show", "", "print to stderr the sample files that use this feature")
	minFiles := fl.Int("min", 2, "leave out features seen in fewer files, unless ours use them")
	_ = fl.Parse(os.Args[2:])
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	t := newTally()
	var err error
	switch mode {
	case "catalog":
		err = surveyCatalog(t, *sample, parseOurs(*ours))
	case "nunjucks":
		err = surveyNunjucks(t, *sample, parseOurs(*ours), *corpus)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		log.Error("survey failed", "err", err)
		os.Exit(1)
	}
	all := map[string]bool{}
	for f := range t.files {
		all[f] = true
	}
	for f := range t.ours {
		all[f] = true
	}
	var order []string
	if mode == "catalog" {
		order = catalogOrder(all)
	} else {
		order = nunjucksOrder(all)
	}
	fmt.Printf("<!-- %d files from %d repositories; skipped: %v -->\n", t.nfile, len(t.nrepo), t.skip)
	repos := make([]string, 0, len(t.nrepo))
	for r := range t.nrepo {
		repos = append(repos, r)
	}
	sort.Slice(repos, func(i, j int) bool {
		if t.nrepo[repos[i]] != t.nrepo[repos[j]] {
			return t.nrepo[repos[i]] > t.nrepo[repos[j]]
		}
		return repos[i] < repos[j]
	})
	var per []string
	for _, r := range repos {
		per = append(per, fmt.Sprintf("%s %d", strings.Replace(r, "+", "/", 1), t.nrepo[r]))
	}
	fmt.Printf("<!-- per repository: %s -->\n", strings.Join(per, ", "))
	notes := catalogNotes
	if mode == "nunjucks" {
		notes = nunjucksNotes
	}
	if *show != "" {
		for _, p := range t.paths[*show] {
			fmt.Fprintln(os.Stderr, p)
		}
	}
	fmt.Println("| feature | files | repos | matches Backstage | our test inputs using it (oracle-recorded) |")
	fmt.Println("| --- | ---: | ---: | --- | --- |")
	hidden := 0
	defer func() {
		if hidden > 0 {
			fmt.Printf("\n%d more features are used only by our own tests (none in the sample) and are left out.\n", hidden)
		}
	}()
	for _, f := range order {
		n := len(t.files[f])
		if n < *minFiles && len(t.ours[f]) == 0 && !(mode == "catalog" && isRelationRow(f)) {
			continue
		}
		if n == 0 && !zeroRowWanted(mode, f) {
			hidden++
			continue // only our own tests use it; not a feature from the wild
		}
		status := "yes"
		if len(t.ours[f]) == 0 {
			status = "untested"
			if note, ok := notes[f]; ok {
				status = note
			}
		}
		fmt.Printf("| %s | %d | %d | %s | %s |\n", escape(f), n, len(t.repos[f]), escape(status), oursCell(t.ours[f]))
	}
}

// oursCell groups our test inputs by suite: "suite: a, b (+n)".
func oursCell(names []string) string {
	if len(names) == 0 {
		return "—"
	}
	bySuite := map[string][]string{}
	var suites []string
	for _, n := range names {
		suite, file, _ := strings.Cut(n, "\x00")
		if _, ok := bySuite[suite]; !ok {
			suites = append(suites, suite)
		}
		bySuite[suite] = append(bySuite[suite], file)
	}
	sort.Strings(suites)
	var parts []string
	for _, su := range suites {
		files := bySuite[su]
		sort.Strings(files)
		shown := files
		if len(shown) > 2 {
			shown = shown[:2]
		}
		p := su + ": `" + strings.Join(shown, "`, `") + "`"
		if len(files) > 2 {
			p += fmt.Sprintf(" (+%d)", len(files)-2)
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, "; ")
}

// ourDir is one directory of our test inputs and the suite that reads it.
type ourDir struct{ label, dir string }

func parseOurs(s string) []ourDir {
	var out []ourDir
	for _, p := range splitList(s) {
		label, dir, ok := strings.Cut(p, "=")
		if !ok {
			label, dir = filepath.Base(p), p
		}
		out = append(out, ourDir{label, dir})
	}
	return out
}

func ourName(d ourDir, p string) string {
	rel, err := filepath.Rel(d.dir, p)
	if err != nil {
		rel = p
	}
	return d.label + "\x00" + filepath.ToSlash(rel)
}

func isRelationRow(f string) bool {
	for _, rf := range relationFields {
		if f == "spec."+rf {
			return true
		}
	}
	return false
}

// zeroRowWanted keeps rows that the sample never uses but the survey asks
// about (YAML shapes, Nunjucks tags), so a 0 is reported rather than hidden.
func zeroRowWanted(mode, f string) bool {
	if mode == "catalog" {
		for _, p := range []string{"yaml:", "placeholder: $", "spec.", "ref form: ", "annotation: backstage.io/"} {
			if strings.HasPrefix(f, p) {
				return true
			}
		}
		return false
	}
	if strings.HasPrefix(f, "tag: other") {
		return false
	}
	for _, p := range []string{"tag: ", "for ", "loop.", "whitespace", "comment", "expr: ~", "cookiecutter"} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

func escape(s string) string {
	return strings.ReplaceAll(s, "|", "\\|")
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// walkFiles calls fn for each regular file under root that is small enough,
// leaving out dependency and VCS folders.
func walkFiles(root string, fn func(path string, data []byte) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "dist", "vendor":
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Size() > maxFileSize {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		return fn(p, data)
	})
}

func isYAML(p string) bool {
	return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")
}

func surveyCatalog(t *tally, sample string, ours []ourDir) error {
	seen := map[[32]byte]bool{}
	repos, err := os.ReadDir(sample)
	if err != nil {
		return fmt.Errorf("read sample: %w", err)
	}
	for _, r := range repos {
		if !r.IsDir() {
			continue
		}
		err := walkFiles(filepath.Join(sample, r.Name()), func(p string, data []byte) error {
			if !isYAML(p) || !isCatalogFile(data) {
				return nil
			}
			// Files in a template's skeleton are not catalog files until rendered.
			if strings.Contains(p, "{{") || strings.Contains(p, "/skeleton") {
				t.skip["in a skeleton folder"]++
				return nil
			}
			h := sha256.Sum256(data)
			if seen[h] {
				t.skip["duplicate content"]++
				return nil
			}
			seen[h] = true
			t.addSample(r.Name(), p, h, catalogFeatures(data))
			return nil
		})
		if err != nil {
			return err
		}
	}
	for _, d := range ours {
		err := walkFiles(d.dir, func(p string, data []byte) error {
			if !isYAML(p) {
				return nil
			}
			t.addOurs(ourName(d, p), catalogFeatures(data))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
