package router

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

const hashRoutes = `          - name: v
            domains: ["*"]
            retry_policy: { retry_on: "5xx,reset", num_retries: 3 }
            include_request_attempt_count: true
            per_request_buffer_limit_bytes: 4096
            routes:
            - name: header
              match: { prefix: /h }
              route: { cluster: c, hash_policy: [{ header: { header_name: X-User } }] }
            - name: chain
              match: { prefix: /chain }
              route:
                cluster: c
                hash_policy:
                - { cookie: { name: session }, terminal: true }
                - query_parameter: { name: user }
                - connection_properties: { source_ip: true }
                retry_policy:
                  retry_on: gateway-error,retriable-status-codes,connect-failure
                  num_retries: 2
                  per_try_timeout: 250ms
                  retry_back_off: { base_interval: 10ms }
                  retriable_status_codes: [418]
                  retry_host_predicate: [{ name: envoy.retry_host_predicates.previous_hosts }]
              per_request_buffer_limit_bytes: 10
            - name: plain
              match: { prefix: / }
              route: { cluster: c }
`

func TestHashKey(t *testing.T) {
	tab := compile(t, hashRoutes)
	src := netip.MustParseAddrPort("192.0.2.7:5555")
	h := func(s string) uint64 { return xxhash.Sum64String(s) }
	rotx := func(a, b uint64) uint64 { return (a<<1 | a>>63) ^ b }
	cases := []struct {
		name string
		req  []string // path, then header pairs
		want uint64
		ok   bool
	}{
		{"header", []string{"/h", "x-user", "alice"}, h("alice"), true},
		{"header values in order", []string{"/h", "x-user", "a", "x-user", "b"}, rotx(h("a"), h("b")), true},
		{"header missing", []string{"/h"}, 0, false},
		{"terminal cookie", []string{"/chain?user=bob", "cookie", "theme=dark; session=\"s1\""}, h("s1"), true},
		{"cookie in a later header", []string{"/chain", "cookie", "a=1", "cookie", "session=s2"}, h("s2"), true},
		{"query then source", []string{"/chain?x=1&user=bob#frag"}, rotx(h("bob"), h("192.0.2.7")), true},
		{"empty query value", []string{"/chain?user"}, rotx(h(""), h("192.0.2.7")), true},
		{"source only", []string{"/chain?username=x", "cookie", "sessionx=1"}, h("192.0.2.7"), true},
		{"no policy", []string{"/other", "x-user", "alice"}, 0, false},
	}
	for _, c := range cases {
		req := request("x", c.req[0], c.req[1:]...)
		r := tab.Match(req)
		got, ok := r.HashKey(req, src)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: %x %v, want %x %v", c.name, got, ok, c.want, c.ok)
		}
	}
	req := request("x", "/chain?user=bob", "cookie", "a=1")
	r := tab.Match(req)
	if !raceEnabled {
		if a := testing.AllocsPerRun(100, func() { r.HashKey(req, src) }); a != 0 {
			t.Errorf("HashKey: %v allocs", a)
		}
	}
}

func TestRetryPolicyCompile(t *testing.T) {
	tab := compile(t, hashRoutes)
	vh := tab.Match(request("x", "/h"))
	if p := vh.Retry; p == nil || p.On != Retry5xx|RetryReset || p.NumRetries != 3 || p.BaseInterval != 25*time.Millisecond ||
		p.MaxInterval != 250*time.Millisecond || p.PreviousHosts || !vh.IncludeAttemptCount || vh.IncludeAttemptCountInResponse || vh.BufferLimit != 4096 {
		t.Fatalf("virtual host policy: %+v, route %+v", vh.Retry, vh)
	}
	r := tab.Match(request("x", "/chain"))
	p := r.Retry
	if p.On != RetryGatewayError|RetryStatusCodes|RetryConnectFailure || p.NumRetries != 2 || p.PerTryTimeout != 250*time.Millisecond ||
		p.BaseInterval != 10*time.Millisecond || p.MaxInterval != 100*time.Millisecond || !p.PreviousHosts || p.HostSelectionAttempts != 1 || r.BufferLimit != 10 {
		t.Fatalf("route policy: %+v, buffer %d", p, r.BufferLimit)
	}
	for code, want := range map[int]bool{500: false, 502: true, 503: true, 504: true, 418: true, 409: false, 200: false} {
		if got := p.RetriableStatus(code); got != want {
			t.Errorf("gateway-error,418: status %d retriable %v", code, got)
		}
	}
	if !vh.Retry.RetriableStatus(500) || vh.Retry.RetriableStatus(409) {
		t.Error("5xx")
	}
}

func TestRetriableFailure(t *testing.T) {
	cases := []struct {
		on            RetryOn
		f             Failure
		beforeRequest bool
		want          bool
	}{
		{Retry5xx, FailReset, false, true},
		{RetryGatewayError, FailPerTryTimeout, false, true},
		{RetryReset, FailConnect, false, true},
		{RetryConnectFailure, FailConnect, false, true},
		{RetryConnectFailure, FailReset, false, false},
		{RetryConnectFailure, FailPerTryTimeout, false, false},
		{RetryResetBeforeRequest, FailReset, true, true},
		{RetryResetBeforeRequest, FailReset, false, false},
		{RetryRefusedStream, FailRefusedStream, false, true},
		{RetryRefusedStream, FailReset, false, false},
		{Retry4xx | RetryStatusCodes, FailReset, true, false},
	}
	for _, c := range cases {
		p := &RetryPolicy{On: c.on}
		if got := p.RetriableFailure(c.f, c.beforeRequest); got != c.want {
			t.Errorf("on %b failure %d before %v: %v", c.on, c.f, c.beforeRequest, got)
		}
	}
}

// BenchmarkHashKey is the per-request cost of a three-entry hash policy
// (cookie, query parameter, source IP) on a request that has the query
// parameter and the source (figures in bench/RESULTS.md).
func BenchmarkHashKey(b *testing.B) {
	tab := compile(b, hashRoutes)
	req := request("x", "/chain?user=bob&x=1", "cookie", "theme=dark")
	r := tab.Match(req)
	src := netip.MustParseAddrPort("192.0.2.7:5555")
	b.ReportAllocs()
	for b.Loop() {
		r.HashKey(req, src)
	}
}
