package http1

import "bytes"

// parseHead parses a complete head section (start line, fields, empty line)
// and decides the message's framing.
func (p *Parser) parseHead(section []byte) *Error {
	p.head = Head{ContentLength: -1}
	lf := bytes.IndexByte(section, '\n')
	startLine := section[:lf-1]
	var err *Error
	if p.kind == Request {
		err = p.parseRequestLine(startLine)
	} else {
		err = p.parseStatusLine(startLine)
	}
	if err != nil {
		return err
	}
	p.fields, err = parseFieldLines(section[lf+1:], p.fields[:0])
	p.head.Fields = p.fields
	if err != nil {
		return err
	}
	var fr framing
	for _, f := range p.fields {
		fr.note(f)
	}
	if p.kind == Request {
		return p.requestFraming(&fr)
	}
	return p.responseFraming(&fr)
}

// lengthRules applies the checks common to both directions: one valid
// Content-Length at most, never together with Transfer-Encoding, no
// Transfer-Encoding in HTTP/1.0 (RFC 9112 6.1: the framing is faulty).
func (p *Parser) lengthRules(fr *framing) *Error {
	switch {
	case fr.contentLengths > 1:
		return ErrDuplicateContentLength
	case fr.badLength:
		return ErrBadContentLength
	case fr.te && fr.contentLengths > 0:
		return ErrContentLengthAndChunked
	case fr.te && p.head.Minor == 0:
		return ErrTransferEncodingHTTP10
	case fr.te:
		return fr.transferCoding()
	}
	return nil
}

func (p *Parser) requestFraming(fr *framing) *Error {
	h := &p.head
	switch {
	case fr.hosts > 1:
		return ErrMultipleHost
	case fr.hosts == 0 && h.Minor == 1:
		return ErrMissingHost
	case fr.hosts == 1 && len(fr.host) > 0 && !validAuthority(fr.host, false):
		return ErrBadHost
	}
	if err := p.lengthRules(fr); err != nil {
		return err
	}
	h.Host = fr.host // an empty Host stays a non-nil empty view
	h.Expect100 = fr.expect100 && h.Minor == 1
	h.Upgrade = fr.connUpgrade && fr.upgrade
	h.KeepAlive = keepAlive(h.Minor, fr)
	switch {
	case fr.te:
		if string(h.Method) == "CONNECT" {
			return ErrBodyNotAllowed
		}
		h.Body = BodyChunked
	case fr.contentLengths == 1:
		if string(h.Method) == "CONNECT" && fr.contentLength > 0 {
			return ErrBodyNotAllowed
		}
		h.ContentLength = fr.contentLength
		h.Body = BodyLength
	}
	return nil
}

func (p *Parser) responseFraming(fr *framing) *Error {
	h := &p.head
	if err := p.lengthRules(fr); err != nil {
		return err
	}
	h.Upgrade = fr.connUpgrade && fr.upgrade
	h.KeepAlive = keepAlive(h.Minor, fr)
	if fr.contentLengths == 1 {
		h.ContentLength = fr.contentLength
	}
	switch {
	case h.Status < 200, h.Status == 204, h.Status == 304, p.respToHead,
		p.respToConnect && h.Status < 300:
		h.Body = BodyNone // RFC 9112 6.3 rules 1 and 2
	case fr.te:
		h.Body = BodyChunked
	case fr.contentLengths == 1:
		h.Body = BodyLength
	default:
		h.Body = BodyUntilClose
		h.KeepAlive = false
	}
	return nil
}

// keepAlive is RFC 9112 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0
// only with "keep-alive".
func keepAlive(minor int, fr *framing) bool {
	if fr.connClose {
		return false
	}
	return minor == 1 || fr.connKeepAlive
}
