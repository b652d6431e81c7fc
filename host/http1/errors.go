package http1

// Error is a rejection: the message cannot be trusted. Status is what a
// server answers to a bad request before closing the connection; Reason is a
// stable snake_case detail for logs and stats (Envoy's "response code
// details" style). Responses share the values; a proxy answers its own
// downstream with 502 whatever Status says.
type Error struct {
	Status int
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func newError(status int, reason string) *Error { return &Error{Status: status, Reason: reason} }

// Rejections. Every one is a distinct pointer, so callers and tests compare
// with ==; the table in doc.go lists them with their statuses.
var (
	// Start line.
	ErrBadRequestLine      = newError(400, "http1.bad_request_line")
	ErrTooManyEmptyLines   = newError(400, "http1.too_many_leading_empty_lines")
	ErrBadMethod           = newError(400, "http1.invalid_method")
	ErrBadRequestTarget    = newError(400, "http1.invalid_url")
	ErrURITooLong          = newError(414, "http1.uri_too_long")
	ErrBadVersion          = newError(400, "http1.invalid_version")
	ErrVersionNotSupported = newError(505, "http1.version_not_supported")
	ErrBadStatusLine       = newError(502, "http1.bad_status_line")

	// Head size and line structure.
	ErrHeadersTooLarge = newError(431, "http1.headers_too_large")
	ErrTooManyHeaders  = newError(431, "http1.too_many_headers")
	ErrBareLF          = newError(400, "http1.bare_lf")
	ErrObsFold         = newError(400, "http1.obs_fold")

	// Fields.
	ErrInvalidHeaderName  = newError(400, "http1.invalid_header_name")
	ErrInvalidHeaderValue = newError(400, "http1.invalid_header_value")
	ErrMissingHost        = newError(400, "http1.missing_host")
	ErrMultipleHost       = newError(400, "http1.multiple_host")
	ErrBadHost            = newError(400, "http1.invalid_host")

	// Framing.
	ErrContentLengthAndChunked     = newError(400, "http1.content_length_and_chunked")
	ErrBadContentLength            = newError(400, "http1.invalid_content_length")
	ErrDuplicateContentLength      = newError(400, "http1.multiple_content_length")
	ErrBadTransferEncoding         = newError(400, "http1.invalid_transfer_encoding")
	ErrChunkedNotFinal             = newError(400, "http1.chunked_not_final")
	ErrDuplicateChunked            = newError(400, "http1.chunked_applied_twice")
	ErrUnsupportedTransferEncoding = newError(501, "http1.unsupported_transfer_encoding")
	ErrTransferEncodingHTTP10      = newError(400, "http1.transfer_encoding_in_http10")
	ErrBodyNotAllowed              = newError(400, "http1.body_not_allowed")

	// Chunked body.
	ErrBadChunkSize       = newError(400, "http1.invalid_chunk_size")
	ErrBadChunkExtension  = newError(400, "http1.invalid_chunk_extension")
	ErrBadChunkTerminator = newError(400, "http1.invalid_chunk_terminator")

	// Connection.
	ErrTruncated = newError(400, "http1.truncated")
)
