package http2

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// FuzzFrames drives one server connection with a program decoded from the
// fuzz input: client frames (valid, illegal and malformed ones, on a small
// set of stream ids so they collide), the application's answers (respond,
// trailers, reset, pause reading), backpressure and the clock. Each client
// frame is dispatched on its own and the server's output read back with a
// client framer, which is what makes the checks exact:
//
//   - nothing panics, and Dispatch consumes no more than it was given;
//   - everything the server writes parses as HTTP/2 frames whose header
//     blocks decode under the table size the client advertised;
//   - the server sends DATA only within the client's connection and stream
//     windows and its SETTINGS_MAX_FRAME_SIZE, and nothing on a stream
//     after it ended or reset it;
//   - a GOAWAY with an error code comes with an error from Dispatch, and
//     nothing but GOAWAY-era output follows it;
//   - the stream callbacks keep their contract (no data after the end of
//     the request or after OnReset; OnReset at most once), no more streams
//     are open than MaxConcurrentStreams, and once the connection closes
//     every stream has either finished both ways or been reset.
func FuzzFrames(f *testing.F) {
	// op, then arguments; see frameProgram.step for the encoding.
	f.Add([]byte{0, 0, 3, 1, 0, 4, 0, 10, 20, 0, 0})                        // GET, respond with body
	f.Add([]byte{0, 1, 0, 1, 1, 0, 7, 1, 0, 2, 5, 10, 0, 40, 0, 0, 200})    // POST, body, window updates
	f.Add([]byte{4, 1, 4, 0, 0, 0, 1, 0, 0, 3, 10, 0, 200, 9, 0, 1, 5, 0})  // tiny initial window, big answer
	f.Add([]byte{0, 0, 2, 2, 0, 30, 1, 11, 0, 3, 0, 0, 12, 5})              // split header block, reset, clock
	f.Add([]byte{0, 0, 1, 3, 0, 8, 0, 6, 0, 8, 1, 8, 2, 13, 1, 10, 0, 100}) // resets and backpressure
	f.Add([]byte{9, 1, 2, 3, 14, 0, 5, 0, 1, 0})                            // raw garbage frame, push promise
	f.Fuzz(func(t *testing.T, prog []byte) {
		p := newFrameProgram(t)
		for len(prog) > 0 && !p.dead {
			prog = p.step(prog)
		}
		p.finish()
	})
}

// frameProgram is one fuzzed connection: the codec under test, the client
// that talks to it and the client's model of what the server may send.
type frameProgram struct {
	t    *testing.T
	ft   *fakeTransport
	c    *ServerCodec
	app  *progApp
	opts Options

	wbuf  bytes.Buffer
	cfr   *http2.Framer // writes client frames, illegal ones included
	henc  *hpack.Encoder
	hbuf  bytes.Buffer
	rd    *http2.Framer // reads the server's output
	rdDec *hpack.Decoder

	// The client's view of flow control toward it.
	connWindow int64
	initWindow int64
	streamWin  map[uint32]int64 // updates minus data, on top of initWindow
	maxFrame   uint32
	// ended: the server sent END_STREAM (after which it may still reset
	// the stream or open its window for the rest of the request) or
	// RST_STREAM (after which it sends nothing on it).
	ended   map[uint32]endedBy
	goAway  bool // server sent GOAWAY with an error code
	dead    bool // Dispatch returned an error
	lastErr error
}

func newFrameProgram(t *testing.T) *frameProgram {
	p := &frameProgram{
		t:          t,
		ft:         &fakeTransport{now: time.Unix(1000, 0)},
		opts:       Options{MaxConcurrentStreams: 3, StreamBufferLimit: 8 << 10, ConnectionBufferLimit: 16 << 10, MaxResetsPerInterval: 20},
		connWindow: protocolDefaultWindow,
		initWindow: protocolDefaultWindow,
		streamWin:  map[uint32]int64{},
		maxFrame:   minMaxFrameSize,
		ended:      map[uint32]endedBy{},
	}
	p.app = &progApp{t: t}
	p.c = newServerCodec(p.ft, p.app, p.opts, nil)
	p.cfr = http2.NewFramer(&p.wbuf, nil)
	p.cfr.AllowIllegalWrites = true
	p.henc = hpack.NewEncoder(&p.hbuf)
	p.rd = http2.NewFramer(io.Discard, &p.ft.out)
	p.rd.SetMaxReadFrameSize(maxMaxFrameSize)
	p.rdDec = hpack.NewDecoder(4096, nil)
	p.rd.ReadMetaHeaders = p.rdDec
	p.rd.MaxHeaderListSize = 1 << 24
	p.wbuf.WriteString(ClientPreface)
	_ = p.cfr.WriteSettings()
	p.send()
	return p
}

// arg reads one argument byte (0 once the program ran out).
func arg(prog *[]byte) byte {
	if len(*prog) == 0 {
		return 0
	}
	b := (*prog)[0]
	*prog = (*prog)[1:]
	return b
}

// streamID maps a byte to one of a few client stream ids (and sometimes
// an even or zero id), so frames land on the same streams.
func streamID(b byte) uint32 {
	switch b % 8 {
	case 6:
		return 0
	case 7:
		return 2
	default:
		return uint32(b%8)*2 + 1
	}
}

// step runs one operation and returns the rest of the program.
func (p *frameProgram) step(prog []byte) []byte {
	op := arg(&prog)
	switch op % 15 {
	case 0: // HEADERS with a request: id, flags (end stream, end headers, GET/POST)
		id, fl := streamID(arg(&prog)), arg(&prog)
		method := "GET"
		if fl&4 != 0 {
			method = "POST"
		}
		blk := p.encode(":method", method, ":scheme", "http", ":authority", "a.example", ":path", "/p")
		if fl&8 != 0 {
			blk = p.encode("x-trailer", "v") // trailers, or a malformed request
		}
		_ = p.cfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: fl&1 != 0, EndHeaders: fl&2 == 0, Priority: http2.PriorityParam{StreamDep: uint32(fl >> 4)}})
	case 1: // DATA: id, flags, length/16
		id, fl, n := streamID(arg(&prog)), arg(&prog), int(arg(&prog))*16
		if fl&2 != 0 {
			_ = p.cfr.WriteDataPadded(id, fl&1 != 0, make([]byte, n), make([]byte, fl>>2))
		} else {
			_ = p.cfr.WriteData(id, fl&1 != 0, make([]byte, n))
		}
	case 2: // CONTINUATION: id, end headers, fragment length
		id, end, n := streamID(arg(&prog)), arg(&prog), int(arg(&prog))
		frag := p.encode("x-cont", string(make([]byte, n%64)))
		_ = p.cfr.WriteContinuation(id, end&1 != 0, frag)
	case 3: // RST_STREAM: id, code
		_ = p.cfr.WriteRSTStream(streamID(arg(&prog)), http2.ErrCode(arg(&prog)%16))
	case 4: // SETTINGS: id, value (4 bytes), or ACK
		id := http2.SettingID(arg(&prog) % 8)
		v := binary.BigEndian.Uint32([]byte{arg(&prog), arg(&prog), arg(&prog), arg(&prog)})
		if id == 0 {
			_ = p.cfr.WriteSettingsAck()
		} else {
			_ = p.cfr.WriteSettings(http2.Setting{ID: id, Val: v})
			p.clientSetting(id, v)
		}
	case 5: // WINDOW_UPDATE: id, increment (2 bytes, scaled)
		id := streamID(arg(&prog))
		inc := uint32(arg(&prog))<<8 | uint32(arg(&prog))
		inc *= 16
		_ = p.cfr.WriteWindowUpdate(id, inc)
		p.windowUpdate(id, inc)
	case 6: // PING, or a PING ACK
		_ = p.cfr.WritePing(arg(&prog)&1 != 0, [8]byte{op})
	case 7: // PRIORITY: id, dependency
		id := streamID(arg(&prog))
		_ = p.cfr.WritePriority(id, http2.PriorityParam{StreamDep: streamID(arg(&prog)), Weight: 3})
	case 8: // GOAWAY from the client
		_ = p.cfr.WriteGoAway(streamID(arg(&prog)), http2.ErrCode(arg(&prog)%14), nil)
	case 9: // any frame header with a payload of its own length
		typ, fl, id, n := arg(&prog), arg(&prog), streamID(arg(&prog)), int(arg(&prog))
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = arg(&prog)
		}
		_ = p.cfr.WriteRawFrame(http2.FrameType(typ%12), http2.Flags(fl), id, payload)
	case 10: // the application answers stream k: body length/64, trailers
		k, n, fl := arg(&prog), int(arg(&prog))*64, arg(&prog)
		p.app.respond(int(k), n, fl&1 != 0)
	case 11: // the application resets stream k
		p.app.reset(int(arg(&prog)))
	case 12: // the clock moves (timers fire)
		p.ft.advance(time.Duration(arg(&prog)) * 200 * time.Millisecond)
		p.read()
		return prog
	case 13: // output backpressure on/off; off drains as a socket would
		p.ft.above = arg(&prog)&1 != 0
		if !p.ft.above {
			p.c.OnWritable()
		}
		p.read()
		return prog
	case 14: // the application pauses or resumes reading stream k
		k, on := arg(&prog), arg(&prog)
		p.app.readDisable(int(k), on&1 != 0)
		p.ft.runPosted()
		p.read()
		return prog
	}
	p.send()
	return prog
}

func (p *frameProgram) encode(kv ...string) []byte {
	p.hbuf.Reset()
	for i := 0; i < len(kv); i += 2 {
		_ = p.henc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return append([]byte(nil), p.hbuf.Bytes()...)
}

// clientSetting records a setting the client sent, as the server will
// apply it.
func (p *frameProgram) clientSetting(id http2.SettingID, v uint32) {
	if (http2.Setting{ID: id, Val: v}).Valid() != nil {
		return // a connection error: nothing more is sent
	}
	switch id {
	case http2.SettingInitialWindowSize:
		p.initWindow = int64(v)
	case http2.SettingMaxFrameSize:
		p.maxFrame = v
	case http2.SettingHeaderTableSize:
		// The server's encoder must announce a smaller table before using
		// it; a larger one it may ignore.
		p.rdDec.SetAllowedMaxDynamicTableSize(min(v, 4096))
	}
}

func (p *frameProgram) windowUpdate(id uint32, inc uint32) {
	if inc == 0 {
		return
	}
	if id == 0 {
		p.connWindow += int64(inc)
		return
	}
	p.streamWin[id] += int64(inc)
}

// send dispatches what the client wrote, then reads the server's answer.
func (p *frameProgram) send() {
	in := append([]byte(nil), p.wbuf.Bytes()...)
	p.wbuf.Reset()
	n, err := p.c.Dispatch(in)
	if n > len(in) {
		p.t.Fatalf("consumed %d of %d bytes", n, len(in))
	}
	if err == nil && n < len(in) {
		p.t.Fatalf("a whole frame (%d bytes) was left unconsumed (%d)", len(in), n)
	}
	p.ft.runPosted()
	if err != nil {
		p.dead = true
		p.lastErr = err
	}
	p.read()
	if got := p.c.ActiveStreams(); got > int(p.opts.MaxConcurrentStreams) {
		p.t.Fatalf("%d streams open, limit %d", got, p.opts.MaxConcurrentStreams)
	}
}

// read checks every frame the server wrote since the last read.
func (p *frameProgram) read() {
	for {
		f, err := p.rd.ReadFrame()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			p.t.Fatalf("server wrote something that is not HTTP/2: %v", err)
		}
		if p.goAway {
			p.t.Fatalf("frame %v after an error GOAWAY", f.Header())
		}
		id := f.Header().StreamID
		switch typ := f.Header().Type; {
		case id == 0:
		case p.ended[id] == byReset,
			p.ended[id] == byEndStream && typ != http2.FrameRSTStream && typ != http2.FrameWindowUpdate:
			p.t.Fatalf("%v on stream %d after the server ended or reset it", typ, id)
		}
		switch f := f.(type) {
		case *http2.DataFrame:
			n := int64(f.Length)
			if f.Length > p.maxFrame {
				p.t.Fatalf("DATA of %d bytes, client's max frame size %d", f.Length, p.maxFrame)
			}
			if n > p.connWindow || n > p.initWindow+p.streamWin[id] {
				p.t.Fatalf("DATA of %d bytes on stream %d beyond the client's windows (connection %d, stream %d)",
					n, id, p.connWindow, p.initWindow+p.streamWin[id])
			}
			p.connWindow -= n
			p.streamWin[id] -= n
			if f.StreamEnded() {
				p.ended[id] = byEndStream
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				p.ended[id] = byEndStream
			}
		case *http2.RSTStreamFrame:
			p.ended[id] = byReset
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeNo {
				p.goAway = true
				if !p.dead && p.c.fatalErr == nil {
					p.t.Fatalf("GOAWAY(%v) but the codec goes on", f.ErrCode)
				}
			}
		case *http2.PushPromiseFrame:
			p.t.Fatalf("server pushed")
		}
	}
}

// finish closes the connection and checks that every stream is accounted
// for.
func (p *frameProgram) finish() {
	p.c.OnConnectionClose()
	p.ft.runPosted()
	if p.c.ActiveStreams() != 0 {
		p.t.Fatalf("%d streams left after close", p.c.ActiveStreams())
	}
	for i, s := range p.app.streams {
		// Once the manager encoded the end of its response it is done
		// with the stream (the codec drops what the request still sends).
		if !s.resetSeen && !s.respEnded {
			p.t.Fatalf("stream %d (request ended %v) neither answered nor reset", i, s.reqEnded)
		}
	}
	if p.c.QueuedBytes() != 0 {
		p.t.Fatalf("%d bytes still queued after close", p.c.QueuedBytes())
	}
}

type endedBy uint8

const (
	notEnded endedBy = iota
	byEndStream
	byReset
)

// progApp is the application side of the program: streams answer only
// when the program says so.
type progApp struct {
	t       *testing.T
	streams []*progStream
}

type progStream struct {
	app                 *progApp
	enc                 codec.ResponseEncoder
	reqEnded, resetSeen bool
	respStarted         bool
	respEnded           bool
	paused              bool
	// releases: this stream releases its encoder once done with it, as
	// the connection manager does (every other stream never does, and
	// keeps calling its finished encoder); released: it did.
	releases, released bool
}

func (a *progApp) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	s := &progStream{app: a, enc: enc, releases: len(a.streams)%2 == 0}
	a.streams = append(a.streams, s)
	return s
}

// done releases the encoder of a stream that releases, so the codec may
// reuse it for a later stream; the program never touches it again.
func (s *progStream) done() {
	if s.releases && !s.released {
		s.released = true
		s.enc.(codec.Releaser).Release()
		s.enc = nil
	}
}

// pick is the k-th stream (mod the count), nil when there is none.
func (a *progApp) pick(k int) *progStream {
	if len(a.streams) == 0 {
		return nil
	}
	return a.streams[k%len(a.streams)]
}

func (a *progApp) respond(k, body int, trailers bool) {
	s := a.pick(k)
	if s == nil || s.resetSeen || s.respStarted {
		return
	}
	s.respStarted = true
	var h headers.Map
	h.SetStatus(200)
	s.enc.EncodeHeaders(&h, body == 0 && !trailers)
	for body > 0 && !s.resetSeen {
		n := min(body, 3000)
		body -= n
		s.enc.EncodeData(make([]byte, n), body == 0 && !trailers)
	}
	if trailers && !s.resetSeen {
		s.enc.EncodeTrailers(newMap("grpc-status", "0"))
	}
	s.respEnded = !s.resetSeen
	s.done()
}

func (a *progApp) reset(k int) {
	s := a.pick(k)
	if s == nil || s.resetSeen || s.respEnded {
		return
	}
	s.resetSeen = true
	s.enc.Reset()
	s.done()
}

func (a *progApp) readDisable(k int, on bool) {
	s := a.pick(k)
	if s == nil || s.resetSeen || s.released || s.paused == on {
		return
	}
	s.paused = on
	s.enc.ReadDisable(on)
}

// A stream hears nothing after the request ended, after OnReset, or once
// its response was encoded to the end.
func (s *progStream) gone() bool { return s.reqEnded || s.resetSeen || s.respEnded }

func (s *progStream) DecodeHeaders(h *headers.Map, end bool) {
	if s.gone() {
		s.app.t.Fatalf("DecodeHeaders after the request ended or the stream reset")
	}
	if _, ok := h.Get(":method"); !ok {
		s.app.t.Fatalf("request without :method: %v", h)
	}
	s.reqEnded = end
}

func (s *progStream) DecodeData(p []byte, end bool) {
	if s.gone() {
		s.app.t.Fatalf("DecodeData after the request ended or the stream reset")
	}
	s.reqEnded = end
}

func (s *progStream) DecodeTrailers(*headers.Map) {
	if s.gone() {
		s.app.t.Fatalf("DecodeTrailers after the request ended or the stream reset")
	}
	s.reqEnded = true
}

func (s *progStream) OnReset(codec.ResetReason) {
	if s.resetSeen || s.respEnded {
		s.app.t.Fatalf("OnReset twice, or after the response ended")
	}
	s.resetSeen = true
	s.done()
}
