package http1

import "bytes"

// chunkSizeLine parses "chunk-size [chunk-ext] CRLF" (RFC 9112 7.1) at the
// start of b. It returns the bytes consumed, or 0 when the line is not
// complete yet, and moves p to the data or trailer state.
func (p *Parser) chunkSizeLine(b []byte) (int, *Error) {
	maxLine := maxChunkSizeDigits + p.lim.MaxChunkExtBytes + 2 // + CRLF
	window := min(len(b), maxLine)
	lf := bytes.IndexByte(b[:window], '\n')
	if lf < 0 {
		if len(b) >= maxLine {
			// Too long whatever follows: report what the complete line
			// would have been rejected for, so the verdict does not
			// depend on how the bytes arrived.
			if _, ok := chunkSizeValue(b[:hexDigits(b)]); !ok {
				return 0, ErrBadChunkSize
			}
			return 0, ErrBadChunkExtension
		}
		return 0, nil
	}
	if lf == 0 || b[lf-1] != '\r' {
		return 0, ErrBareLF
	}
	size, err := parseChunkSize(b[:lf-1], p.lim.MaxChunkExtBytes)
	if err != nil {
		return 0, err
	}
	if size == 0 {
		p.state = stateTrailers
	} else {
		p.state, p.remain = stateChunkData, size
	}
	return lf + 1, nil
}

// chunkSizeValue converts 1 to 16 hex digits that fit in an int64.
func chunkSizeValue(digits []byte) (int64, bool) {
	if len(digits) == 0 || len(digits) > maxChunkSizeDigits {
		return 0, false
	}
	var size int64
	for _, c := range digits {
		if size > (1<<63-1)>>4 {
			return 0, false
		}
		size = size<<4 | int64(hexValue[c])
	}
	return size, true
}

func hexDigits(b []byte) int {
	n := 0
	for n < len(b) && hexValue[b[n]] >= 0 {
		n++
	}
	return n
}

// parseChunkSize reads 1*HEXDIG (no sign, no 0x, no spaces, at most 16
// digits, within int64) followed by optional extensions.
func parseChunkSize(line []byte, maxExt int) (int64, *Error) {
	n := hexDigits(line)
	size, ok := chunkSizeValue(line[:n])
	if !ok {
		return 0, ErrBadChunkSize
	}
	ext := line[n:]
	if len(ext) == 0 {
		return size, nil
	}
	if len(ext) > maxExt {
		return 0, ErrBadChunkExtension
	}
	// RFC 9112 lets a recipient strip whitespace before ';', but net/http
	// and llhttp refuse it, and a proxy that reads chunk lines more
	// loosely than the server behind it is a smuggling vector.
	if ext[0] != ';' {
		return 0, ErrBadChunkSize // "1 ", "1 ;a", "1x", "0x1a"
	}
	if !validChunkExt(ext) {
		return 0, ErrBadChunkExtension
	}
	return size, nil
}

func skipOWS(b []byte, i int) int {
	for i < len(b) && isOWS(b[i]) {
		i++
	}
	return i
}

// validChunkExt checks *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
// (the caller has already refused BWS before the first ';'),
// ext-val being a token or a quoted-string. Extensions are then ignored.
func validChunkExt(b []byte) bool {
	i := 0
	for i < len(b) {
		i = skipOWS(b, i)
		if i == len(b) || b[i] != ';' {
			return false
		}
		i = skipOWS(b, i+1)
		start := i
		for i < len(b) && tokenTable[b[i]] {
			i++
		}
		if i == start {
			return false
		}
		j := skipOWS(b, i)
		if j == len(b) || b[j] != '=' {
			if j == len(b) && j > i {
				return false // trailing whitespace is not BWS before anything
			}
			continue
		}
		i = skipOWS(b, j+1)
		if i < len(b) && b[i] == '"' {
			var ok bool
			if i, ok = skipQuotedString(b, i); !ok {
				return false
			}
			continue
		}
		start = i
		for i < len(b) && tokenTable[b[i]] {
			i++
		}
		if i == start {
			return false
		}
	}
	return true
}

// skipQuotedString returns the index after the quoted-string starting at i.
func skipQuotedString(b []byte, i int) (int, bool) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			i++
			if i == len(b) || !valueTable[b[i]] {
				return 0, false
			}
		case !valueTable[c]:
			return 0, false
		}
	}
	return 0, false
}

// chunkDataEnd checks the CRLF after chunk data: 2 when present, 0 when
// more bytes are needed.
func chunkDataEnd(b []byte) (int, *Error) {
	switch {
	case len(b) == 0:
		return 0, nil
	case b[0] == '\n':
		return 0, ErrBareLF
	case b[0] != '\r':
		return 0, ErrBadChunkTerminator
	case len(b) == 1:
		return 0, nil
	case b[1] != '\n':
		return 0, ErrBadChunkTerminator
	}
	return 2, nil
}

// trailerSection reads the trailer section after the last chunk: an empty
// line alone ends the message, otherwise fields with the head's rules.
func (p *Parser) trailerSection(b []byte) (Event, int, *Error) {
	if p.scan.pos == 0 {
		switch {
		case len(b) == 0:
			return EventNeedMore, 0, nil
		case b[0] == '\n':
			return 0, 0, ErrBareLF
		case b[0] == '\r' && len(b) == 1:
			return EventNeedMore, 0, nil
		case b[0] == '\r' && b[1] == '\n':
			p.finishMessage()
			return EventEnd, 2, nil
		}
	}
	end, err := p.scanSection(b, false)
	if err != nil || end == 0 {
		return EventNeedMore, 0, err
	}
	p.trailers, err = parseFieldLines(b[:end], p.trailers[:0])
	if err != nil {
		return 0, 0, err
	}
	p.scan.reset()
	p.state = stateEnd
	return EventTrailers, end, nil
}
