package model

import (
	"errors"
	"strings"
	"testing"
)

// specStatus is the HttpStatus SPEC §2 assigns to each error code. It is
// written out here, not taken from statusOf, so the tests check the code
// against the spec rather than against itself.
var specStatus = map[string]int{
	"InvalidParameter":                400,
	"MissingParameter":                400,
	"Rejected.LimitExceeded":          400,
	"Forbidden.NoPermission":          403,
	"Forbidden.ResourceNotFound":      404,
	"Rejected.ResourceExist":          409,
	"Rejected.ResourceInDeleteWindow": 409,
	"Rejected.ResourceInUse":          409,
	"Rejected.Throttling":             429,
	"Rejected.RotationFailed":         502,
	"InternalFailure":                 500,
}

// wantAPIError fails unless err is an *APIError with the given code, the HTTP
// status the spec gives that code, and (when param is not "") a message that
// names param.
func wantAPIError(t *testing.T, err error, code, param string) *APIError {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %T %v, want *APIError %s", err, err, code)
	}
	if ae.Code != code {
		t.Errorf("Code = %q, want %q (message %q)", ae.Code, code, ae.Message)
	}
	if want, ok := specStatus[code]; ok && ae.HttpStatus != want {
		t.Errorf("HttpStatus = %d, want %d for %s", ae.HttpStatus, want, code)
	}
	if param != "" && !strings.Contains(ae.Message, param) {
		t.Errorf("message %q does not name the parameter %s", ae.Message, param)
	}
	return ae
}

// check runs one validation case: wantCode "" means the call must succeed.
func check(t *testing.T, err error, wantCode, param string) {
	t.Helper()
	if wantCode == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	wantAPIError(t, err, wantCode, param)
}

const (
	invalid = CodeInvalidParameter
	missing = CodeMissingParameter
	ok      = ""
)
