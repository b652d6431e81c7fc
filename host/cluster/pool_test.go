package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

func httpBackend(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connCounter, netip.AddrPort) {
	t.Helper()
	cnt := &connCounter{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cnt.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cnt, netip.MustParseAddrPort(srv.Listener.Addr().String())
}

func TestKeepAliveReuse(t *testing.T) {
	_, cnt, addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{addr}})
	const n = 5
	for i := range n {
		r := roundTrip(t, ws[0], c, newRecorder(getReq(fmt.Sprintf("/r%d", i))))
		want := fmt.Sprintf("hello /r%d", i)
		if r.final != "end" || r.status != 200 || string(r.got) != want {
			t.Fatalf("request %d: %s; body %q", i, r.eventString(), r.got)
		}
		wantEv := fmt.Sprintf("ready, headers 200 end=false, data %d end=true", len(want))
		if r.eventString() != wantEv {
			t.Fatalf("events %q, want %q", r.eventString(), wantEv)
		}
		if r.host != addr {
			t.Fatalf("host %v", r.host)
		}
	}
	if got := cnt.n.Load(); got != 1 {
		t.Fatalf("backend saw %d connections for %d sequential requests, want 1", got, n)
	}
	st := c.Stats()
	if st.CxTotal != 1 || st.RqTotal != n || st.RqCompleted != n || st.CxActive != 1 || st.RqActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRoundRobinAcrossThreeBackends(t *testing.T) {
	var addrs []netip.AddrPort
	for _, name := range []string{"a", "b", "c"} {
		_, _, addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
		addrs = append(addrs, addr)
	}
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: addrs, LBPolicy: RoundRobin})
	got := ""
	for range 6 {
		r := roundTrip(t, ws[0], c, newRecorder(getReq("/")))
		if r.final != "end" {
			t.Fatalf("%s", r.eventString())
		}
		got += string(r.got)
	}
	if got != "abcabc" {
		t.Fatalf("backends in order %q, want abcabc", got)
	}
	if st := c.Stats(); st.CxTotal != 3 {
		t.Fatalf("want one pooled connection per backend, stats %+v", st)
	}
}

func TestChunkedUploadAndDownload(t *testing.T) {
	type seen struct {
		te      []string
		body    string
		trailer string
	}
	seenc := make(chan seen, 1)
	_, _, addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seenc <- seen{r.TransferEncoding, string(b), r.Trailer.Get("X-Sum")}
		w.Header().Set("Trailer", "X-Resp-Sum")
		f := w.(http.Flusher)
		for _, part := range []string{"one,", "two,", "three"} {
			io.WriteString(w, part)
			f.Flush() // each part becomes a chunk
		}
		w.Header().Set("X-Resp-Sum", "42")
	})
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{addr}})
	r := newRecorder(reqWith("POST", "/upload"))
	r.body = [][]byte{[]byte("hello "), []byte("chunked "), []byte("world")}
	r.trailers = &headers.Map{}
	r.trailers.AddString("x-sum", "7")
	roundTrip(t, ws[0], c, r)

	s := recv(t, seenc, "backend request")
	if len(s.te) != 1 || s.te[0] != "chunked" || s.body != "hello chunked world" || s.trailer != "7" {
		t.Fatalf("backend saw %+v", s)
	}
	if r.final != "end" || string(r.got) != "one,two,three" {
		t.Fatalf("events %s body %q", r.eventString(), r.got)
	}
	if v, _ := r.respTr.Get("x-resp-sum"); string(v) != "42" {
		t.Fatalf("response trailers: %q", v)
	}
	if te, _ := r.resp.Get("transfer-encoding"); string(te) != "chunked" {
		t.Fatalf("response transfer-encoding %q", te)
	}
	last := r.events[len(r.events)-1]
	if last != "trailers 1" {
		t.Fatalf("events %s: the stream must end with the trailers", r.eventString())
	}
}

func TestContentLengthUpload(t *testing.T) {
	type seen struct {
		cl   int64
		te   []string
		body string
	}
	seenc := make(chan seen, 1)
	_, _, addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seenc <- seen{r.ContentLength, r.TransferEncoding, string(b)}
	})
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{addr}})
	r := newRecorder(reqWith("PUT", "/x", "content-length", "11"))
	r.body = [][]byte{[]byte("hello "), []byte("world")}
	roundTrip(t, ws[0], c, r)
	s := recv(t, seenc, "backend request")
	if s.cl != 11 || len(s.te) != 0 || s.body != "hello world" {
		t.Fatalf("backend saw %+v", s)
	}
	if r.final != "end" || r.status != 200 {
		t.Fatalf("%s", r.eventString())
	}
}

func closedPortAddr(t *testing.T) netip.AddrPort {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return addr
}

func TestConnectionRefused(t *testing.T) {
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{closedPortAddr(t)}})
	r := newRecorder(getReq("/"))
	if s := start(t, ws[0], c, r); s == nil {
		t.Fatal("NewStream returned nil for a stream that is still connecting")
	}
	r.wait(t)
	if r.final != "failure" || r.failure != ConnectFailure || !errors.Is(r.err, unix.ECONNREFUSED) {
		t.Fatalf("events %s err %v", r.eventString(), r.err)
	}
	st := c.Stats()
	if st.CxConnectFail != 1 || st.CxActive != 0 || st.RqPendingFailure != 1 || st.RqTotal != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// fullBacklogAddr returns a listening address whose accept queue is full:
// Linux then drops further SYNs, so a connect neither completes nor is
// refused and can only time out.
func fullBacklogAddr(t *testing.T) netip.AddrPort {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := unix.Getsockname(fd)
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(sa.(*unix.SockaddrInet4).Port))
	for range 16 {
		c, err := net.DialTimeout("tcp", addr.String(), 300*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill a listen backlog on loopback (SYNs keep being answered)")
	return addr
}

func TestConnectTimeout(t *testing.T) {
	addr := fullBacklogAddr(t)
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{Endpoints: []netip.AddrPort{addr}, ConnectTimeout: 50 * time.Millisecond})
	r := roundTrip(t, ws[0], c, newRecorder(getReq("/")))
	if r.final == "end" {
		t.Skip("backlog was not full; connect completed")
	}
	if r.final != "failure" || r.failure != ConnectTimeout || !errors.Is(r.err, worker.ErrConnectTimeout) {
		t.Fatalf("events %s err %v", r.eventString(), r.err)
	}
	if st := c.Stats(); st.CxConnectTimeout != 1 || st.CxConnectFail != 0 || st.CxActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestNoEndpoints(t *testing.T) {
	ws := startWorkers(t, 1)
	c := newTestCluster(t, ws, Settings{})
	r := newRecorder(getReq("/"))
	if s := start(t, ws[0], c, r); s != nil {
		t.Fatal("NewStream must return nil when it failed at once")
	}
	select {
	case <-r.done:
	default:
		t.Fatal("OnPoolFailure must have run inside NewStream")
	}
	if r.failure != NoHealthyUpstream || r.err != ErrNoHealthyUpstream {
		t.Fatalf("%s %v", r.eventString(), r.err)
	}
	if st := c.Stats(); st.NoHealthyUpstream != 1 {
		t.Fatalf("stats %+v", st)
	}
}
