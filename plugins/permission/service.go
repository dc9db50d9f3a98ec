package permission

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
)

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
// Conditions; the Service fills in PluginID and ResourceType.
type Policy interface {
	Decide(ctx context.Context, in Input) (Decision, error)
}

// AllowAll is the policy of Backstage's allow-all module.
type AllowAll struct{}

// Decide allows.
func (AllowAll) Decide(context.Context, Input) (Decision, error) { return Decision{Result: Allow}, nil }

// UserFunc turns a user principal's credentials into the policy's User.
type UserFunc func(ctx context.Context, cred auth.Credentials) (*User, error)

// Options configures New.
type Options struct {
	// Enabled is permission.enabled; false allows everything.
	Enabled bool
	// Policy decides; nil is AllowAll.
	Policy Policy
	// User resolves ownership refs; nil uses only the user's ref.
	User UserFunc
	// Audit receives the audit records; nil uses slog.Default() with
	// logger=audit.
	Audit *slog.Logger
	// DisabledDefaultAuthPolicy is backend.auth.dangerouslyDisableDefaultAuthPolicy:
	// anonymous callers may then ask for conditional decisions.
	DisabledDefaultAuthPolicy bool
}

// Service is the permission framework of one backend: it asks the policy
// and resolves conditions through the plugins' integrations. It is safe for
// concurrent use.
type Service struct {
	o     Options
	audit *slog.Logger

	mu           sync.RWMutex
	integrations map[string]*Integration // by plugin id
	byType       map[string]*Integration // by resource type
}

// New builds the service.
func New(o Options) *Service {
	if o.Policy == nil {
		o.Policy = AllowAll{}
	}
	audit := o.Audit
	if audit == nil {
		audit = slog.Default().With("logger", "audit")
	}
	return &Service{o: o, audit: audit, integrations: map[string]*Integration{}, byType: map[string]*Integration{}}
}

// Enabled reports permission.enabled.
func (s *Service) Enabled() bool { return s != nil && s.o.Enabled }

// AddIntegration registers a plugin's permissions, resource types and rules.
func (s *Service) AddIntegration(in *Integration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.integrations[in.PluginID] = in
	for _, r := range in.Resources {
		s.byType[r.Type] = in
	}
}

// Rules is the registered resource type (with its rules, including those
// added through AddPermissionRules), to evaluate the conditions a policy
// returned; nil when no integration registered the type.
func (s *Service) Rules(resourceType string) *ResourceType {
	if s == nil {
		return nil
	}
	_, rt := s.integrationFor(resourceType)
	return rt
}

func (s *Service) integrationFor(resourceType string) (*Integration, *ResourceType) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in := s.byType[resourceType]
	if in == nil {
		return nil, nil
	}
	return in, in.Resource(resourceType)
}

// UserOf resolves credentials to a policy user (nil unless a user principal).
func (s *Service) UserOf(ctx context.Context, cred auth.Credentials) (*User, error) {
	if !cred.IsUser() {
		return nil, nil
	}
	if s.o.User != nil {
		return s.o.User(ctx, cred)
	}
	return &User{Ref: cred.Principal.UserEntityRef, OwnershipRefs: []string{cred.Principal.UserEntityRef}, Claims: cred.Claims}, nil
}

// DecideFor asks the policy for user (nil = anonymous); a conditional
// answer is checked against the permission's resource type and its rules.
func (s *Service) DecideFor(ctx context.Context, user *User, perm Permission, res any) (Decision, error) {
	if !s.Enabled() {
		return Decision{Result: Allow}, nil
	}
	d, err := s.o.Policy.Decide(ctx, Input{Permission: perm, User: user, Resource: res})
	if err != nil {
		return Decision{}, fmt.Errorf("permission policy for %s: %w", perm.Name, err)
	}
	switch d.Result {
	case Allow, Deny:
		return Decision{Result: d.Result}, nil
	case Conditional:
	default:
		return Decision{}, fmt.Errorf("permission policy for %s returned result %q", perm.Name, d.Result)
	}
	if !perm.IsResource() {
		return Decision{}, fmt.Errorf("Conditional decision returned from permission policy for non-resource permission %s", perm.Name)
	}
	if d.ResourceType != "" && d.ResourceType != perm.ResourceType {
		return Decision{}, fmt.Errorf("Invalid resource conditions returned from permission policy for permission %s", perm.Name)
	}
	in, rt := s.integrationFor(perm.ResourceType)
	if rt == nil {
		return Decision{}, fmt.Errorf("no plugin owns resource type %s (permission %s)", perm.ResourceType, perm.Name)
	}
	if err := rt.Validate(d.Conditions); err != nil {
		return Decision{}, fmt.Errorf("Invalid resource conditions returned from permission policy for permission %s: %w", perm.Name, err)
	}
	d.PluginID, d.ResourceType = in.PluginID, perm.ResourceType
	return d, nil
}

// Decide is the decision for the caller of ctx's request (its
// credentials from the auth middleware), possibly conditional. Service
// principals are allowed.
func (s *Service) Decide(ctx context.Context, perm Permission, res any) (Decision, error) {
	if !s.Enabled() {
		return Decision{Result: Allow}, nil
	}
	cred, err := auth.FromContext(ctx)
	if err != nil {
		return Decision{}, err
	}
	if cred.IsService() {
		return Decision{Result: Allow}, nil
	}
	user, err := s.UserOf(ctx, cred)
	if err != nil {
		return Decision{}, err
	}
	d, err := s.DecideFor(ctx, user, perm, res)
	if err == nil && d.Result == Deny {
		s.Audit(ctx, AuditRecord{Actor: actorOf(cred), Action: perm.Name, Decision: Deny, Resource: resourceName(res)})
	}
	return d, err
}

// Definitive is Decide with conditions applied to res (a loaded resource
// for the permission's resource type): ALLOW or DENY.
func (s *Service) Definitive(ctx context.Context, perm Permission, res any) (bool, error) {
	d, err := s.Decide(ctx, perm, res)
	if err != nil {
		return false, err
	}
	switch d.Result {
	case Allow:
		return true, nil
	case Deny:
		return false, nil
	}
	_, rt := s.integrationFor(perm.ResourceType)
	if rt == nil {
		return false, nil
	}
	return rt.Apply(d.Conditions, res), nil
}

// Basic enforces a basic permission (or a resource permission decided
// without its resource): anything but ALLOW is Backstage's empty 403.
func (s *Service) Basic(ctx context.Context, perm Permission) error {
	d, err := s.Decide(ctx, perm, nil)
	if err != nil {
		return err
	}
	if d.Result != Allow {
		return backend.NotAllowed("")
	}
	return nil
}

// Authorizer is what plugins need from the permission framework; *Service
// implements it, and a nil *Service allows everything.
type Authorizer interface {
	Enabled() bool
	Decide(ctx context.Context, perm Permission, res any) (Decision, error)
	Definitive(ctx context.Context, perm Permission, res any) (bool, error)
	Basic(ctx context.Context, perm Permission) error
	Audit(ctx context.Context, r AuditRecord)
}

func resourceName(res any) string {
	m, ok := res.(map[string]any)
	if !ok {
		return ""
	}
	if a, ok := m["action"].(string); ok {
		return a
	}
	md, _ := m["metadata"].(map[string]any)
	kind, _ := m["kind"].(string)
	name, _ := md["name"].(string)
	if kind != "" && name != "" {
		ns, _ := md["namespace"].(string)
		if ns == "" {
			ns = "default"
		}
		return kind + ":" + ns + "/" + name
	}
	return ""
}
