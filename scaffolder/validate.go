package scaffolder

import (
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// ValidateParameters validates values against each parameter page in turn,
// as Backstage's router does (every page, whatever its `when`), and returns
// the errors of the first failing page in the shape of the `jsonschema` npm
// package's ValidationError (path, property, message, schema, instance,
// name, argument, stack), or nil when every page accepts the values.
func ValidateParameters(pages []*ojson.Object, values any) []*ojson.Object {
	for _, page := range pages {
		if errs := ValidateJSON(values, page); len(errs) > 0 {
			return errs
		}
	}
	return nil
}

// ValidateSecrets validates a task's secrets against spec.secrets.schema and
// words the errors as Backstage's router does (property prefix "secrets",
// "secrets.<name> is required"); nil when the template declares no schema or
// the secrets are valid.
func ValidateSecrets(t *Template, secrets map[string]string) []*ojson.Object {
	sec := t.Spec.Object("secrets")
	if sec == nil {
		return nil
	}
	schema := sec.Object("schema")
	if schema == nil {
		return nil
	}
	inst := ojson.NewObject()
	for k, v := range secrets {
		inst.Set(k, v)
	}
	errs := ValidateJSON(inst, schema)
	for _, e := range errs {
		prop := "secrets" + strings.TrimPrefix(e.String("property"), "instance")
		e.Set("property", prop)
		if e.String("name") == "required" {
			e.Set("message", "secrets."+e.String("argument")+" is required")
		} else {
			e.Set("message", prop+" "+e.String("message"))
		}
		e.Set("instance", ojson.NewObject())
	}
	return errs
}
