package model

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorfStatusMatchesSpec(t *testing.T) {
	codes := []string{
		CodeInvalidParameter, CodeMissingParameter, CodeLimitExceeded, CodeNoPermission,
		CodeNotFound, CodeResourceExist, CodeInDeleteWindow, CodeResourceInUse,
		CodeThrottling, CodeRotationFailed, CodeInternalFailure,
	}
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			e := Errorf(code, "x %d", 1)
			if e.Code != code || e.Message != "x 1" {
				t.Errorf("got %+v", e)
			}
			if want := specStatus[code]; e.HttpStatus != want {
				t.Errorf("HttpStatus = %d, want %d", e.HttpStatus, want)
			}
		})
	}
	if got := Errorf("Some.Unknown", "y").HttpStatus; got != 500 {
		t.Errorf("unknown code status = %d, want 500", got)
	}
	if got := Errorf(CodeUnsupportedAction, "y").HttpStatus; got != 400 {
		t.Errorf("InvalidAction.NotFound status = %d, want 400", got)
	}
}

func TestErrorHelpers(t *testing.T) {
	e := InvalidParam("PageSize", "must be %d–%d", 1, 100)
	wantAPIError(t, e, CodeInvalidParameter, "PageSize")
	if got, want := e.Error(), "InvalidParameter: "+e.Message; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	wantAPIError(t, MissingParam("SecretName"), CodeMissingParameter, "SecretName")
	wantAPIError(t, NotFound("The secret %s does not exist", "s1"), CodeNotFound, "s1")

	if AsAPIError(nil) != nil {
		t.Error("AsAPIError(nil) != nil")
	}
	if Wrap(nil) != nil { // must be an untyped nil, not a nil *APIError
		t.Error("Wrap(nil) is not a nil error")
	}
	wrapped := fmt.Errorf("context: %w", e)
	if AsAPIError(wrapped) != e {
		t.Error("AsAPIError does not unwrap to the original APIError")
	}
	if !IsCode(wrapped, CodeInvalidParameter) || IsCode(wrapped, CodeNotFound) {
		t.Error("IsCode wrong on a wrapped APIError")
	}
	if IsCode(errors.New("plain"), CodeInternalFailure) || IsCode(nil, CodeInvalidParameter) {
		t.Error("IsCode true for a non-APIError")
	}
	plain := AsAPIError(errors.New("disk on fire"))
	wantAPIError(t, plain, CodeInternalFailure, "disk on fire")
	w := Wrap(errors.New("boom"))
	if !IsCode(w, CodeInternalFailure) {
		t.Errorf("Wrap(plain) = %v, want InternalFailure", w)
	}
}
