package main

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2 is an HTTP/2 client on golang.org/x/net/http2's Framer, for tests
// that must control flow control exactly: it never sends WINDOW_UPDATE on
// its own, so it holds the protocol's 64 KiB windows until told otherwise.
// A reader goroutine records every frame of the stream it watches and
// tracks the send windows the server grants.
type rawH2 struct {
	t    *testing.T
	conn net.Conn
	fr   *http2.Framer
	wmu  sync.Mutex // serialises writes on fr

	mu         sync.Mutex
	cond       *sync.Cond
	connWindow int64
	peerWindow int64 // the server's SETTINGS_INITIAL_WINDOW_SIZE
	strWindow  map[uint32]int64
	body       map[uint32]*bytes.Buffer
	heads      map[uint32][]map[string]string // HEADERS blocks per stream, in order
	ended      map[uint32]bool                // END_STREAM received
	rst        map[uint32]http2.ErrCode
	goaway     bool
	readErr    error
	henc       *hpack.Encoder
	hbuf       bytes.Buffer
}

func dialRawH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawH2{
		t: t, conn: conn, connWindow: 65535, peerWindow: 65535, strWindow: map[uint32]int64{},
		body: map[uint32]*bytes.Buffer{}, heads: map[uint32][]map[string]string{},
		ended: map[uint32]bool{}, rst: map[uint32]http2.ErrCode{},
	}
	c.cond = sync.NewCond(&c.mu)
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	c.henc = hpack.NewEncoder(&c.hbuf)
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	c.write(func() error { return c.fr.WriteSettings() })
	done := make(chan struct{})
	t.Cleanup(func() { conn.Close(); <-done })
	go func() {
		defer close(done)
		c.readLoop()
	}()
	return c
}

func (c *rawH2) write(fn func() error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.conn.SetWriteDeadline(time.Now().Add(20 * time.Second))
	if err := fn(); err != nil {
		c.t.Errorf("h2 client write: %v", err)
	}
}

func (c *rawH2) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		c.mu.Lock()
		if err != nil {
			c.readErr = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
					for id := range c.strWindow {
						c.strWindow[id] += int64(v) - c.peerWindow
					}
					c.peerWindow = int64(v)
				}
				go c.write(func() error { return c.fr.WriteSettingsAck() })
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.connWindow += int64(f.Increment)
			} else {
				c.strWindow[f.StreamID] += int64(f.Increment)
			}
		case *http2.DataFrame:
			b := c.body[f.StreamID]
			if b == nil {
				b = new(bytes.Buffer)
				c.body[f.StreamID] = b
			}
			b.Write(f.Data())
			if f.StreamEnded() {
				c.ended[f.StreamID] = true
			}
		case *http2.MetaHeadersFrame:
			m := map[string]string{}
			for _, hf := range f.Fields {
				m[hf.Name] = hf.Value
			}
			c.heads[f.StreamID] = append(c.heads[f.StreamID], m)
			if f.StreamEnded() {
				c.ended[f.StreamID] = true
			}
		case *http2.RSTStreamFrame:
			c.rst[f.StreamID] = f.ErrCode
		case *http2.GoAwayFrame:
			c.goaway = true
		case *http2.PingFrame:
			if !f.IsAck() {
				data := f.Data
				go c.write(func() error { return c.fr.WritePing(true, data) })
			}
		}
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// open sends a request head on id. kv are extra header pairs.
func (c *rawH2) open(id uint32, method, path string, end bool, kv ...string) {
	c.mu.Lock()
	c.strWindow[id] = c.peerWindow
	c.mu.Unlock()
	c.write(func() error {
		c.hbuf.Reset()
		fields := append([]string{":method", method, ":scheme", "http", ":authority", "sluice.test", ":path", path}, kv...)
		for i := 0; i < len(fields); i += 2 {
			c.henc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.hbuf.Bytes(), EndStream: end, EndHeaders: true})
	})
}

// upload sends n bytes of body on id as the server's windows allow, and
// reports how many went out before stop (e.g. a reset) said to quit.
func (c *rawH2) upload(id uint32, n int, end bool, stop func() bool) int {
	chunk := make([]byte, 16384)
	sent := 0
	deadline := time.Now().Add(30 * time.Second)
	for sent < n {
		c.mu.Lock()
		for c.readErr == nil && !stop() && (c.connWindow <= 0 || c.strWindow[id] <= 0) {
			if time.Now().After(deadline) {
				c.mu.Unlock()
				c.t.Fatalf("upload stalled after %d bytes: windows conn %d stream %d", sent, c.connWindow, c.strWindow[id])
			}
			waitCond(c.cond, time.Second)
		}
		if c.readErr != nil || stop() {
			c.mu.Unlock()
			return sent
		}
		k := int(min(int64(len(chunk)), int64(n-sent), c.connWindow, c.strWindow[id]))
		c.connWindow -= int64(k)
		c.strWindow[id] -= int64(k)
		c.mu.Unlock()
		last := end && sent+k == n
		c.write(func() error { return c.fr.WriteData(id, last, chunk[:k]) })
		sent += k
	}
	return sent
}

// waitFor waits (bounded) until cond, evaluated under the lock, holds.
func (c *rawH2) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond() {
		if c.readErr != nil {
			c.t.Fatalf("waiting for %s: connection ended: %v", what, c.readErr)
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s", what)
		}
		waitCond(c.cond, time.Second)
	}
}

// waitCond waits on cond (its lock held) for a broadcast or d, whichever
// comes first, so waiters re-check their deadlines.
func waitCond(cond *sync.Cond, d time.Duration) {
	t := time.AfterFunc(d, cond.Broadcast)
	cond.Wait()
	t.Stop()
}

func (c *rawH2) bodyOf(id uint32) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.body[id]; b != nil {
		return append([]byte(nil), b.Bytes()...)
	}
	return nil
}

// rstOf is the RST_STREAM code received for id, if any.
func (c *rawH2) rstOf(id uint32) (http2.ErrCode, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	code, ok := c.rst[id]
	return code, ok
}

func (c *rawH2) resets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.rst)
}

func (c *rawH2) headsOf(id uint32) []map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]string(nil), c.heads[id]...)
}

func (c *rawH2) grant(id uint32, n uint32) {
	c.write(func() error {
		if err := c.fr.WriteWindowUpdate(0, n); err != nil {
			return err
		}
		return c.fr.WriteWindowUpdate(id, n)
	})
}

func (c *rawH2) reset(id uint32, code http2.ErrCode) {
	c.write(func() error { return c.fr.WriteRSTStream(id, code) })
}

func (c *rawH2) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "heads %v rst %v ended %v", c.heads, c.rst, c.ended)
	return b.String()
}
