package cluster

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
	"golang.org/x/net/http2/hpack"

	"github.com/sluiceproxy/sluice/host/worker"
)

// h2Server is a real Go HTTP/2 server speaking h2c with prior knowledge.
type h2Server struct {
	addr  netip.AddrPort
	conns atomic.Int32 // TCP connections accepted
}

// newH2Server starts it; register it before the workers so that its
// cleanup (which waits for connections to end) runs after theirs.
func newH2Server(t *testing.T, h http.HandlerFunc) *h2Server {
	t.Helper()
	s := &h2Server{}
	srv := httptest.NewUnstartedServer(h2c.NewHandler(h, &http2.Server{}))
	srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	s.addr = netip.MustParseAddrPort(srv.Listener.Addr().String())
	return s
}

// h2Setup starts the server, one worker and an HTTP/2 cluster to it.
func h2Setup(t *testing.T, h http.HandlerFunc, s Settings) (*h2Server, *Cluster, *worker.Worker) {
	t.Helper()
	srv := newH2Server(t, h)
	ws := startWorkers(t, 1)
	s.HTTP2 = true
	s.Endpoints = append(s.Endpoints, srv.addr)
	return srv, newTestCluster(t, ws, s), ws[0]
}

// rawH2 is a scripted HTTP/2 server: each test drives its peers frame by
// frame, to send what a well-behaved server would not (GOAWAY below the
// open streams, a close mid-body).
type rawH2 struct {
	ln    net.Listener
	addr  netip.AddrPort
	peers chan *h2Peer
	mu    sync.Mutex
	open  []net.Conn
}

type h2Peer struct {
	t    *testing.T
	c    net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	hbuf bytes.Buffer
}

func newRawH2(t *testing.T) *rawH2 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rawH2{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), peers: make(chan *h2Peer, 8)}
	done, stop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.open = append(r.open, c)
			r.mu.Unlock()
			select {
			case r.peers <- &h2Peer{t: t, c: c}:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		ln.Close()
		<-done
		r.mu.Lock()
		for _, c := range r.open {
			c.Close()
		}
		r.mu.Unlock()
	})
	return r
}

// accept takes the next connection and completes the handshake: the
// client preface and SETTINGS in, our SETTINGS out.
func (r *rawH2) accept(t *testing.T, settings ...http2.Setting) *h2Peer {
	t.Helper()
	p := recv(t, r.peers, "an upstream connection")
	p.c.SetDeadline(time.Now().Add(waitLimit))
	pre := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(p.c, pre); err != nil || string(pre) != http2.ClientPreface {
		t.Fatalf("preface %q %v", pre, err)
	}
	p.fr = http2.NewFramer(p.c, p.c)
	p.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	p.enc = hpack.NewEncoder(&p.hbuf)
	f, err := p.fr.ReadFrame()
	if sf, ok := f.(*http2.SettingsFrame); err != nil || !ok || sf.IsAck() {
		t.Fatalf("first client frame %v %v, want SETTINGS", f, err)
	}
	if err := p.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	if err := p.fr.WriteSettingsAck(); err != nil {
		t.Fatal(err)
	}
	return p
}

// headers reads frames until n request heads arrived; it returns their
// stream ids and :path values.
func (p *h2Peer) headers(n int) (ids []uint32, paths []string) {
	p.t.Helper()
	for len(ids) < n {
		f, err := p.fr.ReadFrame()
		if err != nil {
			p.t.Fatalf("reading client frames: %v", err)
		}
		if mh, ok := f.(*http2.MetaHeadersFrame); ok {
			ids = append(ids, mh.StreamID)
			paths = append(paths, mh.PseudoValue("path"))
		}
	}
	return ids, paths
}

// respond sends a response head and, if body is not nil, one DATA frame.
func (p *h2Peer) respond(id uint32, status string, body []byte, end bool) {
	p.t.Helper()
	p.hbuf.Reset()
	p.enc.WriteField(hpack.HeaderField{Name: ":status", Value: status})
	if err := p.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: p.hbuf.Bytes(), EndHeaders: true, EndStream: end && body == nil}); err != nil {
		p.t.Fatal(err)
	}
	if body != nil {
		if err := p.fr.WriteData(id, end, body); err != nil {
			p.t.Fatal(err)
		}
	}
}

func hpackField(name, value string) hpack.HeaderField {
	return hpack.HeaderField{Name: name, Value: value}
}
