// Package model is the pure domain of kmsconsole: secrets, versions, stage
// labels, rotation intervals, instances, operators and the API error codes.
// It does no I/O beyond reading crypto/rand.
package model

import (
	"errors"
	"fmt"
)

// APIError is an error with one of the cloud KMS error codes. Every error a
// caller of the service sees is one of these, so the CLI, the console and
// serve report identical codes.
type APIError struct {
	Code       string
	Message    string
	HttpStatus int
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// Error codes, as the cloud uses them.
const (
	CodeInvalidParameter  = "InvalidParameter"
	CodeMissingParameter  = "MissingParameter"
	CodeLimitExceeded     = "Rejected.LimitExceeded"
	CodeNoPermission      = "Forbidden.NoPermission"
	CodeNotFound          = "Forbidden.ResourceNotFound"
	CodeResourceExist     = "Rejected.ResourceExist"
	CodeInDeleteWindow    = "Rejected.ResourceInDeleteWindow"
	CodeResourceInUse     = "Rejected.ResourceInUse"
	CodeThrottling        = "Rejected.Throttling"
	CodeRotationFailed    = "Rejected.RotationFailed"
	CodeInternalFailure   = "InternalFailure"
	CodeUnsupportedAction = "InvalidAction.NotFound"
)

var statusOf = map[string]int{
	CodeInvalidParameter:  400,
	CodeMissingParameter:  400,
	CodeLimitExceeded:     400,
	CodeUnsupportedAction: 400,

	CodeNoPermission:    403,
	CodeNotFound:        404,
	CodeResourceExist:   409,
	CodeInDeleteWindow:  409,
	CodeResourceInUse:   409,
	CodeThrottling:      429,
	CodeInternalFailure: 500,
	CodeRotationFailed:  502,
}

// Errorf builds an APIError with the HTTP status that belongs to code.
func Errorf(code, format string, args ...any) *APIError {
	status, ok := statusOf[code]
	if !ok {
		status = 500
	}
	return &APIError{Code: code, Message: fmt.Sprintf(format, args...), HttpStatus: status}
}

// InvalidParam names the parameter and says what is wrong with it.
func InvalidParam(param, format string, args ...any) *APIError {
	return Errorf(CodeInvalidParameter, "The parameter %s is invalid: %s", param, fmt.Sprintf(format, args...))
}

// MissingParam reports a required parameter that was not given.
func MissingParam(param string) *APIError {
	return Errorf(CodeMissingParameter, "The parameter %s is required", param)
}

// NotFound reports a missing secret, version, stage or instance.
func NotFound(format string, args ...any) *APIError {
	return Errorf(CodeNotFound, format, args...)
}

// AsAPIError returns err as an APIError; anything else becomes an
// InternalFailure whose message is the error text. Callers must make sure such
// texts never contain a value (the service wraps errors with names only).
func AsAPIError(err error) *APIError {
	if err == nil {
		return nil
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae
	}
	return Errorf(CodeInternalFailure, "%s", err.Error())
}

// IsCode reports whether err is an APIError with the given code.
func IsCode(err error, code string) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// Wrap is AsAPIError for return statements: nil stays a nil error.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return AsAPIError(err)
}
