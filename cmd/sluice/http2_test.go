package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cClient speaks HTTP/2 with prior knowledge over plain TCP.
func h2cClient(t *testing.T) *http.Client {
	tr := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

func TestHTTP2PriorKnowledgeThroughProxy(t *testing.T) {
	be := newEchoBackend(t)
	p := proxyTo(t, backendAddr(be.Server), "")
	c := h2cClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			body := strings.Repeat("x", i*1000)
			resp, err := c.Post(p.URL(fmt.Sprintf("/h2/%d", i)), "text/plain", strings.NewReader(body))
			if err != nil {
				errs <- err
				return
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || string(got) != fmt.Sprintf("path=/h2/%d len=%d", i, len(body)) {
				errs <- fmt.Errorf("stream %d: proto %d body %q", i, resp.ProtoMajor, got)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if l := p.AccessLines(20); l[0]["protocol"] != "HTTP/2" {
		t.Fatalf("access log protocol %v", l[0]["protocol"])
	}
}

// TestHTTP2UpgradeFromHTTP1 switches a connection with "Upgrade: h2c": the
// upgrading request is answered as stream 1 over HTTP/2.
func TestHTTP2UpgradeFromHTTP1(t *testing.T) {
	p := startSluice(t, listenerConfig("", directRoute, "", ""))
	c, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Upgrade") != "h2c" {
		t.Fatalf("got %d upgrade=%q", resp.StatusCode, resp.Header.Get("Upgrade"))
	}
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, br)
	fr.WriteSettings()
	var status, body string
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == ":status" {
			status = f.Value
		}
	})
	for done := false; !done; {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			if f.StreamID != 1 {
				t.Fatalf("headers on stream %d", f.StreamID)
			}
			dec.Write(f.HeaderBlockFragment())
			done = f.StreamEnded()
		case *http2.DataFrame:
			body += string(f.Data())
			done = f.StreamEnded()
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
	if status != "200" || body != "from the route" {
		t.Fatalf("stream 1: status %q body %q", status, body)
	}
}

// TestThreadAffinityOnHTTP2Streams: module hooks of concurrent HTTP/2
// streams on one connection all run on the connection's worker.
func TestThreadAffinityOnHTTP2Streams(t *testing.T) {
	p := startSluice(t, listenerConfig(moduleFilter(t, "aff", "thread_affinity", "thread_affinity", ""), directRoute, "", ""))
	c := h2cClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Post(p.URL("/a"), "text/plain", strings.NewReader("abc"))
			if err != nil {
				errs <- err
				return
			}
			io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("x-thread-affinity") != "ok" || resp.ProtoMajor != 2 {
				errs <- fmt.Errorf("status %d affinity %q proto %d", resp.StatusCode, resp.Header.Get("x-thread-affinity"), resp.ProtoMajor)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
