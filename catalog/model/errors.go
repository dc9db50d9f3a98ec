package model

import (
	"errors"

	"github.com/understage/understage/catalog"
	"github.com/understage/understage/plugins/backend"
)

// ValidationError is an error as Backstage's catalog reports it: a JavaScript
// error class name (InputError, TypeError, Error, ConflictError,
// NotAllowedError), the message, and an optional cause. Error() renders the
// message the way Backstage's CustomErrorBase does ("msg; caused by Name:
// cause"), which is also the serialized message.
type ValidationError struct {
	Name    string
	Message string // without the cause suffix
	Cause   *ValidationError
}

func (e *ValidationError) Error() string {
	if e.Cause == nil {
		return e.Message
	}
	return e.Message + "; caused by " + e.Cause.Name + ": " + e.Cause.Error()
}

// ErrorName is the class name (backend.Named).
func (e *ValidationError) ErrorName() string { return e.Name }

// Unwrap exposes the cause.
func (e *ValidationError) Unwrap() error {
	if e.Cause == nil {
		return nil
	}
	return e.Cause
}

// Is maps the class name onto the backend error kinds, so that
// errors.Is(err, backend.ErrInput) works and backend.KindOf finds a status.
func (e *ValidationError) Is(target error) bool {
	k := backend.KindNamed(e.Name)
	return k != nil && target == k
}

// As lets backend.KindOf / backend.MessageOf see a *backend.Error.
func (e *ValidationError) As(target any) bool {
	p, ok := target.(**backend.Error)
	if !ok {
		return false
	}
	k := backend.KindNamed(e.Name)
	if k == nil {
		return false
	}
	*p = &backend.Error{Kind: k, Message: e.Error()}
	return true
}

// Serialize is the JSON shape Backstage stores in refresh_state.errors and
// returns from validate-entity: {name, message, cause?}.
func (e *ValidationError) Serialize() catalog.SerializedError {
	s := catalog.SerializedError{Name: e.Name, Message: e.Error()}
	if e.Cause != nil {
		c := e.Cause.Serialize()
		s.Cause = &c
	}
	return s
}

// SerializeError converts any error into Backstage's serialized form. Errors
// that are not ValidationErrors are named after their backend kind, or
// "Error".
func SerializeError(err error) catalog.SerializedError {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Serialize()
	}
	name := "Error"
	if k := backend.KindOf(err); k != nil {
		name = k.Name
	}
	return catalog.SerializedError{Name: name, Message: backend.MessageOf(err)}
}

func newErr(name, msg string, cause *ValidationError) *ValidationError {
	return &ValidationError{Name: name, Message: msg, Cause: cause}
}
