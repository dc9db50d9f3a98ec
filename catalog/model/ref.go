package model

import (
	"encoding/json"
	"strings"

	"github.com/understage/understage/plugins/backend/ojson"
)

// DefaultNamespace is the namespace of entities that name none.
const DefaultNamespace = "default"

// refTextual renders a ref the way JSON.stringify does in Backstage's messages.
func refTextual(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// splitRef splits "[kind:][namespace/]name"; a "/" before the first ":" means
// the colon belongs to the name and there is no kind. Absent parts are
// reported by has* flags.
func splitRef(s string) (kind, ns, name string, hasKind, hasNS bool, err error) {
	colon := strings.IndexByte(s, ':')
	slash := strings.IndexByte(s, '/')
	if slash != -1 && slash < colon {
		colon = -1
	}
	start := 0
	if colon != -1 {
		kind, hasKind = s[:colon], true
		start = colon + 1
	}
	if slash != -1 {
		// Like String.prototype.slice, an end before the start gives "".
		if slash >= colon+1 {
			ns = s[colon+1 : slash]
		}
		hasNS = true
		if slash+1 > start {
			start = slash + 1
		}
	}
	name = s[start:]
	if (hasKind && kind == "") || (hasNS && ns == "") || name == "" {
		return "", "", "", false, false, newErr("TypeError",
			`Entity reference "`+s+`" was not on the form [<kind>:][<namespace>/]<name>`, nil)
	}
	return kind, ns, name, hasKind, hasNS, nil
}

// parseRef is ParseRef returning the concrete error type.
func parseRef(s string, d RefDefaults) (Ref, *ValidationError) {
	if s == "" {
		return Ref{}, newErr("Error", "Entity reference must not be empty", nil)
	}
	kind, ns, name, hasKind, hasNS, err := splitRef(s)
	if err != nil {
		return Ref{}, err.(*ValidationError)
	}
	if !hasKind {
		kind = d.Kind
	}
	if !hasNS {
		ns = d.Namespace
		if ns == "" {
			ns = DefaultNamespace
		}
	}
	switch {
	case kind == "":
		return Ref{}, newErr("Error", "Entity reference "+refTextual(s)+
			` had missing or empty kind (e.g. did not start with "component:" or similar)`, nil)
	case ns == "":
		return Ref{}, newErr("Error", "Entity reference "+refTextual(s)+" had missing or empty namespace", nil)
	}
	return Ref{Kind: kind, Namespace: ns, Name: name}, nil
}

// CompoundRef is the ref of an entity with its original casing (namespace
// defaults to "default").
func CompoundRef(e *ojson.Object) Ref {
	md := e.Object("metadata")
	ns := md.String("namespace")
	if ns == "" {
		ns = DefaultNamespace
	}
	return Ref{Kind: e.String("kind"), Namespace: ns, Name: md.String("name")}
}
