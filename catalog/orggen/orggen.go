// Package orggen writes generated organisations as catalog files for
// benchmarks: a group hierarchy, users, domains, systems, components, APIs
// and resources with owners, members, dependencies and API relations.
package orggen

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
)

// org is the shape of a generated organisation of about n entities: a
// group hierarchy (one root, departments, teams), users who are members of
// teams, domains, systems, and components, APIs and resources owned by
// teams, placed in systems and depending on each other. The proportions
// follow a typical large Backstage catalog: most entities are components,
// APIs and resources; people and groups are a tenth.
type Org struct {
	Departments, Teams, Users, Domains, Systems, Components, APIs, Resources int
}

// New is the organisation of about n entities.
func New(n int) Org {
	o := Org{
		Departments: max(1, n/2000),
		Teams:       max(2, n/100),
		Users:       max(2, n/10),
		Domains:     max(1, n/2500),
		Systems:     max(2, n/40),
		APIs:        max(2, n/7),
		Resources:   max(2, n/8),
	}
	o.Components = n - 1 - o.Departments - o.Teams - o.Users - o.Domains - o.Systems - o.APIs - o.Resources
	return o
}

// Total is the number of entities the organisation has, the root Location
// aside (the count the benchmark waits for).
func (o Org) Total() int {
	return 1 + o.Departments + o.Teams + o.Users + o.Domains + o.Systems + o.Components + o.APIs + o.Resources
}

// genPart is the number of entities per generated file: well under the
// catalog's maxEntitiesPerFile, and small enough that a file is one
// modest processing step.
const genPart = 5000

var (
	componentTypes = []string{"service", "service", "service", "website", "library", "library"}
	apiTypes       = []string{"openapi", "openapi", "grpc", "asyncapi", "graphql"}
	resourceTypes  = []string{"database", "s3-bucket", "queue", "cache"}
	lifecycles     = []string{"production", "production", "experimental", "deprecated"}
	languages      = []string{"go", "java", "typescript", "python", "kotlin", "rust"}
	// Names start with a business word, as real ones do, so that the kinds
	// interleave in name order rather than each kind filling a block of it.
	words = []string{"payments", "orders", "billing", "search", "identity", "catalog", "checkout", "inventory", "shipping", "pricing",
		"ledger", "accounts", "fraud", "reviews", "loyalty", "media", "messaging", "notifications", "analytics", "reporting",
		"onboarding", "support", "partners", "returns", "tax", "wallet", "booking", "routing", "maps", "profiles"}
	nouns = []string{"core", "gateway", "worker", "engine", "store", "sync", "hub", "portal", "bridge", "feed"}
)

// The generated names (ComponentName is the exported one): a business word and a noun, a kind's suffix, and
// the entity's number.
// ComponentName is the name of the i-th component.
func ComponentName(i int) string {
	return fmt.Sprintf("%s-%s-%06d", words[i%len(words)], nouns[i/len(words)%len(nouns)], i)
}
func apiName(i int) string {
	return fmt.Sprintf("%s-%s-api-%05d", words[i%len(words)], nouns[i/len(words)%len(nouns)], i)
}
func resName(i int) string {
	return fmt.Sprintf("%s-%s-db-%05d", words[i%len(words)], nouns[i/len(words)%len(nouns)], i)
}
func sysName(i int) string  { return fmt.Sprintf("%s-system-%04d", words[i%len(words)], i) }
func teamName(i int) string { return fmt.Sprintf("%s-team-%04d", words[i%len(words)], i) }

// Write writes the organisation into dir as part-NNN.yaml files of
// genPart entities (parts, absolute paths) and a root location file whose
// Location entity targets them all. Every generated entity has the tag
// "gen". Registering the parts one by one gives each its own location, as
// discovery does for repositories; the root makes one location whose
// processing emits the whole organisation at once.
func Write(dir string, n int) (root string, parts []string, o Org, err error) {
	o = New(n)
	var files []string
	var f *os.File
	var w *bufio.Writer
	inFile := 0
	closeFile := func() error {
		if f == nil {
			return nil
		}
		if err := w.Flush(); err != nil {
			return err
		}
		return f.Close()
	}
	emit := func(format string, args ...any) error {
		if f == nil || inFile == genPart {
			if err := closeFile(); err != nil {
				return err
			}
			name := fmt.Sprintf("part-%03d.yaml", len(files))
			files = append(files, name)
			f, err = os.Create(filepath.Join(dir, name))
			if err != nil {
				return err
			}
			w, inFile = bufio.NewWriter(f), 0
		}
		inFile++
		_, err := fmt.Fprintf(w, "---\n"+format, args...)
		return err
	}
	team := func(i int) string { return teamName(i % o.Teams) }

	if err = emit(`apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: acme
  description: The whole organisation
  tags: [gen]
spec:
  type: organization
  profile: {displayName: ACME Corp}
  children: []
`); err != nil {
		return "", nil, o, err
	}
	for d := 0; d < o.Departments; d++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: dept-%03d
  description: Department %d
  tags: [gen]
spec:
  type: department
  parent: acme
  children: []
`, d, d); err != nil {
			return "", nil, o, err
		}
	}
	for t := 0; t < o.Teams; t++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: Group
metadata:
  name: %s
  description: Team %d of department %d
  tags: [gen]
spec:
  type: team
  parent: dept-%03d
  profile: {displayName: Team %d, email: team-%d@acme.example}
  children: []
`, team(t), t, t%o.Departments, t%o.Departments, t, t); err != nil {
			return "", nil, o, err
		}
	}
	for u := 0; u < o.Users; u++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: User
metadata:
  name: user-%05d
  tags: [gen]
spec:
  profile: {displayName: User %d, email: user-%d@acme.example}
  memberOf: [%s]
`, u, u, u, team(u)); err != nil {
			return "", nil, o, err
		}
	}
	for d := 0; d < o.Domains; d++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: Domain
metadata:
  name: domain-%03d
  description: Business domain %d
  tags: [gen]
spec:
  owner: dept-%03d
`, d, d, d%o.Departments); err != nil {
			return "", nil, o, err
		}
	}
	for s := 0; s < o.Systems; s++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: System
metadata:
  name: %s
  description: System %d
  tags: [gen]
spec:
  owner: %s
  domain: domain-%03d
`, sysName(s), s, team(s), s%o.Domains); err != nil {
			return "", nil, o, err
		}
	}
	for a := 0; a < o.APIs; a++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: API
metadata:
  name: %s
  description: API %d
  tags: [gen, %s]
spec:
  type: %s
  lifecycle: %s
  owner: %s
  system: %s
  definition: "openapi: 3.0.0\ninfo: {title: %s, version: 1.0.0}\npaths: {}\n"
`, apiName(a), a, apiTypes[a%len(apiTypes)], apiTypes[a%len(apiTypes)], lifecycles[a%len(lifecycles)], team(a), sysName(a%o.Systems), apiName(a)); err != nil {
			return "", nil, o, err
		}
	}
	for r := 0; r < o.Resources; r++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: Resource
metadata:
  name: %s
  description: Resource %d
  tags: [gen]
spec:
  type: %s
  owner: %s
  system: %s
`, resName(r), r, resourceTypes[r%len(resourceTypes)], team(r), sysName(r%o.Systems)); err != nil {
			return "", nil, o, err
		}
	}
	for c := 0; c < o.Components; c++ {
		if err = emit(`apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: %s
  description: Component %d of system %d
  tags: [gen, %s, tier-%d]
  annotations:
    github.com/project-slug: acme/%s
spec:
  type: %s
  lifecycle: %s
  owner: %s
  system: %s
  providesApis: [%s]
  consumesApis: [%s, %s]
  dependsOn: [component:%s, resource:%s]
`, ComponentName(c), c, c%o.Systems, languages[c%len(languages)], c%3, ComponentName(c),
			componentTypes[c%len(componentTypes)], lifecycles[c%len(lifecycles)], team(c), sysName(c%o.Systems),
			apiName(c%o.APIs), apiName((c*7+1)%o.APIs), apiName((c*13+5)%o.APIs), ComponentName((c*31+17)%o.Components), resName(c%o.Resources)); err != nil {
			return "", nil, o, err
		}
	}
	if err = closeFile(); err != nil {
		return "", nil, o, err
	}
	root = filepath.Join(dir, "org.yaml")
	rf, err := os.Create(root)
	if err != nil {
		return "", nil, o, err
	}
	rw := bufio.NewWriter(rf)
	fmt.Fprintf(rw, "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: generated-org\nspec:\n  targets:\n")
	for _, name := range files {
		fmt.Fprintf(rw, "    - ./%s\n", name)
		parts = append(parts, filepath.Join(dir, name))
	}
	if err := rw.Flush(); err != nil {
		return "", nil, o, err
	}
	return root, parts, o, rf.Close()
}
