package http1

// Limits bound what a peer can make the parser hold. A zero field means the
// default.
type Limits struct {
	MaxRequestLineBytes int // over -> ErrURITooLong (414); default 16384
	MaxHeaderBytes      int // whole head incl. start line and CRLFs (also trailers); over -> ErrHeadersTooLarge (431); default 61440
	MaxHeaders          int // fields in a head (or trailer section); over -> ErrTooManyHeaders (431); default 100
	MaxChunkExtBytes    int // bytes after the chunk size on a chunk line; over -> ErrBadChunkExtension (400); default 4096
}

// maxLeadingEmptyLines bounds the CRLFs tolerated before a request line
// (RFC 9112 2.2 asks for at least one); more is someone probing, not a
// buggy client.
const maxLeadingEmptyLines = 8

// maxChunkSizeDigits keeps a chunk size inside int64 without a big-number
// parser (net/http uses the same bound).
const maxChunkSizeDigits = 16

// DefaultLimits are Envoy's and haproxy's usual defaults.
func DefaultLimits() Limits {
	return Limits{
		MaxRequestLineBytes: 16384,
		MaxHeaderBytes:      61440,
		MaxHeaders:          100,
		MaxChunkExtBytes:    4096,
	}
}

// withDefaults fills zero fields and keeps the request-line limit inside the
// head limit, so a request line is judged by the same rule whether it
// arrives in one read or many.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxRequestLineBytes <= 0 {
		l.MaxRequestLineBytes = d.MaxRequestLineBytes
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = d.MaxHeaders
	}
	if l.MaxChunkExtBytes <= 0 {
		l.MaxChunkExtBytes = d.MaxChunkExtBytes
	}
	if l.MaxHeaderBytes < 8 {
		l.MaxHeaderBytes = 8
	}
	// A request line and the CRLFs after it must fit in the head.
	if l.MaxRequestLineBytes > l.MaxHeaderBytes-4 {
		l.MaxRequestLineBytes = l.MaxHeaderBytes - 4
	}
	return l
}
