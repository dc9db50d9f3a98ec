# Only the owners of an entity (the user or one of their groups) may
# unregister it; everything else is allowed.
package understage.authz

decision := owners_only if {
	input.permission.name == "catalog.entity.delete"
} else := {"result": "ALLOW"}

owners_only := {"result": "DENY"} if input.user == null

owners_only := {
	"result": "CONDITIONAL",
	"conditions": {
		"rule": "IS_ENTITY_OWNER",
		"resourceType": "catalog-entity",
		"params": {"claims": input.user.ownershipRefs},
	},
} if input.user != null
