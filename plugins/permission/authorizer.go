package permission

import "context"

// User is the signed-in user a policy decides for.
type User struct {
	Ref           string
	OwnershipRefs []string
	Claims        map[string]any
}

// Input is what a policy is asked: the permission, the user (nil for
// anonymous callers) and the resource when the caller knows it (plain JSON
// values: maps, slices, strings, float64, bool).
type Input struct {
	Permission Permission
	User       *User
	Resource   any
}

// Value is the input as the policy document {permission, user, resource}.
func (in Input) Value() map[string]any {
	var user any
	if in.User != nil {
		refs := make([]any, len(in.User.OwnershipRefs))
		for i, r := range in.User.OwnershipRefs {
			refs[i] = r
		}
		claims := in.User.Claims
		if claims == nil {
			claims = map[string]any{}
		}
		user = map[string]any{"ref": in.User.Ref, "ownershipRefs": refs, "claims": claims}
	}
	return map[string]any{"permission": in.Permission.Input(), "user": user, "resource": in.Resource}
}

// Policy decides permissions. A conditional decision needs only Result and
// Conditions; the permissions service fills in PluginID and ResourceType.
type Policy interface {
	Decide(ctx context.Context, in Input) (Decision, error)
}

// AllowAll is the policy of Backstage's allow-all module.
type AllowAll struct{}

// Decide allows.
func (AllowAll) Decide(context.Context, Input) (Decision, error) { return Decision{Result: Allow}, nil }

// Authorizer is what a plugin's request handlers ask of the permissions
// service (Backstage's coreServices.permissions) about the caller of a
// request's context. The permission plugin implements it
// (plugins/permission/service); Disabled allows everything.
type Authorizer interface {
	// Enabled reports permission.enabled; when false every decision is
	// ALLOW and callers may skip their checks.
	Enabled() bool
	// Decide is the caller's decision, possibly CONDITIONAL; res is the
	// resource when known. Service principals are allowed.
	Decide(ctx context.Context, perm Permission, res any) (Decision, error)
	// Definitive is Decide with conditions applied to res: ALLOW or DENY.
	Definitive(ctx context.Context, perm Permission, res any) (bool, error)
	// Basic is nil when the caller is allowed perm, else Backstage's empty
	// NotAllowedError.
	Basic(ctx context.Context, perm Permission) error
	// Rules is the registered resource type with its rules (including
	// those modules added), to evaluate conditions; nil when no plugin
	// registered it.
	Rules(resourceType string) *ResourceType
}

// Disabled is the Authorizer of a backend without permissions: everything
// is allowed.
type Disabled struct{}

// Enabled is false.
func (Disabled) Enabled() bool { return false }

// Decide allows.
func (Disabled) Decide(context.Context, Permission, any) (Decision, error) {
	return Decision{Result: Allow}, nil
}

// Definitive allows.
func (Disabled) Definitive(context.Context, Permission, any) (bool, error) { return true, nil }

// Basic allows.
func (Disabled) Basic(context.Context, Permission) error { return nil }

// Rules knows no resource type.
func (Disabled) Rules(string) *ResourceType { return nil }
