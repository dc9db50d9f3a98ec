package main

// Notes for features no test input of ours uses: what Backstage does and
// what we know of our side, so the table never claims coverage it lacks.
var catalogNotes = map[string]string{
	"annotation: backstage.io/kubernetes-label-selector": "untested (annotations are stored verbatim; other keys are tested)",
	"annotation: backstage.io/kubernetes-namespace":      "untested (annotations are stored verbatim; other keys are tested)",
	"annotation: backstage.io/techdocs-entity":           "untested (annotations are stored verbatim; other keys are tested)",
	"annotation: backstage.io/definition-at-location":    "untested (read only by an optional OpenAPI module)",
	"ref form: kind:name (capitals in name)":             "untested",
	"placeholder: $openapi":                              "untested (comes from the optional OpenAPI catalog module; without it Backstage reports an unknown placeholder, a path tested with $file)",
	"spec.implementsApis":                                "untested (not a field of Backstage's kinds; nothing reads it)",
}

var nunjucksNotes = map[string]string{
	"file: skeleton file copied without templating": "yes (copyWithoutTemplating is exercised by dry-run case wild-fetch-template-inputs)",
	"expr: && (not Nunjucks)":                       jsOpNote,
	"expr: || (not Nunjucks)":                       jsOpNote,
	"expr: JS ternary ? : (not Nunjucks)":           jsOpNote,
	"filter: now":                                   customFilterNote,
	"filter: fromJson":                              customFilterNote,
}

const (
	jsOpNote = "untested: in a step input Backstage leaves the whole ${{ }} text unrendered (checked by hand against the oracle); our RenderValue does the same, but no committed test pins it"

	customFilterNote = "untested: not a Backstage filter (a custom module adds it); in a step input the text stays unrendered, in a skeleton file unknown filters fail as in error-template-filter"
)
