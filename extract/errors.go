package extract

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// ErrNotFound is matched (errors.Is) by a *GraphError for HTTP 404: the call
// record has expired (older than 30 days) or is not published yet.
var ErrNotFound = errors.New("not found")

// ErrThrottled is matched (errors.Is) by a *GraphError for HTTP 429 once the
// retries are exhausted.
var ErrThrottled = errors.New("throttled")

// GraphError is an error response from Microsoft Graph. It unwraps to
// ErrNotFound for 404 and to ErrThrottled for 429. The client returns 401 and
// 403 inside an *AuthError (errors.As still finds the GraphError).
type GraphError struct {
	// Status is the HTTP status code.
	Status int
	// Code is Graph's error code, e.g. "BadRequest" or "TooManyRequests".
	Code string
	// Message is Graph's human-readable message.
	Message string
	// RequestID is Graph's request-id, for support cases.
	RequestID string
	// URL is the request URL (it never holds credentials).
	URL string
	// Method is the request's HTTP method (GET when empty).
	Method string
}

// Error names the URL, the status and Graph's code and message.
func (e *GraphError) Error() string {
	var b strings.Builder
	method := e.Method
	if method == "" {
		method = http.MethodGet
	}
	fmt.Fprintf(&b, "graph %s %s: %d %s", method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		fmt.Fprintf(&b, ": %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request-id %s)", e.RequestID)
	}
	return b.String()
}

// Unwrap returns ErrNotFound for 404, ErrThrottled for 429 and nil otherwise.
func (e *GraphError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusTooManyRequests:
		return ErrThrottled
	}
	return nil
}

// graphErrorBody is Graph's error envelope. The docs spell the inner object
// both innerError and innererror; both are accepted.
type graphErrorBody struct {
	Error struct {
		Code       string         `json:"code"`
		Message    string         `json:"message"`
		InnerError map[string]any `json:"innerError"`
		InnerLower map[string]any `json:"innererror"`
	} `json:"error"`
}

// newGraphError builds a GraphError from a non-2xx response. A body that is
// not Graph's envelope leaves Code empty and uses a prefix of the body as Message.
func newGraphError(method string, status int, rawURL string, header http.Header, body []byte) *GraphError {
	ge := &GraphError{Status: status, URL: rawURL, Method: method}
	var eb graphErrorBody
	if err := json.Unmarshal(body, &eb); err == nil && (eb.Error.Code != "" || eb.Error.Message != "") {
		ge.Code = eb.Error.Code
		ge.Message = eb.Error.Message
		inner := eb.Error.InnerError
		if inner == nil {
			inner = eb.Error.InnerLower
		}
		if id, ok := inner["request-id"].(string); ok {
			ge.RequestID = id
		}
	} else if msg := strings.TrimSpace(string(body)); msg != "" {
		const maxMsg = 200
		if len(msg) > maxMsg {
			msg = msg[:maxMsg] + "…"
		}
		ge.Message = msg
	}
	if ge.RequestID == "" {
		ge.RequestID = header.Get("request-id")
	}
	return ge
}

// ErrBadPage is matched by the error of a list page whose body is not the
// OData collection Graph sends (malformed JSON, an HTML page), after the page
// was fetched again in vain.
var ErrBadPage = errors.New("unreadable page")

// ErrPaging is matched by the error of a chain of pages that does not end:
// a nextLink seen before, or several pages in a row that add nothing.
var ErrPaging = errors.New("paging does not end")

// ErrBadRecord is matched by a *RecordError: one call record that Graph
// served but that cannot be read. The other records are not affected.
var ErrBadRecord = errors.New("unreadable call record")

// RecordError is a call record Graph served but that cannot be read: a body
// that is not a JSON object, a field of the wrong type, a session or
// participant page that cannot be read, paging that does not end. Raw is what
// Graph sent for the record (the detail body), kept for the quarantine.
type RecordError struct {
	ID  string
	Raw []byte
	Err error
}

// Error names the record and what is wrong.
func (e *RecordError) Error() string { return fmt.Sprintf("call record %s: %v", e.ID, e.Err) }

// Unwrap matches ErrBadRecord and the cause.
func (e *RecordError) Unwrap() []error { return []error{ErrBadRecord, e.Err} }
