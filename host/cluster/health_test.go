package cluster

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"

	"github.com/sluiceproxy/sluice/host/healthcheck"
)

func httpCheck(path string) healthcheck.Config {
	return healthcheck.Config{
		Timeout: time.Second, Interval: 10 * time.Millisecond,
		UnhealthyThreshold: 2, HealthyThreshold: 2,
		HTTP: &healthcheck.HTTP{Path: path},
	}
}

func hostOf(c *Cluster, a netip.AddrPort) *Host {
	for _, h := range c.Hosts() {
		if h.Addr() == a {
			return h
		}
	}
	return nil
}

// answers sends n GETs and counts the answers.
func answers(t *testing.T, c *Cluster, n int) map[string]int {
	t.Helper()
	ws := make(map[string]int)
	for range n {
		ws[who(t, c.pools[0].w, c, "/")]++
	}
	return ws
}

func TestHTTPHealthCheckRemovesAndRestoresHosts(t *testing.T) {
	bs, _ := backendsOnPort(t, "a", "b", "c")
	ws := startWorkers(t, 1)
	c := startManaged(t, ws, Settings{
		Endpoints:    []netip.AddrPort{bs[0].addr, bs[1].addr, bs[2].addr},
		HealthChecks: []healthcheck.Config{httpCheck("/healthz")},
	})
	// Ready means every host passed its first check.
	for _, h := range c.Hosts() {
		if !h.Healthy() {
			t.Fatalf("host %v flags %b after warming", h.Addr(), h.HealthFlags())
		}
	}
	bs[0].setHealthy(false)
	a := hostOf(c, bs[0].addr)
	waitFor(t, "a to fail its checks", func() bool { return a.HealthFlags()&FlagFailedActiveHC != 0 })
	if got := answers(t, c, 12); got["200 a"] != 0 || got["200 b"] == 0 || got["200 c"] == 0 {
		t.Fatalf("answers with a unhealthy: %v", got)
	}
	bs[0].setHealthy(true)
	waitFor(t, "a to pass again", func() bool { return a.Healthy() })
	if got := answers(t, c, 12); got["200 a"] == 0 {
		t.Fatalf("answers with a healthy again: %v", got)
	}
	st := c.Stats()
	if st.HCAttempt == 0 || st.HCSuccess == 0 || st.HCFailure < 2 || st.HCNetworkFailure != 0 || st.HCHealthy != 3 || st.MembershipHealthy != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHealthCheckNetworkFailureAndPanicRouting(t *testing.T) {
	bs, _ := backendsOnPort(t, "a", "b")
	ws := startWorkers(t, 1)
	hc := httpCheck("/healthz")
	hc.UnhealthyThreshold = 1
	c := startManaged(t, ws, Settings{Endpoints: []netip.AddrPort{bs[0].addr, bs[1].addr}, HealthChecks: []healthcheck.Config{hc}})
	// Both fail their checks: with every host unhealthy the cluster
	// routes to all of them (panic), so requests still reach a and b.
	bs[0].setHealthy(false)
	bs[1].setHealthy(false)
	waitFor(t, "both unhealthy", func() bool { return c.Stats().MembershipHealthy == 0 })
	if got := answers(t, c, 10); got["200 a"] == 0 || got["200 b"] == 0 {
		t.Fatalf("panic routing: %v", got)
	}
	// A host that stops listening fails with a network failure.
	bs[0].setHealthy(true)
	bs[1].setHealthy(true)
	waitFor(t, "both healthy", func() bool { return c.Stats().MembershipHealthy == 2 })
	bs[1].srv.Close()
	waitFor(t, "b down", func() bool { return !hostOf(c, bs[1].addr).Healthy() })
	if st := c.Stats(); st.HCNetworkFailure == 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := answers(t, c, 6); got["200 a"] != 6 {
		t.Fatalf("answers: %v", got)
	}
}

func TestPanicThresholdZeroFailsWithoutHealthyHosts(t *testing.T) {
	bs, _ := backendsOnPort(t, "a")
	ws := startWorkers(t, 1)
	hc := httpCheck("/healthz")
	hc.UnhealthyThreshold = 1
	c := startManaged(t, ws, Settings{Endpoints: []netip.AddrPort{bs[0].addr}, HealthChecks: []healthcheck.Config{hc}, PanicThreshold: -1})
	bs[0].setHealthy(false)
	waitFor(t, "a unhealthy", func() bool { return c.Stats().MembershipHealthy == 0 })
	if got := who(t, ws[0], c, "/"); got != "failure no_healthy_upstream" {
		t.Fatalf("no healthy host, panic disabled: %s", got)
	}
}

func TestOutlierDetectionEjectsAndReturns(t *testing.T) {
	bs, _ := backendsOnPort(t, "a", "b")
	bs[0].setStatus(500)
	ws := startWorkers(t, 1)
	o := DefaultOutlierOptions()
	o.Consecutive5xx = 3
	o.Interval = 10 * time.Millisecond
	o.BaseEjectionTime = 300 * time.Millisecond
	o.MaxEjectionPercent = 50
	c := startManaged(t, ws, Settings{Endpoints: []netip.AddrPort{bs[0].addr, bs[1].addr}, Outlier: &o})
	a := hostOf(c, bs[0].addr)
	// Round robin alternates: a's third 500 comes within six requests.
	for range 6 {
		who(t, ws[0], c, "/")
	}
	waitFor(t, "a ejected", func() bool { return a.HealthFlags()&FlagFailedOutlierCheck != 0 })
	if got := answers(t, c, 10); got["200 b"] != 10 {
		t.Fatalf("answers while a is ejected: %v", got)
	}
	st := c.Stats()
	if st.ODEjectionsEnforcedTotal != 1 || st.ODEnforced5xx != 1 || st.ODDetected5xx != 1 || st.ODEjectionsActive != 1 {
		t.Fatalf("stats %+v", st)
	}
	bs[0].setStatus(0)
	waitFor(t, "a back after base_ejection_time", func() bool { return a.Healthy() })
	if got := answers(t, c, 10); got["200 a"] == 0 {
		t.Fatalf("answers after the ejection: %v", got)
	}
	if st := c.Stats(); st.ODEjectionsActive != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOutlierMaxEjectionPercent(t *testing.T) {
	bs, _ := backendsOnPort(t, "a", "b")
	bs[0].setStatus(503)
	bs[1].setStatus(503)
	ws := startWorkers(t, 1)
	o := DefaultOutlierOptions()
	o.Consecutive5xx = 2
	o.Interval = time.Hour
	o.MaxEjectionPercent = 50
	c := startManaged(t, ws, Settings{Endpoints: []netip.AddrPort{bs[0].addr, bs[1].addr}, Outlier: &o})
	for range 8 {
		who(t, ws[0], c, "/")
	}
	waitFor(t, "an ejection and an overflow", func() bool {
		st := c.Stats()
		return st.ODEjectionsActive == 1 && st.ODEjectionsOverflow >= 1
	})
	// The default 10 % ejects nothing from two hosts; always_eject_one_host
	// ejects one.
	o.MaxEjectionPercent = 10
	c2 := startManaged(t, ws, Settings{Name: "ten", Endpoints: []netip.AddrPort{bs[0].addr, bs[1].addr}, Outlier: &o})
	for range 6 {
		who(t, ws[0], c2, "/")
	}
	waitFor(t, "overflow", func() bool { return c2.Stats().ODEjectionsOverflow >= 2 })
	if st := c2.Stats(); st.ODEjectionsActive != 0 {
		t.Fatalf("10%% of 2 hosts: %+v", st)
	}
	o.AlwaysEjectOneHost = true
	c3 := startManaged(t, ws, Settings{Name: "one", Endpoints: []netip.AddrPort{bs[0].addr, bs[1].addr}, Outlier: &o})
	for range 6 {
		who(t, ws[0], c3, "/")
	}
	waitFor(t, "one ejection", func() bool { return c3.Stats().ODEjectionsActive == 1 })
}

func TestOutlierLocalOriginFailures(t *testing.T) {
	bs, _ := backendsOnPort(t, "b")
	dead := closedPortAddr(t)
	ws := startWorkers(t, 1)
	o := DefaultOutlierOptions()
	o.SplitExternalLocalOriginErrors = true
	o.ConsecutiveLocalOriginFailure = 2
	o.Interval = time.Hour
	o.MaxEjectionPercent = 50
	c := startManaged(t, ws, Settings{Endpoints: []netip.AddrPort{dead, bs[0].addr}, Outlier: &o})
	for range 4 {
		who(t, ws[0], c, "/")
	}
	waitFor(t, "the dead host ejected", func() bool { return !hostOf(c, dead).Healthy() })
	st := c.Stats()
	if st.ODEnforcedLocal != 1 || st.ODDetectedLocal != 1 || st.ODEnforced5xx != 0 {
		t.Fatalf("stats %+v", st)
	}
	if got := answers(t, c, 5); got["200 b"] != 5 {
		t.Fatalf("answers: %v", got)
	}
	if hs := hostOf(c, dead).Stats(); hs.CxConnectFail < 2 {
		t.Fatalf("host stats %+v", hs)
	}
}

func TestHealthCheckUnejectsOutlier(t *testing.T) {
	bs, _ := backendsOnPort(t, "a", "b")
	bs[0].setStatus(500)
	ws := startWorkers(t, 1)
	o := DefaultOutlierOptions()
	o.Consecutive5xx = 2
	o.Interval = time.Hour
	o.BaseEjectionTime = time.Hour
	o.MaxEjectionPercent = 50
	hc := httpCheck("/healthz")
	hc.Interval = 50 * time.Millisecond
	c := startManaged(t, ws, Settings{Endpoints: []netip.AddrPort{bs[0].addr, bs[1].addr}, Outlier: &o, HealthChecks: []healthcheck.Config{hc}})
	for range 4 {
		who(t, ws[0], c, "/")
	}
	a := hostOf(c, bs[0].addr)
	waitFor(t, "a ejected", func() bool { return a.HealthFlags()&FlagFailedOutlierCheck != 0 })
	// /healthz of a passes all along: the next check brings it back long
	// before the hour-long ejection ends.
	waitFor(t, "a unejected by its health check", func() bool { return a.Healthy() })
}

func TestTCPAndGRPCHealthChecks(t *testing.T) {
	// TCP: a backend answers PONG to PING only while healthy.
	var tcpOK atomic.Bool
	tcpOK.Store(true)
	srv := newRawServer(t, func(_ int, c net.Conn, br *bufio.Reader) {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if line == "PING\n" && tcpOK.Load() {
			io.WriteString(c, "PONG\n")
		}
	})
	ws := startWorkers(t, 1)
	c := startManaged(t, ws, Settings{Name: "tcp", Endpoints: []netip.AddrPort{srv.addr}, HealthChecks: []healthcheck.Config{{
		Timeout: 200 * time.Millisecond, Interval: 10 * time.Millisecond, UnhealthyThreshold: 1, HealthyThreshold: 1,
		TCP: &healthcheck.TCP{Send: []byte("PING\n"), Receive: [][]byte{[]byte("PONG")}},
	}}})
	h := c.Hosts()[0]
	tcpOK.Store(false)
	waitFor(t, "TCP check to fail", func() bool { return !h.Healthy() })
	tcpOK.Store(true)
	waitFor(t, "TCP check to pass", func() bool { return h.Healthy() })

	// gRPC: grpc.health.v1 SERVING / NOT_SERVING over h2c.
	var serving atomic.Bool
	serving.Store(true)
	grpcSrv := httptest.NewServer(h2c.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		status := byte(1)
		if !serving.Load() {
			status = 2
		}
		w.Header().Set("content-type", "application/grpc")
		w.Header().Set("trailer", "grpc-status")
		w.Write([]byte{0, 0, 0, 0, 2, 0x08, status})
		w.Header().Set("grpc-status", "0")
	}), &http2.Server{}))
	t.Cleanup(grpcSrv.Close)
	g := startManaged(t, ws, Settings{Name: "grpc", Endpoints: []netip.AddrPort{netip.MustParseAddrPort(grpcSrv.Listener.Addr().String())},
		HealthChecks: []healthcheck.Config{{Timeout: time.Second, Interval: 10 * time.Millisecond, UnhealthyThreshold: 1, HealthyThreshold: 1,
			GRPC: &healthcheck.GRPC{}}}})
	gh := g.Hosts()[0]
	serving.Store(false)
	waitFor(t, "NOT_SERVING", func() bool { return !gh.Healthy() })
	var st []HostStatus
	waitFor(t, "the failure recorded", func() bool {
		st = g.HostStatuses()
		return st[0].HealthCheck.LastFailure != ""
	})
	if st[0].HealthCheck.LastFailure != "health check failed: grpc: NOT_SERVING" || HealthFlagsString(st[0].HealthFlags) != "/failed_active_hc" {
		t.Fatalf("status %+v", st[0])
	}
	serving.Store(true)
	waitFor(t, "SERVING", func() bool { return gh.Healthy() })
}
