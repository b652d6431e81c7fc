package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// requireLoopbackOnly checks that the admin endpoint at path changes
// nothing unless POSTed from a loopback address: other methods get 405,
// other addresses 403, with the exact texts. Every mutating endpoint gets
// a test that calls it, then checks its effect did not happen.
func requireLoopbackOnly(t *testing.T, h http.Handler, path string) {
	t.Helper()
	for _, c := range []struct {
		method, remote string
		status         int
		body           string
	}{
		{"GET", "127.0.0.1:40000", 405, "method not allowed: use POST\n"},
		{"PUT", "[::1]:40000", 405, "method not allowed: use POST\n"},
		{"POST", "192.0.2.7:40000", 403, "forbidden: only from a loopback address\n"},
		{"POST", "[2001:db8::7]:40000", 403, "forbidden: only from a loopback address\n"},
		{"POST", "10.1.2.3:1", 403, "forbidden: only from a loopback address\n"},
	} {
		req := httptest.NewRequest(c.method, path, nil)
		req.RemoteAddr = c.remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != c.status || rec.Body.String() != c.body {
			t.Fatalf("%s %s from %s: %d %q, want %d %q", c.method, path, c.remote, rec.Code, rec.Body.String(), c.status, c.body)
		}
	}
}

func TestMutatingEndpointsAreLoopbackOnly(t *testing.T) {
	s := startServer(t, twoWorkers)
	mux := s.adminMux()
	requireLoopbackOnly(t, mux, "/drain_listeners")
	if s.Draining() {
		t.Fatal("a refused /drain_listeners started a drain")
	}
	if code, body := ready(t, s); code != 200 || body != "LIVE\n" {
		t.Fatalf("/ready: %d %q", code, body)
	}
	// From loopback (IPv4, IPv6, IPv4-mapped) it acts.
	for _, remote := range []string{"[::ffff:127.0.0.1]:1", "127.0.0.2:1"} {
		req := httptest.NewRequest("POST", "/drain_listeners", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 || rec.Body.String() != "drained\n" {
			t.Fatalf("POST from %s: %d %q", remote, rec.Code, rec.Body.String())
		}
	}
	if code, body := ready(t, s); code != 503 || !strings.HasPrefix(body, "DRAINING") {
		t.Fatalf("/ready after the drain: %d %q", code, body)
	}
}
