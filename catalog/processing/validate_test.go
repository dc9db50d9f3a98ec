package processing_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/understage/understage/catalog/model"
	"github.com/understage/understage/catalog/processing"
)

func TestValidateFiles(t *testing.T) {
	allowAll, _ := model.NewRules([]model.Rule{{Allow: []model.RuleKind{{Kind: "Component"}, {Kind: "API"}, {Kind: "Location"}, {Kind: "Group"}}}}, nil)
	tests := []struct {
		name      string
		files     map[string]string
		entry     string
		wantLines []string // "file:line: substring" of each expected problem, in order
		entities  int
	}{
		{
			name:     "valid files and their locations",
			files:    map[string]string{"all.yaml": allYAML, "org.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team-a\nspec:\n  type: team\n  children: []\n", "components/svc.yaml": svcYAML, "specs/svc.yaml": "openapi: 3.0.0\n"},
			entry:    "all.yaml",
			entities: 4,
		},
		{
			name: "each problem with its file and line",
			files: map[string]string{"c.yaml": `apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: Bad Name
spec: {type: service, lifecycle: production, owner: a}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: ok
spec:
  type: service
  lifecycle: production
  owner: team-a
  dependsOn: [nokind]
---
kind: API
metadata: {name: x}
`},
			entry: "c.yaml",
			wantLines: []string{
				`c.yaml:4: component:default/bad name: Policy check failed`,
				`c.yaml:7: component:default/ok: Processor BuiltinKindsEntityProcessor threw an error while postprocessing`,
				`c.yaml:17: <root> must have required property 'apiVersion'`,
			},
			entities: 3,
		},
		{
			name:      "missing spec field points at the spec",
			files:     map[string]string{"c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\nspec:\n  type: service\n  lifecycle: production\n"},
			entry:     "c.yaml",
			wantLines: []string{`c.yaml:5: component:default/a: `},
			entities:  1,
		},
		{
			name:      "YAML syntax error",
			files:     map[string]string{"bad.yaml": "a: [\n"},
			entry:     "bad.yaml",
			wantLines: []string{`bad.yaml:1: YAML error`},
		},
		{
			name: "duplicate keys",
			files: map[string]string{"c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: a\n  name: b\nspec: {type: service, lifecycle: production, owner: team-a}\n---\n" +
				"apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c, name: d}\nspec: {type: service, lifecycle: production, owner: team-a}\n"},
			entry: "c.yaml",
			wantLines: []string{
				"c.yaml:5: YAML error at file:c.yaml, YAMLParseError: Map keys must be unique at line 5, column 3:\n\n  name: a\n  name: b\n  ^\n",
				"c.yaml:10: YAML error at file:c.yaml, YAMLParseError: Map keys must be unique at line 10, column 21:\n\nmetadata: {name: c, name: d}\n                    ^\n",
			},
		},
		{
			name: "an alias bomb ends its file",
			files: map[string]string{"c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: before}\nspec: {type: service, lifecycle: production, owner: team-a}\n---\n" +
				"kind: Component\nmetadata: {name: bomb}\nspec:\n  l0: &l0 lol\n" + laughs(9) + "---\nkind: Nope\n"},
			entry:     "c.yaml",
			wantLines: []string{"c.yaml:6: file c.yaml could not be read, ReferenceError: Excessive alias count indicates a resource exhaustion attack"},
			entities:  1,
		},
		{
			name:     "a block scalar ending the file",
			files:    map[string]string{"c.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\nspec:\n  type: service\n  lifecycle: production\n  owner: team-a\n  x: |\n    text"},
			entry:    "c.yaml",
			entities: 1,
		},
		{
			name:      "a missing target of a Location",
			files:     map[string]string{"all.yaml": "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec:\n  targets: [./nope.yaml]\n"},
			entry:     "all.yaml",
			wantLines: []string{`all.yaml:5: location:default/l: file:`},
			entities:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, content := range tt.files {
				write(t, filepath.Join(dir, name), content)
			}
			problems, n, err := processing.ValidateFiles(context.Background(), []string{filepath.Join(dir, tt.entry)}, allowAll)
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.entities {
				t.Errorf("checked %d entities, want %d", n, tt.entities)
			}
			if len(problems) != len(tt.wantLines) {
				t.Fatalf("problems = %v, want %d", problems, len(tt.wantLines))
			}
			for i, p := range problems {
				got := strings.ReplaceAll(p.String(), dir+"/", "")
				if !strings.HasPrefix(got, tt.wantLines[i]) {
					t.Errorf("problem %d = %q, want prefix %q", i, got, tt.wantLines[i])
				}
			}
		})
	}
}
