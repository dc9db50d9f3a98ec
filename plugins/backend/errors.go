// Package backend is the vocabulary shared by every plugin: the error kinds
// of Backstage's error envelope. It imports only the standard library.
package backend

import (
	"errors"
	"fmt"
)

// Kind is a Backstage error class; its name is what the envelope reports.
type Kind struct {
	Name   string
	Status int
}

func (k *Kind) Error() string { return k.Name }

// The error kinds, with their statuses: the one table of error names and
// HTTP statuses in understage. The first group is what Backstage's error
// middleware maps to a status.
var (
	ErrInput           = &Kind{"InputError", 400}
	ErrAuthentication  = &Kind{"AuthenticationError", 401}
	ErrNotAllowed      = &Kind{"NotAllowedError", 403}
	ErrNotFound        = &Kind{"NotFoundError", 404}
	ErrConflict        = &Kind{"ConflictError", 409}
	ErrPayloadTooLarge = &Kind{"PayloadTooLargeError", 413}
	ErrNotModified     = &Kind{"NotModifiedError", 304}
	ErrNotImplemented  = &Kind{"NotImplementedError", 501}
	ErrUnavailable     = &Kind{"ServiceUnavailableError", 503}
)

// Errors Backstage raises under a name of their own that its middleware
// does not map: a 500 that still shows the name.
var (
	// ErrTemplateRender is a template that fails to parse or render.
	ErrTemplateRender = &Kind{"TemplateRenderError", 500}
	// ErrTemplateLimit is a render over one of the template limits.
	ErrTemplateLimit = &Kind{"TemplateLimitError", 500}
	// ErrURI is JavaScript's URIError ("URI malformed").
	ErrURI = &Kind{"URIError", 500}
	// ErrRange is JavaScript's RangeError.
	ErrRange = &Kind{"RangeError", 500}
)

// kinds lists every kind, status-mapped first.
func kinds() []*Kind {
	return []*Kind{ErrInput, ErrAuthentication, ErrNotAllowed, ErrNotFound, ErrConflict, ErrPayloadTooLarge,
		ErrNotModified, ErrNotImplemented, ErrUnavailable, ErrTemplateRender, ErrTemplateLimit, ErrURI, ErrRange}
}

// KindNamed is the kind called name, or nil (a plain Error, a TypeError).
func KindNamed(name string) *Kind {
	for _, k := range kinds() {
		if k.Name == name {
			return k
		}
	}
	return nil
}

// KindForStatus is the status-mapped kind of an HTTP status, or nil (500
// and statuses Backstage does not name).
func KindForStatus(status int) *Kind {
	if status == 500 {
		return nil
	}
	for _, k := range kinds() {
		if k.Status == status {
			return k
		}
	}
	return nil
}

// KindForUpstreamStatus is the kind of a failed call to another service (an
// integration's API) that answered status: its authentication, permission,
// not-found and conflict answers keep their kinds, and 422 (a request the
// service understood but refused) is an input error. Others are nil: an
// internal error of ours, whatever the service said.
func KindForUpstreamStatus(status int) *Kind {
	switch status {
	case 401, 403, 404, 409:
		return KindForStatus(status)
	case 422:
		return ErrInput
	}
	return nil
}

// Named is an error that carries a Backstage error class name of its own
// (model's TypeError, the catalog's processing errors).
type Named interface{ ErrorName() string }

// NameOf is the Backstage class name of err: that of the outermost error
// in its chain with a kind or a name of its own, else "Error".
func NameOf(err error) string {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch t := e.(type) {
		case *Error:
			return t.Kind.Name
		case *Kind:
			return t.Name
		case Named:
			return t.ErrorName()
		}
	}
	if k := KindOf(err); k != nil {
		return k.Name
	}
	return "Error"
}

// Error is an error of a kind with the exact message Backstage would show.
type Error struct {
	Kind    *Kind
	Message string
	Cause   error
	// Forwarded marks Backstage's ForwardedError: the envelope shows Cause
	// (otherwise Cause is for logs and errors.Is only).
	Forwarded bool
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is(err, backend.ErrNotFound) work.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an error of kind with a formatted message.
func Errorf(kind *Kind, format string, args ...any) error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Input, NotFound, Conflict, NotAllowed, Authentication are shorthands.
func Input(format string, args ...any) error    { return Errorf(ErrInput, format, args...) }
func NotFound(format string, args ...any) error { return Errorf(ErrNotFound, format, args...) }
func Conflict(format string, args ...any) error { return Errorf(ErrConflict, format, args...) }
func NotAllowed(format string, args ...any) error {
	return Errorf(ErrNotAllowed, format, args...)
}
func Authentication(format string, args ...any) error {
	return Errorf(ErrAuthentication, format, args...)
}

// Forwarded wraps cause as Backstage's ForwardedError does: it takes the
// cause's kind, its message is "<message>; caused by <Name>: <cause
// message>", and the envelope shows the cause. A cause without a kind stays
// an internal error, wrapped with message.
func Forwarded(message string, cause error) error {
	k := KindOf(cause)
	if k == nil {
		return fmt.Errorf("%s: %w", message, cause)
	}
	return &Error{Kind: k, Message: message + "; caused by " + k.Name + ": " + MessageOf(cause), Cause: cause, Forwarded: true}
}

// ShownCause is the cause the envelope shows for err: that of the
// outermost *Error when it is forwarded, else nil.
func ShownCause(err error) error {
	var e *Error
	if errors.As(err, &e) && e.Forwarded {
		return e.Cause
	}
	return nil
}

// KindOf finds the Backstage kind of err, or nil for an unclassified error.
func KindOf(err error) *Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k *Kind
	if errors.As(err, &k) {
		return k
	}
	return nil
}

// MessageOf is the message the envelope shows: the Backstage message of the
// outermost *Error, else err.Error().
func MessageOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
}
