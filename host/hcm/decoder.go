package hcm

import (
	"bytes"
	"math/rand/v2"
	"net/netip"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/router"
)

// The stream is the codec's RequestDecoder.
var _ codec.RequestDecoder = (*stream)(nil)

func (s *stream) DecodeHeaders(h *headers.Map, end bool) {
	if s.ended {
		s.conn.releaseRequestHeaders(h)
		return
	}
	s.reqHeaders = h
	s.requestDone = end
	s.armIdle()
	if st := s.conn.overload; st != nil {
		if st.DisableKeepalive {
			s.conn.disableKeepalive()
		}
		if s.shed {
			s.shedOverloaded()
			return
		}
	}
	askedToSwitch := s.noteUpgrade(h) // before hop-by-hop removal takes Upgrade
	s.mutateRequestHeaders(h)
	if s.cfg.RequestTimeout > 0 && !end {
		// Envoy's request_timeout: time to receive the whole request.
		if s.onReqTimeout == nil {
			s.onReqTimeout = s.requestTimeout
		}
		s.reqTimer.arm(s.conn.w, s.cfg.RequestTimeout, s.onReqTimeout)
	}
	// The route timeout runs from the request head, so a stream that a
	// filter stopped and never resumed also ends, with a 504.
	s.durationDeadline = false
	if r := s.selectRoute(); r != nil && r.Direct == nil {
		d := r.Deadline(h, isGRPC(h))
		if d.SetGRPC {
			// The upstream learns the deadline sluice enforces.
			var b [16]byte
			h.Set("grpc-timeout", router.AppendGRPCTimeout(b[:0], d.GRPCTimeout))
		}
		s.durationDeadline = d.Duration
		if d.After > 0 {
			s.timer.arm(s.conn.w, d.After, s.routeTimeoutFn())
		}
	}
	if askedToSwitch {
		s.decideUpgrade(h, end)
	}
	s.enter()
	s.onHeaders(&s.reqWalk, end)
	s.leave()
}

// shedOverloaded answers 503 without running a filter (Envoy's
// stop_accepting_requests): gRPC requests get UNAVAILABLE through the
// usual mapping of sluice's own replies.
func (s *stream) shedOverloaded() {
	s.info.Flags |= FlagOverloadManager
	s.cfg.Stats.DownstreamRqOverloadClose.Add(1)
	s.enter()
	s.sendLocalReply(0, 503, nil, overloadedBody, "overload")
	s.leave()
}

var overloadedBody = []byte("overloaded\n")

func (s *stream) DecodeData(p []byte, end bool) {
	if s.ended || s.reqWalk.sinkDone {
		return
	}
	s.info.BytesIn += int64(len(p))
	s.touch()
	if end {
		s.requestDone = true
		s.reqTimer.stop()
	}
	s.enter()
	s.onData(&s.reqWalk, p, end)
	s.leave()
}

func (s *stream) DecodeTrailers(t *headers.Map) {
	if s.ended || s.reqWalk.sinkDone {
		s.conn.releaseRequestHeaders(t)
		return
	}
	s.requestDone = true
	s.reqTimer.stop()
	s.reqTrailers = t
	s.enter()
	s.onTrailers(&s.reqWalk, t)
	s.leave()
}

func (s *stream) OnReset(reason codec.ResetReason) { s.onCodecReset(reason) }

// requestTimeout fires when the request was not fully received within the
// connection manager's request_timeout.
func (s *stream) requestTimeout() {
	if s.ended {
		return
	}
	s.cfg.Stats.DownstreamRqTimeout.Add(1)
	s.info.Flags |= FlagDurationTimeout
	s.sendLocalReply(len(s.filters)-1, 408, nil, []byte("request timeout"), "request_overall_timeout")
}

// hopByHop are the headers that describe one connection, not the message;
// a proxy never forwards them (RFC 9110 7.6.1).
var hopByHop = [...]string{"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "proxy-authenticate"}

// stripHopByHop removes the hop-by-hop headers, including every header
// named by Connection however many there are. The Connection values are
// copied into scratch first (bounded by the header size limits): deleting
// while walking the map would disturb the walk. scratch is reused across
// calls so the copy does not allocate.
func stripHopByHop(h *headers.Map, scratch *[]byte) {
	list := h.AppendList((*scratch)[:0], "connection")
	*scratch = list
	for len(list) > 0 {
		tok := list
		if i := bytes.IndexByte(list, ','); i >= 0 {
			tok, list = list[:i], list[i+1:]
		} else {
			list = nil
		}
		if tok = headers.TrimOWS(tok); len(tok) > 0 && !headers.TokenIs(tok, "close") && !headers.TokenIs(tok, "keep-alive") {
			h.DelBytes(tok)
		}
	}
	for _, name := range hopByHop {
		h.Del(name)
	}
}

// mutateRequestHeaders applies Envoy's edge header handling before any
// filter runs: hop-by-hop removal, x-forwarded-for/-proto, x-request-id and
// via.
func (s *stream) mutateRequestHeaders(h *headers.Map) {
	cfg := s.cfg
	if te, ok := h.Get("te"); ok && !headers.TokenIs(te, "trailers") {
		h.Del("te")
	}
	stripHopByHop(h, &s.conn.hopScratch)
	src := s.info.Source.Addr()
	// The client as the request arrived, before our own address is
	// appended: the whole x-forwarded-for is walked (it is bounded by the
	// header limits), so padding cannot push a forged hop into view.
	var client netip.Addr
	if cfg.GenerateRequestID && cfg.UseRemoteAddress {
		xff, _ := h.Get("x-forwarded-for")
		client = trustedClient(xff, src, cfg.XFFNumTrustedHops)
	}
	if cfg.UseRemoteAddress {
		if !cfg.SkipXFFAppend {
			appendXFF(h, src)
		}
		h.Set("x-forwarded-proto", h.Scheme())
	} else if !h.Has("x-forwarded-proto") {
		h.Set("x-forwarded-proto", h.Scheme())
	}
	if cfg.GenerateRequestID {
		_, has := h.Get("x-request-id")
		external := cfg.UseRemoteAddress && !isInternal(client)
		if !has || (external && !cfg.PreserveExternalRequestID) {
			var id [36]byte
			h.Set("x-request-id", newUUID(&id))
		}
	}
	if v, ok := h.Get("x-request-id"); ok {
		s.info.RequestID.set(v)
	}
	if cfg.Via != "" {
		appendVia(h, cfg.Via)
	}
}

// prepareResponseHeaders runs just before response headers go to the codec.
func (cn *connection) prepareResponseHeaders(s *stream, h *headers.Map) {
	stripHopByHop(h, &cn.hopScratch)
	if r := s.route; r != nil && s.routeValid {
		r.ApplyResponseHeaders(h)
	}
	if cn.cfg.ServerName != "" {
		h.SetString("server", cn.cfg.ServerName)
	}
	if cn.cfg.Via != "" {
		appendVia(h, cn.cfg.Via)
	}
}

func appendXFF(h *headers.Map, src netip.Addr) {
	var buf [64]byte
	appendListValue(h, "x-forwarded-for", src.Unmap().AppendTo(buf[:0]))
}

func appendVia(h *headers.Map, via string) { appendListValue(h, "via", via) }

// appendListValue adds v to a comma-separated header, creating it when
// absent, without allocating.
func appendListValue[V string | []byte](h *headers.Map, name string, v V) {
	var joined [512]byte
	out := joined[:0]
	if old, ok := h.Get(name); ok && len(old) > 0 {
		out = append(append(out, old...), ", "...)
	}
	h.Set(name, append(out, v...))
}

// isInternal is Envoy's notion of an internal request source: loopback and
// private ranges.
func isInternal(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast()
}

const hexDigits = "0123456789abcdef"

// newUUID writes a random version 4 UUID into dst without allocating.
func newUUID(dst *[36]byte) []byte {
	hi, lo := rand.Uint64(), rand.Uint64()
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	var raw [16]byte
	for i := 0; i < 8; i++ {
		raw[i] = byte(hi >> (56 - 8*i))
		raw[8+i] = byte(lo >> (56 - 8*i))
	}
	j := 0
	for i, b := range raw {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j] = hexDigits[b>>4]
		dst[j+1] = hexDigits[b&0xf]
		j += 2
	}
	return dst[:]
}

// trustedClient is the address Envoy trusts as the client: the peer itself,
// or with xff_num_trusted_hops = N, the Nth address from the right of the
// x-forwarded-for the request arrived with (when it has that many and it
// parses).
func trustedClient(xff []byte, peer netip.Addr, hops int) netip.Addr {
	if hops <= 0 || len(xff) == 0 {
		return peer
	}
	end := len(xff)
	for n := 1; ; n++ {
		start := end - 1
		for start >= 0 && xff[start] != ',' {
			start--
		}
		if n == hops {
			a, err := netip.ParseAddr(string(headers.TrimOWS(xff[start+1 : end])))
			if err != nil {
				return peer
			}
			return a
		}
		if start < 0 {
			return peer
		}
		end = start
	}
}
