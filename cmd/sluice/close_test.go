package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// A client that asks to close gets its whole response and then the
// server's FIN at once, without sending its own first: sluice closes
// without the half-close and wait for the client's FIN that protects
// clients which may still be sending (counted in
// worker.N.closed_without_linger). A request answered before its body was
// read still lingers, and a keep-alive client's connection stays.
func TestClientCloseEndsWithoutLinger(t *testing.T) {
	p := startSluice(t, listenerConfig("", directRoute, "", ""))
	lingerless := func() int64 {
		return adminStat(t, p, "worker.0.closed_without_linger") + adminStat(t, p, "worker.1.closed_without_linger")
	}
	want := int64(0)
	for i, tc := range []struct {
		req      string
		noLinger bool
	}{
		{"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", true},
		{"GET /b HTTP/1.0\r\n\r\n", true},
		// The route answers at the request head, before the body is read:
		// sluice cannot vouch that nothing more comes, so it lingers.
		{"POST /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc", false},
	} {
		req := tc.req
		c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "from the route" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		// Our end stays open: the EOF is the server's doing.
		if n, err := br.Read(make([]byte, 1)); n != 0 || err != io.EOF {
			t.Fatalf("request %d: after the response %d %v, want EOF", i, n, err)
		}
		if tc.noLinger {
			want++
		} else {
			c.(*net.TCPConn).CloseWrite() // the half-closed server waits for this
		}
		if got := lingerless(); got != want {
			t.Fatalf("request %d: closed_without_linger = %d, want %d", i, got, want)
		}
	}
	// A keep-alive request leaves the connection open and counts nothing.
	k := dialKeepAlive(t, p.Addr("main"))
	k.mustGet(t, "/keep")
	k.mustGet(t, "/again")
	if got := lingerless(); got != want {
		t.Fatalf("closed_without_linger = %d after keep-alive requests, want %d", got, want)
	}
}
