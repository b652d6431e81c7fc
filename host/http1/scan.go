package http1

import "bytes"

// sectionScan finds the end of a head or trailer section across calls
// without rescanning: it remembers how far it looked. Offsets are relative
// to the start of the section, which is the start of the caller's buffer
// because nothing is consumed until the section is complete.
type sectionScan struct {
	pos       int // bytes already looked at
	lineStart int // start of the line being scanned
	lines     int // complete non-empty lines so far
}

func (s *sectionScan) reset() { *s = sectionScan{} }

// scanSection looks for the empty line that ends a section. It returns the
// section length (including that empty line) or 0 when more bytes are
// needed.
//
// It never looks past MaxHeaderBytes, and it judges the request line only by
// its first MaxRequestLineBytes+2 bytes, so every rule is decided at a fixed
// byte position: the verdict (and its reason) is the same whether the bytes
// arrive at once or one at a time.
func (p *Parser) scanSection(buf []byte, hasStartLine bool) (int, *Error) {
	s := &p.scan
	lim := &p.lim
	window := min(len(buf), lim.MaxHeaderBytes)
	requestLine := hasStartLine && p.kind == Request
	for {
		i := bytes.IndexByte(buf[s.pos:window], '\n')
		if i < 0 {
			break
		}
		lf := s.pos + i
		// Judged by where the LF is, before what precedes it, exactly
		// as the partial check below judges a line without an LF.
		if requestLine && s.lines == 0 && lf > lim.MaxRequestLineBytes+1 {
			return 0, ErrURITooLong
		}
		if lf == s.lineStart || buf[lf-1] != '\r' {
			return 0, ErrBareLF
		}
		s.pos = lf + 1
		if lf-1 == s.lineStart {
			return s.pos, nil // the empty line
		}
		s.lines++
		fields := s.lines
		if hasStartLine {
			fields--
		}
		if fields > lim.MaxHeaders {
			return 0, ErrTooManyHeaders
		}
		s.lineStart = s.pos
	}
	s.pos = window
	if requestLine && s.lines == 0 && window >= lim.MaxRequestLineBytes+2 {
		return 0, ErrURITooLong // no line end where one had to be
	}
	if len(buf) >= lim.MaxHeaderBytes {
		return 0, ErrHeadersTooLarge
	}
	return 0, nil
}
