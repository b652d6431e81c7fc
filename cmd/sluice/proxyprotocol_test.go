package main

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// proxiedChain is a filter chain (list item) whose connection manager
// forwards everything to cluster "backend", with extra network filters
// before it.
func proxiedChain(name, match, transport, filters string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- name: %s\n", name)
	if match != "" {
		fmt.Fprintf(&b, "  filter_chain_match: %s\n", match)
	}
	if transport != "" {
		b.WriteString(indent(transport, 2) + "\n")
	}
	b.WriteString("  filters:\n")
	if filters != "" {
		b.WriteString(indent(filters, 2) + "\n")
	}
	fmt.Fprintf(&b, `  - name: http_connection_manager
    config:
      stat_prefix: %s
      use_remote_address: true
      access_log: [{ path: "%%ACCESS_LOG%%", format: json }]
      http_filters: [{ name: router }]
      route_config:
        virtual_hosts:
        - name: all
          domains: ["*"]
          routes:
          - match: { prefix: / }
            route: { cluster: backend }
`, name)
	return b.String()
}

func proxyV2(cmd byte, src, dst string) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n")
	b = append(b, 0x20|cmd, 0x11, 0, 12)
	sa, da := s.Addr().As4(), d.Addr().As4()
	b = append(append(b, sa[:]...), da[:]...)
	b = binary.BigEndian.AppendUint16(b, s.Port())
	return binary.BigEndian.AppendUint16(b, d.Port())
}

// sendAfterHeader connects, writes the PROXY header, then runs one HTTP
// request (over TLS when cfg is set) and returns the response.
func sendAfterHeader(t *testing.T, addr string, header []byte, cfg *tls.Config, req string) (*http.Response, string) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := raw.Write(header); err != nil {
		t.Fatal(err)
	}
	var c net.Conn = raw
	if cfg != nil {
		tc := tls.Client(raw, cfg)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("handshake after the PROXY header: %v", err)
		}
		c = tc
	}
	io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(body)
}

const getReq = "GET /pp HTTP/1.1\r\nHost: example\r\nConnection: close\r\n\r\n"

// PROXY v1 before TLS and v2 before cleartext: the addresses they carry
// are the client's for x-forwarded-for and the access log; a v2 LOCAL
// header (a balancer's health check) keeps the socket's.
func TestProxyProtocolAddresses(t *testing.T) {
	e := newTLSEnv(t)
	be := newEchoBackend(t)
	p := startSluice(t, tlsListenerConfig("[{ name: proxy_protocol }, { name: tls_inspector }]", "", []string{
		proxiedChain("tls", "{ transport_protocol: tls }", e.downstreamTLS("default", ""), ""),
		proxiedChain("plain", "{ transport_protocol: raw_buffer }", "", ""),
	}, "", staticCluster("backend", "", backendAddr(be.Server))))
	addr := p.Addr("main")

	resp, _ := sendAfterHeader(t, addr, []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n"), e.clientConfig("localhost"), getReq)
	if got := resp.Header.Get("x-echo-x-forwarded-for"); resp.StatusCode != 200 || got != "203.0.113.7" {
		t.Fatalf("v1 over TLS: %d, x-forwarded-for %q", resp.StatusCode, got)
	}
	resp, _ = sendAfterHeader(t, addr, proxyV2(1, "198.51.100.9:4000", "192.0.2.1:80"), nil, getReq)
	if got := resp.Header.Get("x-echo-x-forwarded-for"); got != "198.51.100.9" {
		t.Fatalf("v2: x-forwarded-for %q", got)
	}
	resp, _ = sendAfterHeader(t, addr, proxyV2(0, "198.51.100.9:4000", "192.0.2.1:80"), nil, getReq)
	if got := resp.Header.Get("x-echo-x-forwarded-for"); got != "127.0.0.1" {
		t.Fatalf("v2 LOCAL: x-forwarded-for %q", got)
	}
	l := byConn(p.AccessLines(3))
	if l[0]["downstream_remote_address"] != "203.0.113.7:51234" || l[0]["downstream_tls_version"] != "TLSv1.3" ||
		l[1]["downstream_remote_address"] != "198.51.100.9:4000" || !strings.HasPrefix(fmt.Sprint(l[2]["downstream_remote_address"]), "127.0.0.1:") {
		t.Fatalf("access log: %v", l)
	}
	if v1, v2 := adminStat(t, p, "listener.main.proxy_protocol.v1_found"), adminStat(t, p, "listener.main.proxy_protocol.v2_found"); v1 != 1 || v2 != 2 {
		t.Fatalf("found v1 %d v2 %d", v1, v2)
	}
}

// Where the listener has no proxy_protocol filter, a PROXY line is the
// client's data (a bad request), never its address; where it has one, a
// second header after the balancer's is data too; malformed or missing
// headers close the connection and are counted.
func TestProxyProtocolSpoofingRefused(t *testing.T) {
	be := newEchoBackend(t)
	cluster := staticCluster("backend", "", backendAddr(be.Server))
	plain := startSluice(t, tlsListenerConfig("", "", []string{proxiedChain("plain", "", "", "")}, "", cluster))
	out := rawExchange(t, plain.Addr("main"), "PROXY TCP4 6.6.6.6 192.0.2.1 1 80\r\n"+getReq)
	if !strings.HasPrefix(out, "HTTP/1.1 400 Bad Request") {
		t.Fatalf("PROXY line to a listener without the filter: %q", firstLine(out))
	}
	if l := plain.AccessLines(1)[0]; !strings.HasPrefix(fmt.Sprint(l["downstream_remote_address"]), "127.0.0.1:") {
		t.Fatalf("access log: %v", l)
	}

	p := startSluice(t, tlsListenerConfig("[{ name: proxy_protocol }]", "", []string{proxiedChain("pp", "", "", "")}, "", cluster))
	addr := p.Addr("main")
	out = rawExchange(t, addr, "PROXY TCP4 203.0.113.7 192.0.2.1 1 80\r\nPROXY TCP4 6.6.6.6 192.0.2.1 1 80\r\n"+getReq)
	if !strings.HasPrefix(out, "HTTP/1.1 400 Bad Request") {
		t.Fatalf("second PROXY header: %q", firstLine(out))
	}
	if l := p.AccessLines(1)[0]; l["downstream_remote_address"] != "203.0.113.7:1" || l["response_flags"] != "DPE" {
		t.Fatalf("access log: %v", l)
	}
	for _, bad := range []string{
		"PROXY TCP4 6.6.6.6 192.0.2.1 1\r\n" + getReq,      // a field short
		"PROXY TCP4 6.6.6.666 192.0.2.1 1 80\r\n" + getReq, // not an address
		"PROXY TCP6 6.6.6.6 192.0.2.1 1 80\r\n" + getReq,   // the wrong family
		"PROXY TCP4 " + strings.Repeat("6", 120) + "\r\n",  // longer than the 107-byte bound
		"\r\n\r\n\x00\r\nQUIT\n\x21\x41\x00\x00" + getReq,  // v2 with an unknown family
	} {
		if out := rawExchange(t, addr, bad); out != "" {
			t.Fatalf("malformed header %q answered %q", bad[:20], out)
		}
	}
	waitStat(t, p, "listener.main.proxy_protocol.malformed", 5)
	if out := rawExchange(t, addr, getReq); out != "" {
		t.Fatalf("no header answered %q", out)
	}
	waitStat(t, p, "listener.main.proxy_protocol.missing", 1)
	waitStat(t, p, "listener.main.downstream_listener_filter_error", 6)
	if n := be.conns.Load(); n != 0 {
		t.Fatalf("the backend saw %d connections", n)
	}
}

// client_ip_allow and source_prefix_ranges judge the address PROXY
// protocol carried, not the balancer's.
func TestProxyProtocolSourceDecides(t *testing.T) {
	be := newEchoBackend(t)
	p := startSluice(t, tlsListenerConfig("[{ name: proxy_protocol }]", "", []string{
		proxiedChain("partner", `{ source_prefix_ranges: ["203.0.113.0/24"] }`, "",
			"- name: client_ip_allow\n  config: { stat_prefix: partner, allow: [203.0.113.7] }"),
		proxiedChain("public", "", "", ""),
	}, "", staticCluster("backend", "", backendAddr(be.Server))))
	addr := p.Addr("main")
	if resp, _ := sendAfterHeader(t, addr, []byte("PROXY TCP4 203.0.113.7 192.0.2.1 1 80\r\n"), nil, getReq); resp.StatusCode != 200 {
		t.Fatalf("allowed partner: %d", resp.StatusCode)
	}
	if out := rawExchange(t, addr, "PROXY TCP4 203.0.113.8 192.0.2.1 1 80\r\n"+getReq); out != "" {
		t.Fatalf("partner range, not allowed: %q", firstLine(out))
	}
	if resp, _ := sendAfterHeader(t, addr, []byte("PROXY TCP4 198.51.100.1 192.0.2.1 1 80\r\n"), nil, getReq); resp.StatusCode != 200 {
		t.Fatalf("public: %d", resp.StatusCode)
	}
	waitStat(t, p, "client_ip_allow.partner.denied", 1)
	if n := adminStat(t, p, "client_ip_allow.partner.allowed"); n != 1 {
		t.Fatalf("allowed = %d", n)
	}
	if n := adminStat(t, p, "http.public.downstream_cx_total"); n != 1 {
		t.Fatalf("public chain connections = %d", n)
	}
}
