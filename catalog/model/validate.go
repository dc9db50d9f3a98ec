package model

import (
	"errors"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/understage/understage/plugins/backend/ojson"
)

// validateKind is ValidateKind with the concrete error type.
func validateKind(e *ojson.Object) (bool, *ValidationError) {
	set, err := loadSchemas()
	if err != nil {
		return false, newErr("Error", err.Error(), nil)
	}
	kind, apiVersion := e.String("kind"), e.String("apiVersion")
	accepted := false
	var doc any // converted once, only when a schema claims the entity
	for _, ks := range set.kinds {
		// A kind or apiVersion outside the schema's enums is Backstage's
		// "soft" failure: the schema does not apply, try the next one.
		if !ks.kinds[kind] || !ks.apiVersions[apiVersion] {
			continue
		}
		if doc == nil {
			doc = ojson.ToGo(e)
		}
		verr := ks.compiled.Validate(doc)
		if verr == nil {
			accepted = true
			continue
		}
		msg := ""
		if errs := walk(ks.tree, e, false); len(errs) > 0 {
			msg = errs[0].withParams()
		} else {
			msg = santhoshMessage(verr)
		}
		return false, newErr("InputError", "Processor "+ks.processor+
			" threw an error while validating the entity "+EntityRef(e), newErr("TypeError", msg, nil))
	}
	return accepted, nil
}

// santhoshMessage is a fallback for a schema failure the ordered walker did
// not reproduce (a keyword it does not model).
func santhoshMessage(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	p := ""
	for _, s := range ve.InstanceLocation {
		p += "/" + escapePointer(s)
	}
	if p == "" {
		p = "<root>"
	}
	return p + " " + ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))
}

// validate is the orchestrator's validation step after policies: the full
// entity schema, then the per-kind schemas; at least one must claim the kind.
func validate(e *ojson.Object) *ValidationError {
	set, err := loadSchemas()
	if err != nil {
		return newErr("Error", err.Error(), nil)
	}
	ref := EntityRef(e)
	// Every kind schema includes the entity schema, so an entity a kind
	// schema accepts needs no separate entity check (the common case).
	if ok, verr := validateKind(e); ok && verr == nil {
		return nil
	}
	if errs := walk(set.entity, e, true); len(errs) > 0 {
		return newErr("ConflictError", "Entity envelope for "+ref+" failed validation after preprocessing",
			newErr("TypeError", errs[0].withParams(), nil))
	}
	ok, verr := validateKind(e)
	if verr != nil {
		return verr
	}
	if !ok {
		return newErr("InputError", "No processor recognized the entity "+ref+
			" as valid, possibly caused by a foreign kind or apiVersion", nil)
	}
	return nil
}
