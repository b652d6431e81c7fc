package http1

import "bytes"

// parseField validates one field line (without CRLF) and returns its name
// and OWS-trimmed value (RFC 9112 5, RFC 9110 5.5).
func parseField(line []byte) (Field, *Error) {
	if isOWS(line[0]) {
		return Field{}, ErrObsFold // obs-fold, or whitespace after the start line
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 || !isToken(line[:colon]) {
		return Field{}, ErrInvalidHeaderName // also "Name : value"
	}
	value := line[colon+1:]
	for _, c := range value {
		if !valueTable[c] {
			return Field{}, ErrInvalidHeaderValue
		}
	}
	return Field{Name: line[:colon], Value: trimOWS(value)}, nil
}

// parseFieldLines fills dst from a section of CRLF-terminated field lines
// ending with an empty line; the scan already checked every line ending.
func parseFieldLines(section []byte, dst []Field) ([]Field, *Error) {
	for len(section) > 2 {
		lf := bytes.IndexByte(section, '\n')
		f, err := parseField(section[:lf-1])
		if err != nil {
			return dst, err
		}
		dst = append(dst, f)
		section = section[lf+1:]
	}
	return dst, nil
}

// framing collects what the fields say about the message's delimitation
// and connection, before the rules are applied.
type framing struct {
	contentLengths int
	contentLength  int64
	badLength      bool
	te             bool
	teChunked      int  // how many "chunked" codings
	teLastChunked  bool // the final coding is chunked
	teOther        bool // a coding other than chunked
	teEmpty        bool // an empty list element
	connClose      bool
	connKeepAlive  bool
	connUpgrade    bool
	upgrade        bool
	expect100      bool
	hosts          int
	host           []byte
}

// note records a field whose name matters to framing. The switch on length
// keeps the common case (an uninteresting field) to one comparison.
func (fr *framing) note(f Field) {
	name := f.Name
	switch len(name) {
	case 4:
		if equalFoldLower(name, "host") {
			fr.hosts++
			fr.host = f.Value
		}
	case 6:
		if equalFoldLower(name, "expect") && equalFoldLower(f.Value, "100-continue") {
			fr.expect100 = true
		}
	case 7:
		if equalFoldLower(name, "upgrade") {
			fr.upgrade = true
		}
	case 10:
		if equalFoldLower(name, "connection") {
			fr.noteConnection(f.Value)
		}
	case 14:
		if equalFoldLower(name, "content-length") {
			fr.contentLengths++
			n, ok := parseContentLength(f.Value)
			fr.contentLength, fr.badLength = n, fr.badLength || !ok
		}
	case 17:
		if equalFoldLower(name, "transfer-encoding") {
			fr.noteTransferEncoding(f.Value)
		}
	}
}

func (fr *framing) noteConnection(v []byte) {
	for v != nil {
		var opt []byte
		opt, v = nextListElement(v)
		switch {
		case equalFoldLower(opt, "close"):
			fr.connClose = true
		case equalFoldLower(opt, "keep-alive"):
			fr.connKeepAlive = true
		case equalFoldLower(opt, "upgrade"):
			fr.connUpgrade = true
		}
	}
}

func (fr *framing) noteTransferEncoding(v []byte) {
	fr.te = true
	for v != nil {
		var coding []byte
		coding, v = nextListElement(v)
		switch {
		case len(coding) == 0:
			fr.teEmpty = true
		case equalFoldLower(coding, "chunked"):
			fr.teChunked++
			fr.teLastChunked = true
			continue
		default:
			fr.teOther = true
		}
		fr.teLastChunked = false
	}
}

// parseContentLength is 1*DIGIT, no sign, no list, within int63 like
// net/http.
func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 19 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int64(c - '0')
		if n > (1<<63-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// transferCoding applies RFC 9112 6.1 to the Transfer-Encoding list: the
// only coding sluice implements is chunked, exactly once, last.
func (fr *framing) transferCoding() *Error {
	switch {
	case fr.teEmpty:
		return ErrBadTransferEncoding
	case fr.teChunked > 1:
		return ErrDuplicateChunked
	case fr.teChunked == 1 && !fr.teLastChunked:
		return ErrChunkedNotFinal
	case fr.teOther:
		return ErrUnsupportedTransferEncoding
	}
	return nil
}
