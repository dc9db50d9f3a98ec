# publish:github may only create repositories in the allowed GitHub
# organisations; the step's rendered input is the resource.
package understage.authz

allowed_orgs := {"fernwood"}

decision := {"result": "DENY"} if {
	input.permission.name == "scaffolder.action.execute"
	input.resource.action == "publish:github"
	not allowed_org
} else := {"result": "ALLOW"}

allowed_org if {
	parts := split(input.resource.input.repoUrl, "?")
	query := urlquery.decode_object(parts[1])
	query.owner[0] in allowed_orgs
}
