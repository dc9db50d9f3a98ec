// Package permissionservice is the permission plugin's permissions service
// (services.Permissions): it asks the policy, resolves conditional
// decisions through the plugins' integrations, serves /api/permission
// (Register) and mounts each plugin's integration routes
// (RegisterIntegration). The types it works with (permissions, decisions,
// criteria, rules, the catalog and scaffolder integrations) are in package
// permission, which plugins import without this one.
//
// With permission.enabled false (Backstage's default) every decision is
// ALLOW and plugins skip their checks. Service principals (other backends)
// are always allowed, as Backstage's permissions service does. Every DENY
// of Decide is audited: on the request's audit event when it has one, else
// as a permission "decision" event of its own.
package permissionservice

import (
	"context"
	"fmt"
	"sync"

	"github.com/understage/understage/plugins/auth"
	"github.com/understage/understage/plugins/backend"
	"github.com/understage/understage/plugins/backend/auditor"
	"github.com/understage/understage/plugins/permission"
)

// UserFunc turns a user principal's credentials into the policy's User.
type UserFunc func(ctx context.Context, cred auth.Credentials) (*permission.User, error)

// Options configures New.
type Options struct {
	// Enabled is permission.enabled; false allows everything.
	Enabled bool
	// Policy decides; nil is AllowAll.
	Policy permission.Policy
	// User resolves ownership refs; nil uses only the user's ref.
	User UserFunc
	// Auditor records denials; nil records nothing.
	Auditor *auditor.Auditor
	// DisabledDefaultAuthPolicy is backend.auth.dangerouslyDisableDefaultAuthPolicy:
	// anonymous callers may then ask for conditional decisions.
	DisabledDefaultAuthPolicy bool
}

// Service is the permission framework of one backend. It is safe for
// concurrent use.
type Service struct {
	o Options

	mu           sync.RWMutex
	integrations map[string]*permission.Integration // by plugin id
	byType       map[string]*permission.Integration // by resource type
}

// New builds the service.
func New(o Options) *Service {
	if o.Policy == nil {
		o.Policy = permission.AllowAll{}
	}
	return &Service{o: o, integrations: map[string]*permission.Integration{}, byType: map[string]*permission.Integration{}}
}

// Enabled reports permission.enabled.
func (s *Service) Enabled() bool { return s != nil && s.o.Enabled }

// AddIntegration registers a plugin's permissions, resource types and rules.
func (s *Service) AddIntegration(in *permission.Integration) {
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
func (s *Service) Rules(resourceType string) *permission.ResourceType {
	if s == nil {
		return nil
	}
	_, rt := s.integrationFor(resourceType)
	return rt
}

func (s *Service) integrationFor(resourceType string) (*permission.Integration, *permission.ResourceType) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in := s.byType[resourceType]
	if in == nil {
		return nil, nil
	}
	return in, in.Resource(resourceType)
}

// UserOf resolves credentials to a policy user (nil unless a user principal).
func (s *Service) UserOf(ctx context.Context, cred auth.Credentials) (*permission.User, error) {
	if !cred.IsUser() {
		return nil, nil
	}
	if s.o.User != nil {
		return s.o.User(ctx, cred)
	}
	return &permission.User{Ref: cred.Principal.UserEntityRef, OwnershipRefs: []string{cred.Principal.UserEntityRef}, Claims: cred.Claims}, nil
}

// DecideFor asks the policy for user (nil = anonymous); a conditional
// answer is checked against the permission's resource type and its rules.
func (s *Service) DecideFor(ctx context.Context, user *permission.User, perm permission.Permission, res any) (permission.Decision, error) {
	if !s.Enabled() {
		return permission.Decision{Result: permission.Allow}, nil
	}
	d, err := s.o.Policy.Decide(ctx, permission.Input{Permission: perm, User: user, Resource: res})
	if err != nil {
		return permission.Decision{}, fmt.Errorf("permission policy for %s: %w", perm.Name, err)
	}
	switch d.Result {
	case permission.Allow, permission.Deny:
		return permission.Decision{Result: d.Result}, nil
	case permission.Conditional:
	default:
		return permission.Decision{}, fmt.Errorf("permission policy for %s returned result %q", perm.Name, d.Result)
	}
	if !perm.IsResource() {
		return permission.Decision{}, fmt.Errorf("Conditional decision returned from permission policy for non-resource permission %s", perm.Name)
	}
	if d.ResourceType != "" && d.ResourceType != perm.ResourceType {
		return permission.Decision{}, fmt.Errorf("Invalid resource conditions returned from permission policy for permission %s", perm.Name)
	}
	in, rt := s.integrationFor(perm.ResourceType)
	if rt == nil {
		return permission.Decision{}, fmt.Errorf("no plugin owns resource type %s (permission %s)", perm.ResourceType, perm.Name)
	}
	if err := rt.Validate(d.Conditions); err != nil {
		return permission.Decision{}, fmt.Errorf("Invalid resource conditions returned from permission policy for permission %s: %w", perm.Name, err)
	}
	d.PluginID, d.ResourceType = in.PluginID, perm.ResourceType
	return d, nil
}

// Decide is the decision for the caller of ctx's request (its
// credentials from the auth middleware), possibly conditional. Service
// principals are allowed.
func (s *Service) Decide(ctx context.Context, perm permission.Permission, res any) (permission.Decision, error) {
	if !s.Enabled() {
		return permission.Decision{Result: permission.Allow}, nil
	}
	cred, err := auth.FromContext(ctx)
	if err != nil {
		return permission.Decision{}, err
	}
	if cred.IsService() {
		return permission.Decision{Result: permission.Allow}, nil
	}
	user, err := s.UserOf(ctx, cred)
	if err != nil {
		return permission.Decision{}, err
	}
	d, err := s.DecideFor(ctx, user, perm, res)
	if err == nil && d.Result == permission.Deny {
		s.auditDenied(ctx, perm, res)
	}
	return d, err
}

// auditDenied records a DENY: on the request's event when it has one (so
// a denied request is one event, failed), else as an event of its own.
func (s *Service) auditDenied(ctx context.Context, perm permission.Permission, res any) {
	meta := map[string]any{"permission": perm.Name, "result": string(permission.Deny)}
	if name := resourceName(res); name != "" {
		meta["resource"] = name
	}
	if ev := auditor.EventFrom(ctx); ev != nil {
		for k, v := range meta {
			ev.Annotate(k, v)
		}
		return
	}
	s.o.Auditor.Record(ctx, auditor.EventOptions{ID: "decision", Severity: auditor.Medium, Meta: meta},
		backend.NotAllowed("%s denied", perm.Name))
}

// Definitive is Decide with conditions applied to res (a loaded resource
// for the permission's resource type): ALLOW or DENY.
func (s *Service) Definitive(ctx context.Context, perm permission.Permission, res any) (bool, error) {
	d, err := s.Decide(ctx, perm, res)
	if err != nil {
		return false, err
	}
	switch d.Result {
	case permission.Allow:
		return true, nil
	case permission.Deny:
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
func (s *Service) Basic(ctx context.Context, perm permission.Permission) error {
	d, err := s.Decide(ctx, perm, nil)
	if err != nil {
		return err
	}
	if d.Result != permission.Allow {
		return backend.NotAllowed("")
	}
	return nil
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
