package http2test

import (
	"strconv"
	"strings"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
)

// App answers requests by path, once the request has ended:
//
//	/echo          200 with the request body
//	/size/N        200 with N bytes, produced 16 KiB at a time under backpressure
//	/trailers      200 "ok" plus trailers x-checksum: done
//	/hold          never answers (until reset)
//	anything else  200 "hello from sluice"
type App struct {
	// Live counts streams started and not yet ended or reset.
	Live int
	// Resets, when set, receives every OnReset reason (the channel must
	// have room: the worker does not block on it).
	Resets chan codec.ResetReason
}

// NewStream implements codec.Callbacks.
func (a *App) NewStream(enc codec.ResponseEncoder) codec.RequestDecoder {
	a.Live++
	return &appStream{app: a, enc: enc}
}

type appStream struct {
	app       *App
	enc       codec.ResponseEncoder
	path      string
	body      []byte
	remaining int
	done      bool
}

var chunk = make([]byte, 16<<10)

func (s *appStream) DecodeHeaders(h *headers.Map, end bool) {
	s.path = string(h.Path())
	if end {
		s.respond()
	}
}

func (s *appStream) DecodeData(p []byte, end bool) {
	if strings.HasPrefix(s.path, "/echo") {
		s.body = append(s.body, p...)
	}
	if end {
		s.respond()
	}
}

func (s *appStream) DecodeTrailers(*headers.Map) { s.respond() }

func (s *appStream) OnReset(r codec.ResetReason) {
	if s.app.Resets != nil {
		select {
		case s.app.Resets <- r:
		default:
		}
	}
	s.finish()
}

func (s *appStream) finish() {
	if !s.done {
		s.done = true
		s.app.Live--
	}
}

func (s *appStream) respond() {
	var h headers.Map
	h.SetStatus(200)
	h.SetString("content-type", "text/plain")
	switch {
	case s.path == "/hold":
		return
	case strings.HasPrefix(s.path, "/echo"):
		h.SetString("content-length", strconv.Itoa(len(s.body)))
		s.enc.EncodeHeaders(&h, len(s.body) == 0)
		if len(s.body) > 0 {
			s.enc.EncodeData(s.body, true)
		}
		s.finish()
	case strings.HasPrefix(s.path, "/size/"):
		n, _ := strconv.Atoi(strings.TrimPrefix(s.path, "/size/"))
		s.remaining = n
		h.SetString("content-length", strconv.Itoa(n))
		s.enc.EncodeHeaders(&h, n == 0)
		if n == 0 {
			s.finish()
			return
		}
		s.enc.SetWritableCallback(s.produce)
		s.produce()
	case s.path == "/trailers":
		s.enc.EncodeHeaders(&h, false)
		s.enc.EncodeData([]byte("ok"), false)
		var t headers.Map
		t.SetString("x-checksum", "done")
		s.enc.EncodeTrailers(&t)
		s.finish()
	default:
		s.enc.EncodeHeaders(&h, false)
		s.enc.EncodeData([]byte("hello from sluice"), true)
		s.finish()
	}
}

// produce writes until the codec reports backpressure; the writable
// callback resumes it.
func (s *appStream) produce() {
	for s.remaining > 0 && !s.done {
		if s.enc.AboveWriteWatermark() {
			return
		}
		n := min(s.remaining, len(chunk))
		s.remaining -= n
		s.enc.EncodeData(chunk[:n], s.remaining == 0)
	}
	if s.remaining == 0 {
		s.finish()
	}
}
