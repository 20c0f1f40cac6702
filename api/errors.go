// Package api is the pure core of the application API of SPEC §7: the KMS
// OpenAPI (version 2016-01-20, RPC style) as Alibaba Cloud's official SDKs
// speak it. It authenticates requests signed with either signature scheme
// (RPC v1 HMAC-SHA1 and ACS3-HMAC-SHA256), evaluates RAM-style policies and
// renders the cloud's error bodies. It does no I/O: the HTTPS server, the
// access-key store and the audit live elsewhere and call in here.
package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"kmsconsole/model"
)

// Error codes of the authentication layer, as the cloud and the SDKs spell
// them. The codes of the actions themselves are model's (model.Code*).
const (
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
	CodeIncompleteSignature   = "IncompleteSignature"
	CodeTimestampExpired      = "InvalidTimeStamp.Expired"
	CodeTimestampFormat       = "InvalidTimeStamp.Format"
	CodeNonceUsed             = "SignatureNonceUsed"
	CodeAccessKeyNotFound     = "InvalidAccessKeyId.NotFound"
	CodeAccessKeyDisabled     = "Forbidden.AccessKeyDisabled"
)

// StringToSignMarker is what the official SDKs look for in the Message of a
// SignatureDoesNotMatch error: the text after it is the server's string to
// sign, which the Go SDK (alibaba-cloud-sdk-go, sdk/errors/
// signature_does_not_match_wrapper.go) compares with its own to tell a wrong
// AccessKeySecret from an SDK bug, and the Python core SDK splits the message
// on ':' to do the same.
const StringToSignMarker = "server string to sign is:"

// Error is an error answer of the API. Its JSON body (Body) has the fields the
// SDKs parse: RequestId, HostId, Code, Message, Recommend, HttpStatus.
type Error struct {
	Code       string
	Message    string
	HttpStatus int
	Recommend  string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// AuditText is the message without the server's string to sign. An RPC v1
// string to sign contains every request parameter, SecretData included, so a
// SignatureDoesNotMatch message must go back to the caller (who sent those
// parameters) but never into logs or the audit trail: record this instead.
func (e *Error) AuditText() string {
	if i := strings.Index(e.Message, StringToSignMarker); i >= 0 {
		return strings.TrimSpace(e.Message[:i]) + " (string to sign withheld)"
	}
	return e.Message
}

// ErrorBody is the JSON shape of an error answer, fields in the cloud's order.
type ErrorBody struct {
	RequestId  string
	HostId     string
	Code       string
	Message    string
	Recommend  string
	HttpStatus int
}

// Body renders the error body as the cloud does: one JSON object, no HTML
// escaping (a string to sign is full of '&'), no trailing newline. hostId is
// the host the client addressed (the cloud puts its endpoint there).
func (e *Error) Body(requestId, hostId string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	// Encoding a struct of strings and an int cannot fail.
	_ = enc.Encode(ErrorBody{
		RequestId:  requestId,
		HostId:     hostId,
		Code:       e.Code,
		Message:    e.Message,
		Recommend:  e.Recommend,
		HttpStatus: e.HttpStatus,
	})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// AsError turns any error into an API error: an *Error stays itself, a
// model.APIError (what the service returns) keeps its code, message and
// status, anything else becomes InternalFailure 500 (model.AsAPIError).
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	ae := model.AsAPIError(err)
	return &Error{Code: ae.Code, Message: ae.Message, HttpStatus: ae.HttpStatus}
}

func newError(code string, status int, msg string) *Error {
	return &Error{Code: code, Message: msg, HttpStatus: status}
}

// missing is the cloud's MissingParameter answer.
func missing(name string) *Error {
	return newError(model.CodeMissingParameter, 400,
		"The input parameter \""+name+"\" that is mandatory for processing this request is not supplied.")
}

func invalid(name, why string) *Error {
	return newError(model.CodeInvalidParameter, 400, "The parameter "+name+" is invalid: "+why)
}

func incomplete(why string) *Error {
	return newError(CodeIncompleteSignature, 400, "The request signature does not conform to Aliyun standards: "+why)
}
