package http1

import "bytes"

// parseVersion accepts exactly HTTP/1.0 and HTTP/1.1. A well-formed version
// of another HTTP ("HTTP/2.0", "HTTP/3", "HTTP/1.2", "HTTP/0.9") is 505;
// anything else is garbage (400).
func parseVersion(v []byte) (minor int, err *Error) {
	if len(v) == 8 && string(v[:7]) == "HTTP/1." && (v[7] == '0' || v[7] == '1') {
		return int(v[7] - '0'), nil
	}
	isDigit := func(c byte) bool { return '0' <= c && c <= '9' }
	if len(v) >= 6 && string(v[:5]) == "HTTP/" && isDigit(v[5]) &&
		(len(v) == 6 || (len(v) == 8 && v[6] == '.' && isDigit(v[7]))) {
		return 0, ErrVersionNotSupported
	}
	return 0, ErrBadVersion
}

// parseRequestLine splits "method SP request-target SP HTTP-version"
// (RFC 9112 3) with exactly one SP between the parts.
func (p *Parser) parseRequestLine(line []byte) *Error {
	sp1 := bytes.IndexByte(line, ' ')
	if sp1 < 0 {
		return ErrBadRequestLine
	}
	method := line[:sp1]
	if !isToken(method) {
		if len(method) == 0 {
			return ErrBadRequestLine
		}
		return ErrBadMethod
	}
	rest := line[sp1+1:]
	sp2 := bytes.IndexByte(rest, ' ')
	if sp2 <= 0 { // HTTP/0.9 "GET /" or a doubled SP
		return ErrBadRequestLine
	}
	target := rest[:sp2]
	minor, err := parseVersion(rest[sp2+1:])
	if err != nil {
		return err
	}
	if err := validateTarget(method, target); err != nil {
		return err
	}
	h := &p.head
	h.Method, h.Target, h.Minor = method, target, minor
	return nil
}

// parseStatusLine reads "HTTP-version SP 3DIGIT SP [reason]"; the SP before
// an empty reason may be missing, as recipients are asked to tolerate.
func (p *Parser) parseStatusLine(line []byte) *Error {
	if len(line) < 12 || line[8] != ' ' {
		return ErrBadStatusLine
	}
	minor, err := parseVersion(line[:8])
	if err != nil {
		return ErrBadStatusLine
	}
	status := 0
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return ErrBadStatusLine
		}
		status = status*10 + int(c-'0')
	}
	if status < 100 || status > 599 {
		return ErrBadStatusLine
	}
	var reason []byte
	if len(line) > 12 {
		if line[12] != ' ' {
			return ErrBadStatusLine
		}
		reason = line[13:]
		for _, c := range reason {
			if !valueTable[c] {
				return ErrBadStatusLine
			}
		}
	}
	h := &p.head
	h.Minor, h.Status, h.Reason = minor, status, reason
	return nil
}

// validateTarget checks the request-target against the four forms of
// RFC 9112 3.2, each allowed only where it belongs.
func validateTarget(method, target []byte) *Error {
	if string(method) == "CONNECT" {
		if !validAuthority(target, true) {
			return ErrBadRequestTarget
		}
		return nil
	}
	switch {
	case target[0] == '/':
		if !validPathQuery(target) {
			return ErrBadRequestTarget
		}
	case len(target) == 1 && target[0] == '*':
		if string(method) != "OPTIONS" {
			return ErrBadRequestTarget
		}
	default:
		_, authority, pathQuery, ok := splitAbsolute(target)
		if !ok || !validAuthority(authority, false) || !validPathQuery(pathQuery) {
			return ErrBadRequestTarget
		}
	}
	return nil
}

// splitAbsolute splits an absolute-form target "scheme://authority[/path][?q]".
func splitAbsolute(t []byte) (scheme, authority, pathQuery []byte, ok bool) {
	i := 0
	for i < len(t) {
		c := t[i]
		alpha := ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if alpha || (i > 0 && (('0' <= c && c <= '9') || c == '+' || c == '-' || c == '.')) {
			i++
			continue
		}
		break
	}
	if i == 0 || len(t) < i+3 || string(t[i:i+3]) != "://" {
		return nil, nil, nil, false
	}
	scheme = t[:i]
	rest := t[i+3:]
	end := len(rest)
	for j, c := range rest {
		if c == '/' || c == '?' {
			end = j
			break
		}
	}
	return scheme, rest[:end], rest[end:], true
}

// validPathQuery checks origin-form bytes (also the path/query tail of an
// absolute-form): no CTL, SP, DEL, non-ASCII or fragment, and every '%'
// followed by two hex digits.
func validPathQuery(b []byte) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !targetTable[c] {
			return false
		}
		if c == '%' {
			if i+2 >= len(b) || hexValue[b[i+1]] < 0 || hexValue[b[i+2]] < 0 {
				return false
			}
			i += 2
		}
	}
	return true
}
