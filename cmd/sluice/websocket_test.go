package main

// A small RFC 6455 implementation for the upgrade tests: the handshake on
// both sides and frame encoding, so a test controls every byte (close
// frames, half-closes, clients that stop reading). golang.org/x/net's
// websocket package is the independent client and server of the echo test.

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

const (
	wsText   = 0x1
	wsBinary = 0x2
	wsClose  = 0x8
)

// wsAccept is the Sec-WebSocket-Accept value for a key (RFC 6455 4.2.2).
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsDial connects to addr and performs the client handshake for path, with
// extra request header lines ("name: value"). It returns the connection,
// a reader positioned after the 101, and the response.
func wsDial(t *testing.T, addr, path string, extra ...string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	var key [16]byte
	rand.Read(key[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key[:]) + "\r\n"
	for _, h := range extra {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 101 {
		if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wsAccept(base64.StdEncoding.EncodeToString(key[:])); got != want {
			t.Fatalf("Sec-WebSocket-Accept %q, want %q", got, want)
		}
	}
	return c, br, resp
}

// wsWriteFrame writes one final frame; clients mask (RFC 6455 5.3).
func wsWriteFrame(w io.Writer, opcode byte, payload []byte, mask bool) error {
	hdr := []byte{0x80 | opcode, 0}
	switch n := len(payload); {
	case n < 126:
		hdr[1] = byte(n)
	case n < 1<<16:
		hdr[1] = 126
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr[1] = 127
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	if mask {
		hdr[1] |= 0x80
		var key [4]byte
		rand.Read(key[:])
		hdr = append(hdr, key[:]...)
		masked := make([]byte, len(payload))
		for i, b := range payload {
			masked[i] = b ^ key[i%4]
		}
		payload = masked
	}
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// wsReadFrame reads one frame, unmasking it.
func wsReadFrame(br *bufio.Reader) (opcode byte, payload []byte, err error) {
	var hdr [2]byte
	if _, err = io.ReadFull(br, hdr[:]); err != nil {
		return 0, nil, err
	}
	if hdr[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented frames are not used by these tests")
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil {
		return 0, nil, err
	}
	var key [4]byte
	masked := hdr[1]&0x80 != 0
	if masked {
		if _, err = io.ReadFull(br, key[:]); err != nil {
			return 0, nil, err
		}
	}
	if n > 64<<20 {
		return 0, nil, fmt.Errorf("frame of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err = io.ReadFull(br, payload); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range payload {
			payload[i] ^= key[i%4]
		}
	}
	return hdr[0] & 0x0f, payload, nil
}

// closePayload is a close frame's body: the code, then the reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

// wsBackend is a raw TCP WebSocket server: it checks the handshake, answers
// 101 (or the status answer returns, when not 0), then runs session. It
// records every handshake request.
type wsBackend struct {
	addr string
	mu   sync.Mutex
	reqs []*http.Request
}

func (b *wsBackend) requests() []*http.Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*http.Request(nil), b.reqs...)
}

func newWSBackend(t *testing.T, answer func(r *http.Request) string, session func(c net.Conn, br *bufio.Reader)) *wsBackend {
	t.Helper()
	b := &wsBackend{}
	b.addr = tcpBackend(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, req)
		b.mu.Unlock()
		if answer != nil {
			if resp := answer(req); resp != "" {
				io.WriteString(c, resp)
				return
			}
		}
		if !strings.EqualFold(req.Header.Get("Upgrade"), "websocket") {
			io.WriteString(c, "HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Accept: "+wsAccept(req.Header.Get("Sec-WebSocket-Key"))+"\r\n\r\n")
		session(c, br)
	})
	return b
}

// wsEchoSession echoes data frames and answers a close frame with the same
// close frame, then closes the connection (RFC 6455 5.5.1).
func wsEchoSession(c net.Conn, br *bufio.Reader) {
	for {
		op, p, err := wsReadFrame(br)
		if err != nil {
			return
		}
		if op == wsClose {
			wsWriteFrame(c, wsClose, p, false)
			return
		}
		if wsWriteFrame(c, op, p, false) != nil {
			return
		}
	}
}

// tcpBackend serves every accepted connection with fn (closing it after)
// until the test ends, and returns its address.
func tcpBackend(t *testing.T, fn func(c net.Conn)) string {
	t.Helper()
	return sluicetest.StartTCPBackend(t, func(c *net.TCPConn) { fn(c) }).Addr
}
