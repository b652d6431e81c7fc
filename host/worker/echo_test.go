package worker

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"
)

func TestEchoSmall(t *testing.T) {
	w := startWorker(t, Options{})
	addr := listen(t, w, func(c *Conn) { c.SetHandler(&echoHandler{}) })
	nc, err := net.DialTimeout("tcp", addr.String(), waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitLimit))
	for _, msg := range []string{"hello", "world", string(bytes.Repeat([]byte("x"), 100000))} {
		if _, err := nc.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(nc, got); err != nil {
			t.Fatal(err)
		}
		if string(got) != msg {
			t.Fatalf("echo mismatch: got %d bytes", len(got))
		}
	}
	// Half-close: the echo handler answers our FIN with its own.
	nc.(*net.TCPConn).CloseWrite()
	if n, err := nc.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite: n=%d err=%v, want 0 EOF", n, err)
	}
}
