package model

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	whatwgurl "github.com/nlnwa/whatwg-url/url"

	"github.com/understage/understage/plugins/backend/ojson"
)

// loadSchemas compiles the embedded schemas on first use. The result is
// immutable; a compile failure is a build defect and fails every validation.
var loadSchemas = sync.OnceValues(compileSchemas)

const adrLink = " To learn more about catalog file format, visit: " +
	"https://github.com/backstage/backstage/blob/master/docs/architecture-decisions/adr002-default-catalog-file-format.md"

// The format checks below are byte loops equivalent to Backstage's regular
// expressions (noted on each); they run for every entity, so they avoid
// the regexp engine.

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// matchAlnum is ^[a-z0-9A-Z]+$.
func matchAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return s != ""
}

// matchKind is ^[a-zA-Z][a-z0-9A-Z]*$.
func matchKind(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	return matchAlnum(s)
}

// matchObjectName is ^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$.
func matchObjectName(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// matchSeparated is ^[set]+(?:-+[set]+)*$ (multi) or ^[set]+(-[set]+)*$:
// runs of set characters separated by dashes, no leading/trailing dash.
func matchSeparated(s string, in func(byte) bool, multiDash bool) bool {
	if s == "" || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '-' {
			if !multiDash && s[i-1] == '-' {
				return false
			}
			continue
		}
		if !in(c) {
			return false
		}
	}
	return true
}

func isTagChar(c byte) bool { return isLowerAlnum(c) || c == ':' || c == '+' || c == '#' }

// jsLen is String.prototype.length: UTF-16 code units.
func jsLen(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

func lenBetween(s string, lo, hi int) bool {
	// Byte length bounds the UTF-16 length from above; skip the rune walk when it suffices.
	if len(s) <= hi && len(s) >= lo {
		return true
	}
	n := jsLen(s)
	return n >= lo && n <= hi
}

func isDNSLabel(s string) bool { return lenBetween(s, 1, 63) && matchSeparated(s, isLowerAlnum, true) }

func isDNSSubdomain(s string) bool {
	if !lenBetween(s, 1, 253) {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if !isDNSLabel(part) {
			return false
		}
	}
	return true
}

func isObjectName(s string) bool { return lenBetween(s, 1, 63) && matchObjectName(s) }

// prefixAndOrSuffix checks "<suffix>" or "<prefix>/<suffix>".
func prefixAndOrSuffix(s string, prefix, suffix func(string) bool) bool {
	parts := strings.Split(s, "/")
	switch len(parts) {
	case 1:
		return suffix(parts[0])
	case 2:
		return prefix(parts[0]) && suffix(parts[1])
	}
	return false
}

// validator is one of Backstage's field validators; expectation is the
// phrase its message uses.
type validator struct {
	check       func(any) bool
	expectation string
}

func strCheck(f func(string) bool) func(any) bool {
	return func(v any) bool { s, ok := v.(string); return ok && f(s) }
}

var (
	vAPIVersion = validator{strCheck(func(s string) bool {
		return prefixAndOrSuffix(s, isDNSSubdomain, func(n string) bool {
			return lenBetween(n, 1, 63) && matchAlnum(n)
		})
	}), "a valid prefix and/or suffix"}
	vKind = validator{strCheck(func(s string) bool { return lenBetween(s, 1, 63) && matchKind(s) }),
		"a string that is a sequence of [a-zA-Z][a-z0-9A-Z], at most 63 characters in total"}
	vName = validator{strCheck(isObjectName),
		"a string that is sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total"}
	vNamespace = validator{strCheck(isDNSLabel),
		"a string that is sequences of [a-z0-9] separated by [-], at most 63 characters in total"}
	vKey = validator{strCheck(func(s string) bool { return prefixAndOrSuffix(s, isDNSSubdomain, isObjectName) }),
		"a valid prefix and/or suffix"}
	vLabelValue = validator{strCheck(func(s string) bool { return s == "" || isObjectName(s) }), vName.expectation}
	vAnnotation = validator{func(v any) bool { _, ok := v.(string); return ok }, "a string"}
	vTag        = validator{strCheck(func(s string) bool { return lenBetween(s, 1, 63) && matchSeparated(s, isTagChar, false) }),
		"a string that is sequences of [a-z0-9+#] separated by [-], at most 63 characters in total"}
	vURL      = validator{strCheck(isURL), "a string that is a valid url"}
	vNonEmpty = validator{strCheck(func(s string) bool { return strings.TrimSpace(s) != "" }), "a non empty string"}
)

// isURL is Backstage's isValidUrl: new URL(s) does not throw. Node's URL
// class is WHATWG's parser; whatwg-url implements the same standard, so
// hosts, ports, IP addresses and IDNA are judged alike.
func isURL(s string) bool {
	_, err := whatwgurl.NewParser().Parse(s)
	return err == nil
}

// fieldError is FieldFormatEntityPolicy's message for an invalid value.
func fieldError(field string, value any, v validator) *ValidationError {
	return newErr("Error", `"`+field+`" is not valid; expected `+v.expectation+` but found "`+jsString(value)+`".`+adrLink, nil)
}

func require(field string, value any, present bool, v validator) *ValidationError {
	if !present || value == nil {
		return newErr("Error", field+" must have a value", nil)
	}
	if !v.check(value) {
		return fieldError(field, value, v)
	}
	return nil
}

func optional(field string, value any, present bool, v validator) *ValidationError {
	if !present {
		return nil
	}
	return require(field, value, true, v)
}

// checkFieldFormats is FieldFormatEntityPolicy.
func checkFieldFormats(e *ojson.Object) *ValidationError {
	md := e.Object("metadata")
	get := func(o *ojson.Object, k string) (any, bool) { return o.Get(k) }
	v, ok := get(e, "apiVersion")
	if err := require("apiVersion", v, ok, vAPIVersion); err != nil {
		return err
	}
	v, ok = get(e, "kind")
	if err := require("kind", v, ok, vKind); err != nil {
		return err
	}
	v, ok = get(md, "name")
	if err := require("metadata.name", v, ok, vName); err != nil {
		return err
	}
	v, ok = get(md, "namespace")
	if err := optional("metadata.namespace", v, ok, vNamespace); err != nil {
		return err
	}
	if labels := md.Object("labels"); labels != nil {
		for _, m := range labels.Members {
			if err := require("labels."+m.Key, m.Key, true, vKey); err != nil {
				return err
			}
			if err := require("labels."+m.Key, m.Value, true, vLabelValue); err != nil {
				return err
			}
		}
	}
	if anns := md.Object("annotations"); anns != nil {
		for _, m := range anns.Members {
			if err := require("annotations."+m.Key, m.Key, true, vKey); err != nil {
				return err
			}
			if err := require("annotations."+m.Key, m.Value, true, vAnnotation); err != nil {
				return err
			}
		}
	}
	if tags, ok := md.Get("tags"); ok {
		if arr, ok := tags.([]any); ok {
			for i, t := range arr {
				if err := require("tags."+strconv.Itoa(i), t, true, vTag); err != nil {
					return err
				}
			}
		}
	}
	if links, ok := md.Get("links"); ok {
		if arr, ok := links.([]any); ok {
			for i, l := range arr {
				lo, _ := l.(*ojson.Object)
				f := "links." + strconv.Itoa(i) + "."
				v, ok := lo.Get("url")
				if err := require(f+"url", v, ok, vURL); err != nil {
					return err
				}
				v, ok = lo.Get("title")
				if err := optional(f+"title", v, ok, vNonEmpty); err != nil {
					return err
				}
				v, ok = lo.Get("icon")
				if err := optional(f+"icon", v, ok, vNonEmpty); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ValidateEnvelope is the minimal envelope check (apiVersion, kind,
// metadata.name present and strings). The error is a TypeError carrying
// Ajv's message, as validate-entity reports it unwrapped.
func ValidateEnvelope(e *ojson.Object) error {
	set, err := loadSchemas()
	if err != nil {
		return err
	}
	if errs := walk(set.envelope, e, true); len(errs) > 0 {
		return newErr("TypeError", errs[0].withParams(), nil)
	}
	return nil
}

// relationArrayFields are the spec arrays Backstage's built-in kinds
// processor sorts before processing, so that reordering them in the source
// does not change the output.
var relationArrayFields = []string{"providesApis", "consumesApis", "dependsOn", "dependencyOf", "memberOf", "children", "members"}

func sortRelationFields(e *ojson.Object) {
	spec := e.Object("spec")
	if spec == nil {
		return
	}
	for _, f := range relationArrayFields {
		v, ok := spec.Get(f)
		arr, isArr := v.([]any)
		if !ok || !isArr || len(arr) < 2 {
			continue
		}
		strs := make([]string, len(arr))
		all := true
		for i, x := range arr {
			s, ok := x.(string)
			if !ok {
				all = false
				break
			}
			strs[i] = s
		}
		if !all || sort.StringsAreSorted(strs) {
			continue
		}
		sort.Strings(strs)
		out := make([]any, len(strs))
		for i, s := range strs {
			out[i] = s
		}
		spec.Set(f, out)
	}
}

// applyPolicies runs the envelope check, the built-in kinds preprocessing
// (sorting relation arrays) and Backstage's default policy chain in order:
// schema, default namespace, no foreign root fields, field formats.
func applyPolicies(in *ojson.Object) (*ojson.Object, *ValidationError) {
	set, err := loadSchemas()
	if err != nil {
		return nil, newErr("Error", err.Error(), nil)
	}
	if errs := walk(set.envelope, in, true); len(errs) > 0 {
		return nil, newErr("InputError", "Entity envelope failed validation before processing",
			newErr("TypeError", errs[0].withParams(), nil))
	}
	ref := EntityRef(in)
	fail := func(c *ValidationError) (*ojson.Object, *ValidationError) {
		return nil, newErr("InputError", "Policy check failed for "+ref, c)
	}
	e := in.Clone()
	sortRelationFields(e)
	if errs := walk(set.entity, e, true); len(errs) > 0 {
		return fail(newErr("Error", "Malformed envelope, "+errs[0].short(), nil))
	}
	md := e.Object("metadata")
	if ns, _ := md.Get("namespace"); ns == nil || ns == "" {
		// lodash.merge({metadata:{namespace}}, entity): metadata moves to the
		// front of the root and namespace to the front of metadata.
		md.Delete("namespace")
		md.Members = append([]ojson.Member{{Key: "namespace", Value: DefaultNamespace}}, md.Members...)
		e.Delete("metadata")
		e.Members = append([]ojson.Member{{Key: "metadata", Value: md}}, e.Members...)
	}
	for _, m := range e.Members {
		switch m.Key {
		case "apiVersion", "kind", "metadata", "spec":
		default:
			return fail(newErr("Error", "Unknown field "+m.Key, nil))
		}
	}
	if err := checkFieldFormats(e); err != nil {
		return fail(err)
	}
	return e, nil
}
