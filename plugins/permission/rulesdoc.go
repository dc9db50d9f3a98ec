package permission

import (
	"fmt"
	"strings"
)

// RulesDoc is RULES.md: every rule of the given integrations, by resource
// type, as declared (TestRulesDoc keeps the file in step).
func RulesDoc(ins ...*Integration) string {
	var b strings.Builder
	b.WriteString(`# Permission rules

<!-- Generated from the rule declarations in plugins/permission by
     UNDERSTAGE_UPDATE_RULES=1 go test ./plugins/permission -run TestRulesDoc
     Do not edit by hand. -->

The rules a policy may put in a conditional decision, as
` + "`" + `{"rule": "<name>", "resourceType": "<type>", "params": {...}}` + "`" + ` inside
` + "`allOf`, `anyOf` and `not`" + `. Each plugin lists its own on
` + "`GET /api/<plugin>/.well-known/backstage/permissions/metadata`" + `, from the
same declarations. Params marked * are required.
`)
	for _, in := range ins {
		for _, rt := range in.Resources {
			fmt.Fprintf(&b, "\n## `%s` (plugin %s)\n\n", rt.Type, in.PluginID)
			if rt.FilterOnly {
				b.WriteString("Conditions become a filter of the plugin's store query, so paging, totals and facets agree with what the caller may see.\n\n")
			} else {
				b.WriteString("Conditions are evaluated on each loaded resource.\n\n")
			}
			b.WriteString("| rule | description | params |\n|---|---|---|\n")
			for _, r := range rt.Rules {
				params := make([]string, len(r.Params))
				for i, p := range r.Params {
					req := ""
					if p.Required {
						req = "*"
					}
					params[i] = fmt.Sprintf("`%s`%s (%s): %s", p.Name, req, p.Type, cell(p.Description))
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s |\n", r.Name, cell(r.Description), strings.Join(params, "<br>"))
			}
		}
	}
	return b.String()
}

// cell keeps text inside one table cell.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
