# Template parameter pages and steps tagged "admin"
# (backstage:permissions: {tags: [admin]}) are only for the admins group;
# everyone else sees the template without them.
package understage.authz

admin_group := "group:default/admins"

template_read := {"scaffolder.template.parameter.read", "scaffolder.template.step.read"}

decision := {"result": "ALLOW"} if {
	input.permission.name in template_read
	admin_group in input.user.ownershipRefs
} else := {
	"result": "CONDITIONAL",
	"conditions": {"not": {
		"rule": "HAS_TAG",
		"resourceType": "scaffolder-template",
		"params": {"tag": "admin"},
	}},
} if {
	input.permission.name in template_read
} else := {"result": "ALLOW"}
