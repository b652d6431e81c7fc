package cluster

import (
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/headers"
	"github.com/sluiceproxy/sluice/host/worker"
)

// calloutResult is a copy of a CalloutResult taken on the worker.
type calloutResult struct {
	failure CalloutFailure
	err     error
	status  int
	header  string
	body    string
	tid     int
}

type calloutRecorder struct {
	w    *worker.Worker
	done chan calloutResult
}

func (r *calloutRecorder) OnCalloutDone(res *CalloutResult) {
	out := calloutResult{failure: res.Failure, err: res.Err, status: res.Status, body: string(res.Body), tid: r.w.TID()}
	if res.Headers != nil {
		v, _ := res.Headers.Get("x-authz")
		out.header = string(v)
	}
	r.done <- out
}

func startCallout(t *testing.T, w *worker.Worker, c *Cluster, path, body string, timeout time.Duration, max int) (*calloutRecorder, *Callout) {
	t.Helper()
	rec := &calloutRecorder{w: w, done: make(chan calloutResult, 1)}
	h := &headers.Map{}
	h.AddString(":method", "POST")
	h.AddString(":path", path)
	var co *Callout
	onLoop(t, w, func() {
		co = c.StartCallout(w, CalloutRequest{Headers: h, Body: []byte(body), Timeout: timeout, MaxResponseBytes: max}, rec)
	})
	return rec, co
}

func TestCallouts(t *testing.T) {
	_, _, addr := httpBackend(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/hang":
			<-r.Context().Done()
			return
		case "/big":
			io.WriteString(w, strings.Repeat("x", 5000))
			return
		}
		w.Header().Set("x-authz", r.Host)
		fmt.Fprintf(w, "allowed %s", b)
	})
	ws := startWorkers(t, 1)
	w := ws[0]
	c := newTestCluster(t, ws, Settings{Name: "authz", Endpoints: []netip.AddrPort{addr}})

	rec, _ := startCallout(t, w, c, "/check", "token", time.Second, 0)
	got := recv(t, rec.done, "result")
	if got.failure != CalloutOK || got.status != 200 || got.body != "allowed token" || got.header != "authz" || got.tid != w.TID() {
		t.Fatalf("ok: %+v (worker tid %d)", got, w.TID())
	}

	rec, _ = startCallout(t, w, c, "/hang", "", 100*time.Millisecond, 0)
	got = recv(t, rec.done, "timeout")
	if got.failure != CalloutTimeout || got.err != ErrCalloutTimeout {
		t.Fatalf("timeout: %+v", got)
	}
	if hs := c.Hosts()[0].Stats(); hs.RqTimeout != 1 {
		t.Fatalf("the host must be charged with the timeout: %+v", hs)
	}

	rec, _ = startCallout(t, w, c, "/big", "", time.Second, 1000)
	if got = recv(t, rec.done, "too large"); got.failure != CalloutResponseTooLarge {
		t.Fatalf("too large: %+v", got)
	}

	rec, co := startCallout(t, w, c, "/hang", "", time.Second, 0)
	onLoop(t, w, co.Cancel)
	waitStats(t, w, c, "the cancelled stream to go", func(s Stats) bool { return s.RqActive == 0 })
	select {
	case r := <-rec.done:
		t.Fatalf("a cancelled callout delivered %+v", r)
	default:
	}

	dead := newTestCluster(t, ws, Settings{Name: "dead", Endpoints: []netip.AddrPort{closedPortAddr(t)}})
	rec, _ = startCallout(t, w, dead, "/", "", time.Second, 0)
	if got = recv(t, rec.done, "connect failure"); got.failure != CalloutConnectFailure || got.err == nil {
		t.Fatalf("connect failure: %+v", got)
	}
	empty := newTestCluster(t, ws, Settings{Name: "empty"})
	rec, _ = startCallout(t, w, empty, "/", "", time.Second, 0)
	if got = recv(t, rec.done, "no host"); got.failure != CalloutNoHealthyUpstream {
		t.Fatalf("no host: %+v", got)
	}
}
