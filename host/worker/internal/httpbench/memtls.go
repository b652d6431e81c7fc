package main

import (
	"bytes"
	"crypto/tls"
	"net"
	"time"

	"github.com/sluiceproxy/sluice/host/worker"
)

// memTLS is the TLS design measured against the worker's own (StartTLS)
// in host/worker/RATIONALE.md, built on plain worker connections: the
// handshake runs on a helper goroutine over an in-memory conn (the loop
// forwards the ciphertext it reads through a channel; the helper's writes
// are posted back to the loop, which writes them), then the record layer
// runs on the loop over an in-memory conn that reads the connection's
// input and reports "empty" as a temporary error.
type memTLS struct {
	tc          *tls.Conn
	mc          *memConn
	established bool
	plain       []byte
}

type memConn struct {
	c    *worker.Conn
	w    *worker.Worker
	hsIn chan []byte // loop → helper during the handshake
	rest []byte      // the helper's unread part of a chunk
	hs   bool
}

func newMemTLS(c *worker.Conn, cfg *tls.Config) *memTLS {
	mc := &memConn{c: c, w: c.Worker(), hsIn: make(chan []byte, 64), hs: true}
	m := &memTLS{mc: mc, tc: tls.Server(mc, cfg), plain: make([]byte, 16<<10)}
	go func() {
		err := m.tc.Handshake()
		mc.w.Post(func() { m.handshakeDone(c, err) })
	}()
	return m
}

func (m *memTLS) handshakeDone(c *worker.Conn, err error) {
	if c.Closed() {
		return
	}
	if err != nil {
		c.Close()
		return
	}
	// Chunks the loop forwarded after the helper's last read are the
	// start of the record stream.
	for drained := false; !drained; {
		select {
		case chunk := <-m.mc.hsIn:
			m.mc.rest = append(m.mc.rest, chunk...)
		default:
			drained = true
		}
	}
	m.mc.hs = false
	m.established = true
	m.serve(c)
}

func (m *memTLS) OnConnect(*worker.Conn, error) {}
func (m *memTLS) OnWritable(c *worker.Conn)     { c.ResumeReading() }
func (m *memTLS) OnClose(*worker.Conn, error) {
	if !m.established {
		close(m.mc.hsIn)
	}
}

func (m *memTLS) OnData(c *worker.Conn) {
	if !m.established {
		if in := c.Input(); len(in) > 0 {
			select {
			case m.mc.hsIn <- append([]byte(nil), in...):
				c.Consume(len(in))
				c.Worker().YieldBeforeSleep()
			default: // helper behind: keep the bytes for the next call
			}
		}
		if c.ReadEOF() {
			c.Close()
			close(m.mc.hsIn)
		}
		return
	}
	m.serve(c)
}

// serve decrypts what arrived and answers each request head.
func (m *memTLS) serve(c *worker.Conn) {
	var pending []byte
	for {
		n, err := m.tc.Read(m.plain)
		if n > 0 {
			pending = append(pending, m.plain[:n]...)
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Temporary() {
			break
		}
		c.CloseAfterFlush()
		return
	}
	for {
		end := bytes.Index(pending, []byte("\r\n\r\n"))
		if end < 0 {
			break
		}
		m.tc.Write(response)
		if bytes.Contains(pending[:end], []byte("Connection: close")) {
			c.CloseAfterFlush()
			return
		}
		pending = pending[end+4:]
	}
	if c.ReadEOF() {
		c.CloseAfterFlush()
	}
}

// Read: the helper waits for chunks; the loop copies from the input.
func (mc *memConn) Read(p []byte) (int, error) {
	if mc.hs {
		if len(mc.rest) == 0 {
			chunk, ok := <-mc.hsIn
			if !ok {
				return 0, net.ErrClosed
			}
			mc.rest = chunk
		}
		n := copy(p, mc.rest)
		mc.rest = mc.rest[n:]
		return n, nil
	}
	in := mc.c.Input()
	if len(mc.rest) > 0 { // left over from the handshake
		n := copy(p, mc.rest)
		mc.rest = mc.rest[n:]
		return n, nil
	}
	if len(in) == 0 {
		return 0, tempErr{}
	}
	n := copy(p, in)
	mc.c.Consume(n)
	return n, nil
}

// Write: the helper posts its flights to the loop; the loop writes.
func (mc *memConn) Write(p []byte) (int, error) {
	if mc.hs {
		b := append([]byte(nil), p...)
		mc.w.Post(func() { mc.c.Write(b) })
		return len(p), nil
	}
	mc.c.Write(p)
	return len(p), nil
}

type tempErr struct{}

func (tempErr) Error() string   { return "empty" }
func (tempErr) Timeout() bool   { return true }
func (tempErr) Temporary() bool { return true }

func (mc *memConn) Close() error                     { return nil }
func (mc *memConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (mc *memConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (mc *memConn) SetDeadline(time.Time) error      { return nil }
func (mc *memConn) SetReadDeadline(time.Time) error  { return nil }
func (mc *memConn) SetWriteDeadline(time.Time) error { return nil }
