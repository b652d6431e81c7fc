package http1

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// FuzzServerCodec runs the downstream HTTP/1 codec over arbitrary bytes,
// delivered in pieces whose sizes the fuzzer picks, with a connection
// manager whose answers it also picks: at the end of the request or before
// it (early), chunked with trailers, 204, a reset, paused reading, answers
// from "upstream" callbacks outside Dispatch, and output backpressure.
// Whatever the input:
//
//   - nothing panics, Dispatch consumes no more than it is given, and a
//     connection always ends (no livelock);
//   - the requests the streams see are, in order, a prefix of what a
//     fresh Parser reads from the whole input in one piece (same methods,
//     and the same body when a stream got its whole body), and an error
//     the codec reports is the parser's error for that same message: the
//     pieces, pipelining, pauses and discarded bodies change nothing;
//   - the output is a sequence of well-formed HTTP/1.1 responses that
//     net/http reads back as exactly what the manager sent (statuses and
//     bodies; none for HEAD, 204 and 304), interim 100s aside;
//   - stream callbacks keep their contract, and when the connection ends
//     every stream was answered or reset.
func FuzzServerCodec(f *testing.F) {
	for _, s := range []struct{ in, picks string }{
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\x00"},
		{"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /2 HTTP/1.1\r\nHost: a\r\n\r\n", "\x01\x10\x02"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: 1\r\n\r\nHEAD / HTTP/1.1\r\nHost: a\r\n\r\n", "\x02\x25\x04"},
		{"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", "\x04\x03"},
		{"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", "\x12"},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "\x01"},
		{"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "\x83\x85\x03"},
	} {
		f.Add([]byte(s.in), []byte(s.picks))
	}
	f.Fuzz(func(t *testing.T, data, picks []byte) {
		runServerCodec(t, data, picks)
	})
}

// refMessage is what a fresh parser read for one request.
type refMessage struct {
	method string
	body   []byte
	err    *Error
}

// referenceRequests parses data in one piece, message after message.
func referenceRequests(data []byte) []refMessage {
	var p Parser
	p.Init(Request, DefaultLimits())
	var out []refMessage
	var cur *refMessage
	for {
		ev, n, err := p.Next(data)
		if err != nil {
			if cur == nil {
				out = append(out, refMessage{})
				cur = &out[len(out)-1]
			}
			e, _ := err.(*Error)
			cur.err = e
			return out
		}
		data = data[n:]
		switch ev {
		case EventNeedMore:
			return out
		case EventHead:
			out = append(out, refMessage{method: string(p.Head().Method)})
			cur = &out[len(out)-1]
		case EventBody:
			cur.body = append(cur.body, p.Body()...)
		case EventEnd:
			cur = nil
		}
	}
}

// srvTransport is the connection as the codec sees it.
type srvTransport struct {
	t         *testing.T
	out       bytes.Buffer
	buffered  int
	above     bool
	readOff   int
	redeliver bool
	closing   bool
	inputDone bool
}

func (s *srvTransport) ID() uint64               { return 1 }
func (s *srvTransport) Worker() *worker.Worker   { return nil }
func (s *srvTransport) Write(p []byte)           { s.out.Write(p) }
func (s *srvTransport) Pending() int             { return 0 }
func (s *srvTransport) AboveHighWatermark() bool { return s.above }
func (s *srvTransport) BufferedInput() int       { return s.buffered }
func (s *srvTransport) Redeliver()               { s.redeliver = true }
func (s *srvTransport) CloseAfterFlush()         { s.closing = true }
func (s *srvTransport) InputDone()               { s.inputDone = true }
func (s *srvTransport) ReadDisable(disable bool) {
	if disable {
		s.readOff++
		return
	}
	if s.readOff == 0 {
		s.t.Fatalf("ReadDisable(false) without a ReadDisable(true)")
	}
	s.readOff--
	if s.readOff == 0 {
		s.redeliver = true // the socket has data again, as far as we know
	}
}

// expectedResponse is one response the output must hold, in order.
type expectedResponse struct {
	status   int
	head     bool
	body     []byte
	complete bool
}

// srvApp is the connection manager.
type srvApp struct {
	t       *testing.T
	picks   []byte
	streams []*srvStream
	posted  []func()
	expect  []*expectedResponse
	errs    map[int]string // message index -> reason the codec reported
}

type srvStream struct {
	app         *srvApp
	idx         int
	enc         codec.ResponseEncoder
	mode        byte
	method      string
	body        []byte
	reqEnded    bool
	reset       bool
	respEnded   bool
	respStarted bool
	paused      bool
}

func (a *srvApp) pick(i int) byte {
	if len(a.picks) == 0 {
		return 0
	}
	return a.picks[i%len(a.picks)]
}

func (a *srvApp) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	s := &srvStream{app: a, idx: len(a.streams), enc: enc, mode: a.pick(len(a.streams))}
	a.streams = append(a.streams, s)
	return s
}

func (a *srvApp) AcquireHeaders() *headers.Map { return new(headers.Map) }

func (a *srvApp) RequestRejected(status int, reason string) {
	a.errs[len(a.streams)] = reason
	a.expect = append(a.expect, &expectedResponse{status: status, body: []byte(StatusText(status)), complete: true})
}

func (a *srvApp) FailStream(dec codec.RequestDecoder, status int, reason string) bool {
	s := dec.(*srvStream)
	a.errs[s.idx] = reason
	if s.respStarted || s.reset {
		return false
	}
	s.reqEnded = true // the codec is done with the request
	s.respond(status, []byte("bad body"), false)
	return true
}

func (a *srvApp) RequestBodyDiscarded(status int, reason string) {
	if status != 0 {
		a.errs[len(a.streams)-1] = reason
	}
}

func (s *srvStream) live(what string) {
	if s.reset || s.respEnded || s.reqEnded {
		s.app.t.Fatalf("%s after the stream ended (reset %v, response ended %v, request ended %v)", what, s.reset, s.respEnded, s.reqEnded)
	}
}

// The mode's low bits pick the answer, 0x10 answers from a posted
// callback rather than inside Dispatch, 0x20 adds trailers, 0x40/0x80
// toggle output backpressure.
func (s *srvStream) DecodeHeaders(h *headers.Map, end bool) {
	s.live("DecodeHeaders")
	s.method = string(h.Method())
	s.reqEnded = end
	switch s.mode % 7 {
	case 1: // early answer, before the body
		s.later(func() { s.respond(200, []byte("early"), false) })
	case 3:
		s.later(func() {
			if !s.respEnded && !s.reset {
				s.reset = true
				s.enc.Reset()
			}
		})
	case 4: // pause the request body for a while
		s.paused = true
		s.enc.ReadDisable(true)
		s.app.posted = append(s.app.posted, func() {
			if s.paused && !s.reset && !s.respEnded {
				s.paused = false
				s.enc.ReadDisable(false)
			}
		})
	}
	if end {
		s.requestDone()
	}
}

func (s *srvStream) DecodeData(p []byte, end bool) {
	s.live("DecodeData")
	s.body = append(s.body, p...)
	s.reqEnded = end
	if end {
		s.requestDone()
	}
}

func (s *srvStream) DecodeTrailers(*headers.Map) {
	s.live("DecodeTrailers")
	s.reqEnded = true
	s.requestDone()
}

func (s *srvStream) OnReset(codec.ResetReason) {
	if s.reset || s.respEnded {
		s.app.t.Fatalf("OnReset after the stream ended")
	}
	s.reset = true
}

func (s *srvStream) later(fn func()) {
	if s.mode&0x10 != 0 {
		s.app.posted = append(s.app.posted, fn)
		return
	}
	fn()
}

func (s *srvStream) requestDone() {
	switch s.mode % 7 {
	case 0, 4:
		s.later(func() { s.respond(200, []byte("hello"), false) })
	case 2:
		s.later(func() { s.respond(200, []byte("chunked body"), true) })
	case 5:
		s.later(func() { s.respond(204, nil, false) })
	case 6:
		s.later(func() { s.respond(200, bytes.Repeat([]byte("x"), 3000), false) })
	}
}

// respond sends a response: with a Content-Length, or (chunked) without
// one in two pieces, with trailers when the mode says so.
func (s *srvStream) respond(status int, body []byte, chunked bool) {
	if s.respStarted || s.reset {
		return
	}
	s.respStarted = true
	exp := &expectedResponse{status: status, head: s.method == "HEAD", body: body}
	if exp.head || status == 204 || status == 304 {
		exp.body = nil
	}
	s.app.expect = append(s.app.expect, exp)
	var h headers.Map
	h.SetStatus(status)
	if !chunked && body != nil {
		h.SetString("content-length", strconv.Itoa(len(body)))
	}
	s.enc.EncodeHeaders(&h, len(body) == 0)
	if len(body) > 0 && !s.reset {
		half := len(body) / 2
		s.enc.EncodeData(body[:half], false)
		if s.mode&0x20 != 0 && chunked {
			s.enc.EncodeData(body[half:], false)
			var tr headers.Map
			tr.SetString("x-trailer", "1")
			if !s.reset {
				s.enc.EncodeTrailers(&tr)
			}
		} else if !s.reset {
			s.enc.EncodeData(body[half:], true)
		}
	}
	if !s.reset {
		s.respEnded = true
		exp.complete = true
	}
}

func runServerCodec(t *testing.T, data, picks []byte) {
	ft := &srvTransport{t: t}
	app := &srvApp{t: t, picks: picks, errs: map[int]string{}}
	c := NewServerCodec(ft, app, ServerOptions{Limits: DefaultLimits()})
	var buf []byte
	pos, step := 0, 0
	eof, closed := false, false
	dispatch := func(end bool) {
		ft.buffered = len(buf)
		if len(buf) > 0 {
			n, err := c.Dispatch(buf)
			if n > len(buf) {
				t.Fatalf("consumed %d of %d", n, len(buf))
			}
			buf = buf[n:]
			ft.buffered = len(buf)
			if err != nil {
				closed = true
				return
			}
		}
		if end {
			c.ReadEOF()
		}
	}
	for iter := 0; !closed; iter++ {
		if iter > 10*len(data)+1000 {
			t.Fatalf("the connection never ends")
		}
		p := app.pick(step)
		step++
		if p&0x40 != 0 && pos < len(data) {
			// Backpressure comes and goes while the client sends; once it
			// is done the output drains for good (else this would loop).
			ft.above = !ft.above
			if !ft.above {
				c.OnWritable()
			}
		}
		if len(app.posted) > 0 {
			fn := app.posted[0]
			app.posted = app.posted[1:]
			fn()
		}
		switch {
		case ft.redeliver || ft.readOff == 0 && pos < len(data):
			// What is buffered is dispatched again, with whatever else
			// arrived meanwhile when reading is on.
			ft.redeliver = false
			if ft.readOff == 0 && pos < len(data) {
				n := min(int(p%32)+1, len(data)-pos)
				buf = append(buf, data[pos:pos+n]...)
				pos += n
			}
			dispatch(false)
		case ft.readOff == 0 && !eof:
			eof = true
			dispatch(true)
		case len(app.posted) == 0 && ft.above:
			ft.above = false
			c.OnWritable()
		case len(app.posted) == 0:
			closed = true // nothing more will happen: the peer hangs up
		}
		if ft.closing || c.WantsClose() && c.ActiveStreams() == 0 && len(app.posted) == 0 {
			closed = true
		}
	}
	c.OnConnectionClose()
	for _, s := range app.streams {
		if !s.respEnded && !s.reset {
			t.Fatalf("stream %d (%s) neither answered nor reset", s.idx, s.method)
		}
	}
	checkAgainstReference(t, data, app)
	checkResponses(t, ft.out.Bytes(), app.expect)
}

func checkAgainstReference(t *testing.T, data []byte, app *srvApp) {
	ref := referenceRequests(data)
	for _, s := range app.streams {
		if s.idx >= len(ref) || ref[s.idx].method != s.method {
			t.Fatalf("stream %d is %q; the parser read %+v", s.idx, s.method, ref)
		}
		if s.reqEnded && app.errs[s.idx] == "" && !bytes.Equal(s.body, ref[s.idx].body) {
			t.Fatalf("stream %d body %q; the parser read %q", s.idx, s.body, ref[s.idx].body)
		}
	}
	for i, reason := range app.errs {
		if i >= len(ref) || ref[i].err == nil || ref[i].err.Reason != reason {
			t.Fatalf("codec reported %s for message %d; the parser read %+v", reason, i, ref)
		}
	}
}

func checkResponses(t *testing.T, out []byte, expect []*expectedResponse) {
	br := bufio.NewReader(bytes.NewReader(out))
	for i, e := range expect {
		if !e.complete {
			return // reset mid-way: the client sees a truncated response
		}
		method := "GET"
		if e.head {
			method = "HEAD"
		}
		var resp *http.Response
		var err error
		for {
			resp, err = http.ReadResponse(br, &http.Request{Method: method})
			if err != nil || resp.StatusCode >= 200 {
				break
			}
		}
		if err != nil {
			t.Fatalf("response %d: %v\noutput:\n%q", i, err, out)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v\noutput:\n%q", i, err, out)
		}
		if resp.StatusCode != e.status || !bytes.Equal(body, e.body) {
			t.Fatalf("response %d: %d %q, want %d %q\noutput:\n%q", i, resp.StatusCode, body, e.status, e.body, out)
		}
	}
	// Only interim responses may follow (a 100 Continue for a request
	// that was then reset).
	for {
		if _, err := br.Peek(1); err != nil {
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode >= 200 {
			rest, _ := io.ReadAll(br)
			t.Fatalf("unexpected output after the last response (%v): %q", err, rest)
		}
	}
}
