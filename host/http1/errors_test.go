package http1

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// allErrors lists every sentinel; TestDocTableMatchesErrors keeps doc.go's
// rejection table honest against it (and errors.go).
var allErrors = map[string]*Error{
	"ErrBadRequestLine":              ErrBadRequestLine,
	"ErrTooManyEmptyLines":           ErrTooManyEmptyLines,
	"ErrBadMethod":                   ErrBadMethod,
	"ErrBadRequestTarget":            ErrBadRequestTarget,
	"ErrURITooLong":                  ErrURITooLong,
	"ErrBadVersion":                  ErrBadVersion,
	"ErrVersionNotSupported":         ErrVersionNotSupported,
	"ErrBadStatusLine":               ErrBadStatusLine,
	"ErrHeadersTooLarge":             ErrHeadersTooLarge,
	"ErrTooManyHeaders":              ErrTooManyHeaders,
	"ErrBareLF":                      ErrBareLF,
	"ErrObsFold":                     ErrObsFold,
	"ErrInvalidHeaderName":           ErrInvalidHeaderName,
	"ErrInvalidHeaderValue":          ErrInvalidHeaderValue,
	"ErrMissingHost":                 ErrMissingHost,
	"ErrMultipleHost":                ErrMultipleHost,
	"ErrBadHost":                     ErrBadHost,
	"ErrContentLengthAndChunked":     ErrContentLengthAndChunked,
	"ErrBadContentLength":            ErrBadContentLength,
	"ErrDuplicateContentLength":      ErrDuplicateContentLength,
	"ErrBadTransferEncoding":         ErrBadTransferEncoding,
	"ErrChunkedNotFinal":             ErrChunkedNotFinal,
	"ErrDuplicateChunked":            ErrDuplicateChunked,
	"ErrUnsupportedTransferEncoding": ErrUnsupportedTransferEncoding,
	"ErrTransferEncodingHTTP10":      ErrTransferEncodingHTTP10,
	"ErrBodyNotAllowed":              ErrBodyNotAllowed,
	"ErrBadChunkSize":                ErrBadChunkSize,
	"ErrBadChunkExtension":           ErrBadChunkExtension,
	"ErrBadChunkTerminator":          ErrBadChunkTerminator,
	"ErrTruncated":                   ErrTruncated,
}

func TestDocTableMatchesErrors(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(doc), "\n") {
		cols := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(cols) < 3 || !strings.HasPrefix(cols[0], "Err") {
			continue
		}
		e, ok := allErrors[cols[0]]
		if !ok {
			t.Fatalf("doc.go documents unknown %s", cols[0])
		}
		if status, _ := strconv.Atoi(cols[1]); status != e.Status || cols[2] != e.Reason {
			t.Fatalf("doc.go says %s is %s %s; it is %d %s", cols[0], cols[1], cols[2], e.Status, e.Reason)
		}
		documented[cols[0]] = true
	}
	reasons := map[string]string{}
	for name, e := range allErrors {
		if !documented[name] {
			t.Fatalf("%s missing from doc.go's table", name)
		}
		if other, dup := reasons[e.Reason]; dup {
			t.Fatalf("%s and %s share reason %s", name, other, e.Reason)
		}
		reasons[e.Reason] = name
		if e.Error() != e.Reason {
			t.Fatalf("%s.Error() = %q", name, e.Error())
		}
	}
	src, err := os.ReadFile("errors.go")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(src), "= newError("); n != len(allErrors) {
		t.Fatalf("errors.go defines %d errors, allErrors lists %d", n, len(allErrors))
	}
}
