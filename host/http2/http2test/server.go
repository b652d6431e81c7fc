package http2test

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/codec"
	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/http2"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Config says how a Server listens.
type Config struct {
	Addr    netip.AddrPort // use 127.0.0.1:0 in tests
	Options http2.Options
	Log     *zap.Logger
	// AllowUpgrade makes input that is not the HTTP/2 preface go to a
	// minimal HTTP/1.1 reader that accepts only "Upgrade: h2c" (else 400).
	// Without it every connection is HTTP/2 with prior knowledge, so a bad
	// preface meets the codec (GOAWAY + close).
	AllowUpgrade bool
}

// Server is one worker listening for h2c.
type Server struct {
	W    *worker.Worker
	Addr netip.AddrPort
	App  *App

	cfg    Config
	opts   http2.Options
	log    *zap.Logger
	conns  map[*worker.Conn]*conn
	closed http2.Stats // summed from closed connections
}

// Start runs a worker and listens.
func Start(cfg Config) (*Server, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	w, err := worker.New(worker.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	go w.Run()
	s := &Server{W: w, App: &App{}, cfg: cfg, opts: cfg.Options, log: log, conns: map[*worker.Conn]*conn{}}
	errc := make(chan error, 1)
	w.Post(func() {
		l, err := w.Listen(cfg.Addr, s.accept)
		if err == nil {
			s.Addr = l.Addr()
		}
		errc <- err
	})
	select {
	case err = <-errc:
	case <-time.After(10 * time.Second):
		err = errors.New("http2test: worker did not start")
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the worker and waits for it.
func (s *Server) Close() {
	s.W.Stop()
	<-s.W.Done()
}

// OnLoop runs fn on the worker and waits (bounded).
func (s *Server) OnLoop(fn func()) error {
	done := make(chan struct{})
	s.W.Post(func() { fn(); close(done) })
	select {
	case <-done:
		return nil
	case <-s.W.Done():
		return errors.New("http2test: worker stopped")
	case <-time.After(10 * time.Second):
		return errors.New("http2test: loop did not answer")
	}
}

// Stats sums the codec counters of open and closed connections.
func (s *Server) Stats() http2.Stats {
	var total http2.Stats
	_ = s.OnLoop(func() {
		total = s.closed
		for _, c := range s.conns {
			if c.codec != nil {
				total.Add(c.codec.Stats())
			}
		}
	})
	return total
}

// Drain starts a graceful GOAWAY on every HTTP/2 connection.
func (s *Server) Drain() {
	_ = s.OnLoop(func() {
		for wc, c := range s.conns {
			if c.codec != nil {
				c.codec.Drain()
				c.maybeClose(wc)
			}
		}
	})
}

// Buffered is what the server holds for its peers: response bytes queued
// by the codecs for flow-control window, and socket output not yet sent.
func (s *Server) Buffered() (codecQueued, connPending int) {
	_ = s.OnLoop(func() {
		for wc, c := range s.conns {
			connPending += wc.Pending()
			if c.codec != nil {
				codecQueued += c.codec.QueuedBytes()
			}
		}
	})
	return codecQueued, connPending
}

// Live is the number of app streams started and not yet finished or reset.
func (s *Server) Live() int {
	n := 0
	_ = s.OnLoop(func() { n = s.App.Live })
	return n
}

func (s *Server) accept(wc *worker.Conn) {
	c := &conn{s: s}
	s.conns[wc] = c
	wc.SetHandler(c)
}

// conn is the minimal connection manager: feed input, honour errors and
// WantsClose, pass writability and closure through.
type conn struct {
	s     *Server
	codec *http2.ServerCodec
}

func (c *conn) OnConnect(*worker.Conn, error) {}

func (c *conn) OnData(wc *worker.Conn) {
	if c.codec == nil && !c.start(wc) {
		return
	}
	n, err := c.codec.Dispatch(wc.Input())
	wc.Consume(n)
	if err != nil {
		c.s.log.Debug("http2test: connection error", zap.Error(err))
		c.end(wc)
		return
	}
	if wc.ReadEOF() {
		_ = c.codec.ReadEOF()
	}
	c.maybeClose(wc)
}

// start picks the protocol from the first bytes: the HTTP/2 preface, or an
// HTTP/1.1 request asking to upgrade to h2c.
func (c *conn) start(wc *worker.Conn) bool {
	in := wc.Input()
	match, needMore := http2.IsPreface(in)
	if match || !c.s.cfg.AllowUpgrade {
		c.codec = http2.NewServerCodec(codec.SocketTransport(wc), c.s.App, c.s.opts, c.s.log)
		return true
	}
	if needMore {
		return false
	}
	end := bytes.Index(in, []byte("\r\n\r\n"))
	if end < 0 {
		if len(in) > 16<<10 || wc.ReadEOF() {
			c.drop(wc)
		}
		return false
	}
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in[:end+4])))
	if err != nil || !strings.EqualFold(req.Header.Get("Upgrade"), "h2c") || req.Header.Get("Http2-Settings") == "" {
		wc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		c.drop(wc)
		return false
	}
	payload, err := http2.DecodeSettingsHeader([]byte(req.Header.Get("Http2-Settings")))
	if err != nil {
		wc.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		c.drop(wc)
		return false
	}
	var h headers.Map
	h.SetString(":method", req.Method)
	h.SetString(":scheme", "http")
	h.SetString(":authority", req.Host)
	h.SetString(":path", req.URL.RequestURI())
	wc.Consume(end + 4)
	wc.Write([]byte("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n"))
	c.codec, err = http2.NewServerCodecFromUpgrade(codec.SocketTransport(wc), c.s.App, c.s.opts, c.s.log, payload, &h)
	if err != nil {
		c.drop(wc)
		return false
	}
	return len(wc.Input()) > 0
}

func (c *conn) OnWritable(wc *worker.Conn) {
	if c.codec != nil {
		c.codec.OnWritable()
		c.maybeClose(wc)
	}
}

func (c *conn) OnClose(wc *worker.Conn, _ error) {
	if c.codec != nil {
		c.codec.OnConnectionClose()
	}
	c.forget(wc)
}

func (c *conn) maybeClose(wc *worker.Conn) {
	if c.codec.WantsClose() {
		c.end(wc)
	}
}

func (c *conn) end(wc *worker.Conn) {
	c.codec.OnConnectionClose()
	wc.CloseAfterFlush()
	c.forget(wc)
}

func (c *conn) drop(wc *worker.Conn) {
	wc.CloseAfterFlush()
	c.forget(wc)
}

func (c *conn) forget(wc *worker.Conn) {
	if _, ok := c.s.conns[wc]; !ok {
		return
	}
	delete(c.s.conns, wc)
	if c.codec != nil {
		c.s.closed.Add(c.codec.Stats())
	}
}
