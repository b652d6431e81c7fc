// Package tlsinspector is the tls_inspector listener filter: it reads the
// server name (SNI) and the offered application protocols (ALPN) from a
// TLS ClientHello without terminating TLS, so a filter chain can be
// chosen by them (and TLS passed through untouched, or terminated by the
// chain that matched).
//
// It only looks: nothing is consumed. Input that does not start like a TLS
// handshake record is not TLS (transport protocol "raw_buffer") and goes
// on; input that starts like one must be a well-formed ClientHello of at
// most the configured size, else the connection is closed and counted.
// A ClientHello may arrive in any number of pieces (even one byte per
// segment) and span several records: each look checks the record headers
// only until the whole message is there, then parses it once.
package tlsinspector

import (
	"strings"
	"sync/atomic"

	"github.com/sluiceproxy/sluice/host/listener"
)

const (
	recordTypeHandshake   = 22
	handshakeClientHello  = 1
	recordHeaderLen       = 5
	maxRecordPayload      = 1 << 14 // TLSPlaintext.length bound (RFC 8446 5.1)
	maxClientHelloRecords = 32      // more fragments than any real client sends
	extServerName         = 0
	extALPN               = 16
)

// Stats are Envoy's tls_inspector counters (plus client_hello_malformed).
type Stats struct {
	TLSFound             atomic.Uint64
	TLSNotFound          atomic.Uint64
	SNIFound             atomic.Uint64
	SNINotFound          atomic.Uint64
	ALPNFound            atomic.Uint64
	ALPNNotFound         atomic.Uint64
	ClientHelloTooLarge  atomic.Uint64
	ClientHelloMalformed atomic.Uint64
}

// Each calls fn for every counter, with its stat name.
func (s *Stats) Each(fn func(name string, v uint64)) {
	fn("tls_found", s.TLSFound.Load())
	fn("tls_not_found", s.TLSNotFound.Load())
	fn("sni_found", s.SNIFound.Load())
	fn("sni_not_found", s.SNINotFound.Load())
	fn("alpn_found", s.ALPNFound.Load())
	fn("alpn_not_found", s.ALPNNotFound.Load())
	fn("client_hello_too_large", s.ClientHelloTooLarge.Load())
	fn("client_hello_malformed", s.ClientHelloMalformed.Load())
}

// Inspector is one configured tls_inspector.
type Inspector struct {
	maxSize int
	Stats   Stats
}

// New makes an inspector that waits for a ClientHello of at most
// maxClientHello bytes (the handshake message, header included).
func New(maxClientHello int) *Inspector { return &Inspector{maxSize: maxClientHello} }

var _ listener.Filter = (*Inspector)(nil)

// Inspect implements listener.Filter.
func (f *Inspector) Inspect(in []byte, eof bool, ins *listener.Inspection) (listener.FilterStatus, int) {
	msg, st := f.clientHello(in)
	switch st {
	case notTLS:
		f.Stats.TLSNotFound.Add(1)
		return listener.Done, 0
	case needMore:
		return listener.NeedMoreData, 0
	case tooLarge:
		f.Stats.ClientHelloTooLarge.Add(1)
		return listener.Reject, 0
	case malformed:
		f.Stats.ClientHelloMalformed.Add(1)
		return listener.Reject, 0
	}
	sni, alpn, ok := parseClientHello(msg)
	if !ok {
		f.Stats.ClientHelloMalformed.Add(1)
		return listener.Reject, 0
	}
	f.Stats.TLSFound.Add(1)
	ins.TransportProtocol = "tls"
	ins.ServerName = sni
	ins.ALPN = alpn
	if sni != "" {
		f.Stats.SNIFound.Add(1)
	} else {
		f.Stats.SNINotFound.Add(1)
	}
	if len(alpn) > 0 {
		f.Stats.ALPNFound.Add(1)
	} else {
		f.Stats.ALPNNotFound.Add(1)
	}
	return listener.Done, 0
}

type helloStatus uint8

const (
	complete helloStatus = iota
	notTLS
	needMore
	tooLarge
	malformed
)

// clientHello finds the ClientHello message (without its 4-byte header)
// in the handshake records at the start of in. It looks at record headers
// only until the whole message is there; a message spread over several
// records is joined into a fresh slice.
func (f *Inspector) clientHello(in []byte) ([]byte, helloStatus) {
	if len(in) == 0 {
		return nil, needMore
	}
	if in[0] != recordTypeHandshake {
		return nil, notTLS
	}
	if len(in) >= 2 && in[1] != 3 { // record version major: 3 for every TLS
		return nil, notTLS
	}
	// Walk the records, counting the handshake bytes available.
	have, msgLen := 0, -1
	off := 0
	for records := 0; ; records++ {
		if records == maxClientHelloRecords {
			return nil, malformed
		}
		if len(in)-off < recordHeaderLen {
			return nil, needMore
		}
		h := in[off : off+recordHeaderLen]
		if h[0] != recordTypeHandshake || h[1] != 3 {
			return nil, malformed // the message must be in consecutive handshake records
		}
		n := int(h[3])<<8 | int(h[4])
		if n == 0 || n > maxRecordPayload {
			return nil, malformed
		}
		avail := min(n, len(in)-off-recordHeaderLen)
		have += avail
		if msgLen < 0 && have >= 4 {
			hs := handshakeHeader(in)
			if hs[0] != handshakeClientHello {
				return nil, malformed
			}
			msgLen = int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3])
			if 4+msgLen > f.maxSize {
				return nil, tooLarge
			}
		}
		if msgLen >= 0 && have >= 4+msgLen {
			return f.join(in, 4+msgLen)[4:], complete
		}
		if avail < n {
			return nil, needMore
		}
		off += recordHeaderLen + n
	}
}

// handshakeHeader returns the first 4 handshake bytes (they may straddle
// records; the caller checked that they are there).
func handshakeHeader(in []byte) [4]byte {
	var out [4]byte
	got := 0
	for off := 0; got < 4; {
		n := int(in[off+3])<<8 | int(in[off+4])
		data := in[off+recordHeaderLen:]
		data = data[:min(n, len(data))]
		got += copy(out[got:], data)
		off += recordHeaderLen + n
	}
	return out
}

// join returns the first size handshake bytes: a view when they sit in
// the first record, a copy otherwise.
func (f *Inspector) join(in []byte, size int) []byte {
	first := int(in[3])<<8 | int(in[4])
	if first >= size {
		return in[recordHeaderLen : recordHeaderLen+size]
	}
	out := make([]byte, 0, size)
	for off := 0; len(out) < size; {
		n := int(in[off+3])<<8 | int(in[off+4])
		data := in[off+recordHeaderLen : off+recordHeaderLen+n]
		out = append(out, data[:min(len(data), size-len(out))]...)
		off += recordHeaderLen + n
	}
	return out
}

// reader reads a ClientHello body; any overrun sets bad.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n > len(r.b) {
		r.bad = true
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) u8() int {
	b := r.bytes(1)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *reader) u16() int {
	b := r.bytes(2)
	if b == nil {
		return 0
	}
	return int(b[0])<<8 | int(b[1])
}

// vec reads a vector with an n-byte length prefix.
func (r *reader) vec(n int) reader {
	var l int
	if n == 1 {
		l = r.u8()
	} else {
		l = r.u16()
	}
	return reader{b: r.bytes(l), bad: r.bad}
}

// parseClientHello extracts SNI (host_name, lower case) and ALPN from a
// ClientHello body (RFC 8446 4.1.2, RFC 6066 3, RFC 7301 3.1).
func parseClientHello(b []byte) (sni string, alpn []string, ok bool) {
	r := reader{b: b}
	r.bytes(2 + 32) // legacy_version, random
	if sid := r.vec(1); len(sid.b) > 32 {
		return "", nil, false
	}
	if suites := r.vec(2); len(suites.b) == 0 || len(suites.b)%2 != 0 {
		return "", nil, false
	}
	if comp := r.vec(1); len(comp.b) == 0 {
		return "", nil, false
	}
	if r.bad {
		return "", nil, false
	}
	if len(r.b) == 0 {
		return "", nil, true // no extensions (old clients)
	}
	exts := r.vec(2)
	if r.bad || len(r.b) != 0 {
		return "", nil, false
	}
	seenSNI, seenALPN := false, false
	for len(exts.b) > 0 {
		typ := exts.u16()
		data := exts.vec(2)
		if exts.bad || data.bad {
			return "", nil, false
		}
		switch typ {
		case extServerName:
			if seenSNI {
				return "", nil, false
			}
			seenSNI = true
			if sni, ok = parseSNI(data); !ok {
				return "", nil, false
			}
		case extALPN:
			if seenALPN {
				return "", nil, false
			}
			seenALPN = true
			if alpn, ok = parseALPN(data); !ok {
				return "", nil, false
			}
		}
	}
	return sni, alpn, true
}

func parseSNI(r reader) (string, bool) {
	list := r.vec(2)
	if r.bad || list.bad || len(r.b) != 0 || len(list.b) == 0 {
		return "", false
	}
	var name string
	for len(list.b) > 0 {
		typ := list.u8()
		host := list.vec(2)
		if list.bad || host.bad {
			return "", false
		}
		if typ != 0 || name != "" {
			continue // only the first host_name counts
		}
		if len(host.b) == 0 || len(host.b) > 255 {
			return "", false
		}
		for _, c := range host.b {
			if c <= ' ' || c >= 0x7f {
				return "", false
			}
		}
		name = strings.ToLower(string(host.b))
	}
	return name, true
}

func parseALPN(r reader) ([]string, bool) {
	list := r.vec(2)
	if r.bad || list.bad || len(r.b) != 0 || len(list.b) == 0 {
		return nil, false
	}
	var out []string
	for len(list.b) > 0 {
		p := list.vec(1)
		if list.bad || p.bad || len(p.b) == 0 {
			return nil, false
		}
		out = append(out, string(p.b))
	}
	return out, true
}
