package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/tlscontext/tlstest"
)

// tlsBackend is an HTTPS backend with certificate leaf; it answers with
// what it saw of the connection: protocol, SNI, client certificate.
func tlsBackend(t *testing.T, e *tlsEnv, leaf tlstest.Leaf, h2 bool, clientCAs bool) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			peer = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "proto=%s sni=%s peer=%s", r.Proto, r.TLS.ServerName, peer)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{e.ca.Issue(leaf).Cert}}
	if clientCAs {
		srv.TLS.ClientCAs, srv.TLS.ClientAuth = e.ca.Pool(), tls.RequireAndVerifyClientCert
	}
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "https://")
}

// upstreamTLS is a cluster's transport_socket (YAML at column 0).
func upstreamTLS(sni, common string) string {
	s := "transport_socket:\n  name: tls\n  config:\n"
	if sni != "" {
		s += "    sni: " + sni + "\n"
	}
	if common != "" {
		s += "    common_tls_context:\n" + indent(common, 6) + "\n"
	}
	return s
}

const proxyAll = `- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    route: { cluster: backend }`

var backendLeaf = tlstest.Leaf{CommonName: "backend", DNSNames: []string{"backend.internal"}}

// TLS to the endpoints: verified against the CA file with the SNI; HTTP/1.1
// and HTTP/2 (ALPN h2); the cluster's HTTP health checks use TLS too.
func TestUpstreamTLS(t *testing.T) {
	e := newTLSEnv(t)
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			be := tlsBackend(t, e, backendLeaf, h2, false)
			extra := upstreamTLS("backend.internal", "validation_context: { trusted_ca: { filename: "+e.caFile+" } }") +
				"health_checks: [{ timeout: 2s, interval: 100ms, unhealthy_threshold: 1, healthy_threshold: 1, http_health_check: { path: /healthz } }]"
			want := "proto=HTTP/1.1 sni=backend.internal peer=-"
			if h2 {
				extra += "\nhttp2_protocol_options: {}"
				want = "proto=HTTP/2.0 sni=backend.internal peer=-"
			}
			p := startSluice(t, listenerConfig("", proxyAll, staticCluster("backend", extra, be), ""))
			waitStat(t, p, "cluster.backend.membership_healthy", 1)
			resp, body := get(t, newClient(t), p.URL("/over-tls"), nil)
			if resp.StatusCode != 200 || body != want {
				t.Fatalf("%d %q, want %q", resp.StatusCode, body, want)
			}
			if n := adminStat(t, p, "cluster.backend.health_check.success"); n == 0 {
				t.Fatal("no successful health check over TLS")
			}
		})
	}
}

// A client certificate (mTLS) is sent when the endpoint asks; without one
// the handshake fails (TLS 1.2, where the server decides before its
// Finished) and the request gets a 503 that says why.
func TestUpstreamMutualTLS(t *testing.T) {
	e := newTLSEnv(t)
	be := tlsBackend(t, e, backendLeaf, false, true)
	client := e.files["client"]
	withCert := upstreamTLS("backend.internal", fmt.Sprintf(`tls_certificates:
- certificate_chain: { filename: %s }
  private_key: { filename: %s }
validation_context: { trusted_ca: { filename: %s } }`, client[0], client[1], e.caFile))
	p := startSluice(t, listenerConfig("", proxyAll, staticCluster("backend", withCert, be), ""))
	if resp, body := get(t, newClient(t), p.URL("/"), nil); resp.StatusCode != 200 || body != "proto=HTTP/1.1 sni=backend.internal peer=client-1" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}

	without := upstreamTLS("backend.internal", "tls_params: { tls_maximum_protocol_version: TLSv1_2 }\nvalidation_context: { trusted_ca: { filename: "+e.caFile+" } }")
	p = startSluice(t, listenerConfig("", proxyAll, staticCluster("backend", without, be), ""))
	resp, body := get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "transport failure reason: TLS error: ") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	l := p.AccessLines(1)[0]
	if l["response_flags"] != "UF" || l["details"] != "upstream_reset_before_response_started{connection_failure,TLS_error:handshake_failed}" {
		t.Fatalf("access log: %v", l)
	}
}

// Endpoints whose certificate does not verify: expired, from a CA the
// cluster does not trust (the system roots by default), or for another
// name. Each request gets a 503 with UF and a details string naming the
// verification failure; ACCEPT_UNTRUSTED lets the expired one through.
func TestUpstreamTLSVerificationFailures(t *testing.T) {
	e := newTLSEnv(t)
	expired := tlsBackend(t, e, tlstest.Leaf{DNSNames: []string{"backend.internal"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}, false, false)
	valid := tlsBackend(t, e, backendLeaf, false, false)
	trustCA := "validation_context: { trusted_ca: { filename: " + e.caFile + " } }"
	cases := []struct {
		name, addr, transport, wantBody string
	}{
		{"expired", expired, upstreamTLS("backend.internal", trustCA), "certificate has expired or is not yet valid"},
		{"expired without sni", expired, upstreamTLS("", trustCA), "certificate has expired or is not yet valid"},
		{"system roots", valid, upstreamTLS("backend.internal", ""), "certificate signed by unknown authority"},
		{"wrong name", valid, upstreamTLS("other.internal", trustCA), "certificate is valid for backend.internal, not other.internal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := startSluice(t, listenerConfig("", proxyAll, staticCluster("backend", tc.transport, tc.addr), ""))
			resp, body := get(t, newClient(t), p.URL("/"), nil)
			if resp.StatusCode != 503 || !strings.HasPrefix(body, "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: ") ||
				!strings.Contains(body, tc.wantBody) {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			l := p.AccessLines(1)[0]
			if l["status"] != float64(503) || l["response_flags"] != "UF" ||
				l["details"] != "upstream_reset_before_response_started{connection_failure,TLS_error:certificate_verify_failed}" {
				t.Fatalf("access log: %v", l)
			}
			if n := adminStat(t, p, "cluster.backend.upstream_cx_connect_fail"); n == 0 {
				t.Fatal("upstream_cx_connect_fail not counted")
			}
		})
	}
	t.Run("accept untrusted", func(t *testing.T) {
		p := startSluice(t, listenerConfig("", proxyAll, staticCluster("backend",
			upstreamTLS("", "validation_context: { trust_chain_verification: ACCEPT_UNTRUSTED }"), expired), ""))
		if resp, body := get(t, newClient(t), p.URL("/"), nil); resp.StatusCode != 200 || !strings.HasPrefix(body, "proto=HTTP/1.1") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	})
}

// An endpoint that does not speak TLS at all: the handshake fails and the
// request gets a 503 (handshake_failed), not a hang.
func TestUpstreamTLSToCleartextEndpoint(t *testing.T) {
	be := newEchoBackend(t)
	p := startSluice(t, listenerConfig("", proxyAll, staticCluster("backend", upstreamTLS("", "validation_context: { trust_chain_verification: ACCEPT_UNTRUSTED }"), backendAddr(be.Server)), ""))
	resp, body := get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 503 || !strings.Contains(body, "first record does not look like a TLS handshake") {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if l := p.AccessLines(1)[0]; l["details"] != "upstream_reset_before_response_started{connection_failure,TLS_error:handshake_failed}" {
		t.Fatalf("access log: %v", l)
	}
}

// tcp_proxy to a TLS cluster originates TLS: the client speaks cleartext,
// the endpoint TLS.
func TestTCPProxyOriginatesTLS(t *testing.T) {
	e := newTLSEnv(t)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{e.ca.Issue(backendLeaf).Cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
	p := startSluice(t, tcpProxyConfig(ln.Addr().String(), "", "", "")+
		indent(upstreamTLS("backend.internal", "validation_context: { trusted_ca: { filename: "+e.caFile+" } }"), 2)+"\n")
	c, err := net.DialTimeout("tcp", p.Addr("main"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "ping over tls")
	got := make([]byte, len("ping over tls"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping over tls" {
		t.Fatalf("echo %q %v", got, err)
	}
}

// An HTTP/2 cluster offering h2 and http/1.1 to an endpoint that only
// speaks HTTP/1.1: the endpoint picks http/1.1, which the cluster does not
// speak, so the connection fails with a 503 that says so (alpn_mismatch)
// rather than sending HTTP/2 frames to an HTTP/1.1 server.
func TestUpstreamTLSALPNMismatch(t *testing.T) {
	e := newTLSEnv(t)
	be := tlsBackend(t, e, backendLeaf, false, false)
	transport := upstreamTLS("backend.internal", "alpn_protocols: [h2, http/1.1]\nvalidation_context: { trusted_ca: { filename: "+e.caFile+" } }") +
		"http2_protocol_options: {}"
	p := startSluice(t, listenerConfig("", proxyAll, staticCluster("backend", transport, be), ""))
	resp, body := get(t, newClient(t), p.URL("/"), nil)
	if resp.StatusCode != 503 || body != "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: TLS error: "+
		"cluster: the endpoint negotiated another application protocol (ALPN) than the cluster's" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if l := p.AccessLines(1)[0]; l["response_flags"] != "UF" || l["details"] != "upstream_reset_before_response_started{connection_failure,TLS_error:alpn_mismatch}" {
		t.Fatalf("access log: %v", l)
	}
}
