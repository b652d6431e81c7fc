package config

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/tlscontext/tlstest"
)

// tcpChain is a filter chain (as a list item at indent 2) with match and
// transport lines inserted before its filters.
func tcpChain(extra string) string {
	return "  - " + strings.TrimPrefix(indentLines(extra, "    "), "    ") +
		"    filters: [{ name: tcp_proxy, config: { stat_prefix: t, cluster: backend } }]\n"
}

func indentLines(s, pad string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(pad + l + "\n")
	}
	return b.String()
}

// l4YAML is a listener with the given listener filters and chains (and
// optional extra listener keys), and a cluster "backend".
func l4YAML(listenerFilters, extra string, chains ...string) string {
	var b strings.Builder
	b.WriteString("listeners:\n- name: main\n  address: 127.0.0.1:0\n")
	if listenerFilters != "" {
		b.WriteString("  listener_filters: " + listenerFilters + "\n")
	}
	b.WriteString(indentLines(extra, "  "))
	if len(chains) > 0 {
		b.WriteString("  filter_chains:\n")
		for _, c := range chains {
			b.WriteString(c)
		}
	}
	b.WriteString(`clusters:
- name: backend
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 8080 } } }
`)
	return b.String()
}

const inspector = "[{ name: tls_inspector }]"

func TestFilterChainMatchValidation(t *testing.T) {
	fc := "listeners[0].filter_chains"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown listener filter", l4YAML("[{ name: original_dst }]", "", tcpChain("")),
			[]string{`listeners[0].listener_filters[0].name: unknown listener filter "original_dst": want tls_inspector or proxy_protocol`}},
		{"listener filter twice", l4YAML("[{ name: tls_inspector }, { name: envoy.filters.listener.tls_inspector }]", "", tcpChain("")),
			[]string{"listeners[0].listener_filters[1].name: tls_inspector is already listed (listeners[0].listener_filters[0])"}},
		{"proxy_protocol after tls_inspector", l4YAML("[{ name: tls_inspector }, { name: proxy_protocol }]", "", tcpChain("")),
			[]string{"listeners[0].listener_filters[1].name: proxy_protocol must come before tls_inspector (listeners[0].listener_filters[0]): the PROXY header precedes the ClientHello"}},
		{"client hello size", l4YAML("[{ name: tls_inspector, config: { max_client_hello_size: 100000 } }]", "", tcpChain("")),
			[]string{"listeners[0].listener_filters[0].config.max_client_hello_size: must be between 64 and 65536"}},
		{"proxy protocol unknown field", l4YAML("[{ name: proxy_protocol, config: { rules: [] } }]", "", tcpChain("")),
			[]string{"listeners[0].listener_filters[0].config.rules: unknown field"}},
		{"negative listener filters timeout", l4YAML(inspector, "listener_filters_timeout: -1s", tcpChain("")),
			[]string{"listeners[0].listener_filters_timeout: must not be negative"}},
		{"server names need the inspector", l4YAML("", "", tcpChain("filter_chain_match: { server_names: [a.example.com] }")),
			[]string{fc + "[0].filter_chain_match.server_names: needs the tls_inspector listener filter (it reads them from the ClientHello)"}},
		{"alpn and tls need the inspector", l4YAML("", "", tcpChain("filter_chain_match: { transport_protocol: tls, application_protocols: [h2] }")),
			[]string{fc + "[0].filter_chain_match.transport_protocol: needs the tls_inspector listener filter (it reads them from the ClientHello)",
				fc + "[0].filter_chain_match.application_protocols: needs the tls_inspector listener filter (it reads them from the ClientHello)"}},
		{"bad server names", l4YAML(inspector, "", tcpChain(`filter_chain_match: { server_names: ["*", "a.*.com", "x y", "*.ok.com"] }`)),
			[]string{
				fc + `[0].filter_chain_match.server_names[0]: invalid server name "*": want a host name such as example.com or a wildcard such as *.example.com`,
				fc + `[0].filter_chain_match.server_names[1]: invalid server name "a.*.com": want a host name such as example.com or a wildcard such as *.example.com`,
				fc + `[0].filter_chain_match.server_names[2]: invalid server name "x y": want a host name such as example.com or a wildcard such as *.example.com`,
			}},
		{"bad transport protocol", l4YAML(inspector, "", tcpChain("filter_chain_match: { transport_protocol: quic }")),
			[]string{fc + `[0].filter_chain_match.transport_protocol: invalid value "quic": want raw_buffer|tls`}},
		{"bad ports", l4YAML("", "", tcpChain("filter_chain_match: { destination_port: 70000, source_ports: [0] }")),
			[]string{fc + "[0].filter_chain_match.destination_port: must be between 1 and 65535",
				fc + "[0].filter_chain_match.source_ports[0]: must be between 1 and 65535"}},
		{"bad cidr ranges", l4YAML("", "", tcpChain(`filter_chain_match:
  source_prefix_ranges: ["10.0.0.0/33", { address_prefix: nowhere, prefix_len: 8 }, "1.2.3.4/x"]`)),
			[]string{
				fc + "[0].filter_chain_match.source_prefix_ranges[0].prefix_len: must be between 0 and 32 for 10.0.0.0",
				fc + `[0].filter_chain_match.source_prefix_ranges[1].address_prefix: invalid IP address "nowhere"`,
				fc + `[0].filter_chain_match.source_prefix_ranges[2]: invalid CIDR "1.2.3.4/x": want address/prefix-length or an address`,
			}},
		{"same server name twice", l4YAML(inspector, "",
			tcpChain("filter_chain_match: { server_names: [a.com, B.com] }"),
			tcpChain("filter_chain_match: { server_names: [b.com] }")),
			[]string{fc + "[1].filter_chain_match: matches the same connections as " + fc + "[0]: make one of them more specific (or merge them)"}},
		{"same prefix written two ways", l4YAML("", "",
			tcpChain(`filter_chain_match: { source_prefix_ranges: ["10.1.2.3/8"] }`),
			tcpChain(`filter_chain_match: { source_prefix_ranges: [{ address_prefix: 10.0.0.0, prefix_len: 8 }] }`)),
			[]string{fc + "[1].filter_chain_match: matches the same connections as " + fc + "[0]: make one of them more specific (or merge them)"}},
		{"default chain with a match", l4YAML("", "default_filter_chain:\n  filter_chain_match: { destination_port: 1 }\n  filters: [{ name: tcp_proxy, config: { stat_prefix: t, cluster: backend } }]"),
			[]string{"listeners[0].default_filter_chain.filter_chain_match: not allowed: the default chain takes the connections no other chain matches"}},
		{"duplicate chain names", l4YAML("", "", tcpChain("name: a\nfilter_chain_match: { destination_port: 1 }"), tcpChain("name: a")),
			[]string{fc + `[1].name: duplicate name "a" (first at listeners[0].filter_chains[0])`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkErrors(t, tc.yaml, tc.want) })
	}
}

// Chains that differ in specificity (exact vs wildcard name, longer vs
// shorter prefix, with vs without a criterion) are not ambiguous, and both
// CIDR forms parse to the same prefix.
func TestFilterChainMatchParses(t *testing.T) {
	yaml := l4YAML(inspector, "default_filter_chain:\n  filters: [{ name: tcp_proxy, config: { stat_prefix: t, cluster: backend } }]",
		tcpChain("filter_chain_match: { server_names: [www.example.com] }"),
		tcpChain(`filter_chain_match: { server_names: ["*.example.com"] }`),
		tcpChain(`filter_chain_match: { server_names: ["*.example.com"], source_prefix_ranges: ["10.0.0.0/8", { address_prefix: 10.1.0.0, prefix_len: 16 }, "192.0.2.7"] }`),
		tcpChain("filter_chain_match: { transport_protocol: tls, application_protocols: [h2] }"),
		tcpChain("filter_chain_match: { destination_port: 443 }"),
		tcpChain(""))
	c, err := Parse([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Listeners[0]
	if len(l.FilterChains) != 6 || l.DefaultFilterChain == nil || l.ListenerFiltersTimeout != 15*time.Second {
		t.Fatalf("listener %+v", l)
	}
	var got []string
	for _, r := range l.FilterChains[2].FilterChainMatch.SourcePrefixRanges {
		got = append(got, r.Prefix.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 10.1.0.0/16 192.0.2.7/32" {
		t.Fatalf("prefixes %v", got)
	}
	if tc := l.FilterChains[0].TransportSocketConnectTimeout; tc != 10*time.Second {
		t.Fatalf("transport_socket_connect_timeout default %v", tc)
	}
}

// tlsFiles writes a CA and a server certificate for the TLS cases.
type tlsFiles struct {
	dir, caFile, certFile, keyFile, otherKey string
}

func newTLSFiles(t *testing.T) *tlsFiles {
	dir := t.TempDir()
	ca := tlstest.NewCA("config test CA")
	srv := ca.Issue(tlstest.Leaf{DNSNames: []string{"example.com"}})
	other := ca.Issue(tlstest.Leaf{DNSNames: []string{"other.com"}})
	f := &tlsFiles{dir: dir, caFile: ca.WriteFile(dir, "ca")}
	f.certFile, f.keyFile = srv.WriteFiles(dir, "server")
	_, f.otherKey = other.WriteFiles(dir, "other")
	return f
}

func (f *tlsFiles) downstream(ctx string) string {
	return "transport_socket:\n  name: tls\n  config:\n" + indentLines(ctx, "    ")
}

func (f *tlsFiles) certs() string {
	return "common_tls_context:\n  tls_certificates:\n  - certificate_chain: { filename: " + f.certFile + " }\n    private_key: { filename: " + f.keyFile + " }\n"
}

func TestTLSContextValidation(t *testing.T) {
	f := newTLSFiles(t)
	ts := "listeners[0].filter_chains[0].transport_socket"
	cc := ts + ".config.common_tls_context"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown transport", l4YAML("", "", tcpChain("transport_socket: { name: alts, config: {} }")),
			[]string{ts + `.name: unknown transport socket "alts": want tls`}},
		{"no config", l4YAML("", "", tcpChain("transport_socket: { name: tls }")),
			[]string{ts + ".config: required"}},
		{"config and typed_config", l4YAML("", "", tcpChain("transport_socket: { name: tls, config: {}, typed_config: {} }")),
			[]string{ts + ".typed_config: set config or typed_config, not both"}},
		{"no certificate", l4YAML("", "", tcpChain(f.downstream("common_tls_context: {}"))),
			[]string{cc + ".tls_certificates: required: a server needs a certificate"}},
		{"missing files", l4YAML("", "", tcpChain(f.downstream(`common_tls_context:
  tls_certificates:
  - certificate_chain: { filename: `+f.dir+`/none.crt }
    private_key: { inline_string: "x", filename: y }`))),
			[]string{cc + ".tls_certificates[0].certificate_chain.filename: cannot read " + f.dir + "/none.crt: no such file or directory",
				cc + ".tls_certificates[0].private_key: set filename or inline_string, not both"}},
		{"key of another certificate", l4YAML("", "", tcpChain(f.downstream(strings.Replace(f.certs(), f.keyFile, f.otherKey, 1)))),
			[]string{cc + ".tls_certificates[0]: tls: private key does not match public key"}},
		{"typed_config with a wrong @type", l4YAML("", "", tcpChain(strings.Replace(f.downstream(`"@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
`+f.certs()), "  config:", "  typed_config:", 1))),
			[]string{ts + ".typed_config.@type: want " + DownstreamTLSContextType}},
		{"tls params", l4YAML("", "", tcpChain(f.downstream(f.certs()+`  tls_params:
    tls_minimum_protocol_version: TLSv1_3
    tls_maximum_protocol_version: TLSv1_2
    cipher_suites: [ECDHE-ECDSA-AES128-GCM-SHA256, TLS_AES_128_GCM_SHA256, "[A|B]", ECDHE-RSA-DES-CBC3-SHA, TLS_ECDHE_RSA_WITH_RC4_128_SHA, NOPE]
    ecdh_curves: [X25519, P-192]`))),
			[]string{
				cc + ".tls_params.tls_minimum_protocol_version: above tls_maximum_protocol_version",
				cc + ".tls_params.cipher_suites[1]: TLS 1.3 cipher suites are not configurable (all three are always enabled); the list applies to TLS 1.2 and below",
				cc + ".tls_params.cipher_suites[2]: equal-preference groups ([a|b]) are not supported: list the suites in order",
				cc + ".tls_params.cipher_suites[3]: unknown cipher suite ECDHE-RSA-DES-CBC3-SHA",
				cc + ".tls_params.cipher_suites[4]: insecure cipher suite TLS_ECDHE_RSA_WITH_RC4_128_SHA is not supported",
				cc + ".tls_params.cipher_suites[5]: unknown cipher suite NOPE",
				cc + `.tls_params.ecdh_curves[1]: unknown curve "P-192": want X25519|P-256|P-384|P-521|X25519MLKEM768`,
			}},
		{"bad version name", l4YAML("", "", tcpChain(f.downstream(f.certs()+"  tls_params: { tls_maximum_protocol_version: TLSv1.3 }"))),
			[]string{cc + `.tls_params.tls_maximum_protocol_version: invalid value "TLSv1.3": want TLS_AUTO|TLSv1_0|TLSv1_1|TLSv1_2|TLSv1_3`}},
		{"client certificates without a CA", l4YAML("", "", tcpChain(f.downstream(f.certs()+"require_client_certificate: true"))),
			[]string{ts + ".config.require_client_certificate: needs common_tls_context.validation_context.trusted_ca (the CAs client certificates must chain to)"}},
		{"downstream validation context", l4YAML("", "", tcpChain(f.downstream(f.certs()+`  validation_context:
    system_root_certs: {}
    trust_chain_verification: ACCEPT_UNTRUSTED`))),
			[]string{cc + ".validation_context.system_root_certs: supported for clusters only: client certificates are checked against trusted_ca",
				cc + ".validation_context.trust_chain_verification: ACCEPT_UNTRUSTED is supported for clusters only",
				cc + ".validation_context.trusted_ca: required: the CA certificates client certificates must chain to"}},
		{"trusted ca that is not PEM", l4YAML("", "", tcpChain(f.downstream(f.certs()+`  validation_context: { trusted_ca: { inline_string: "not a certificate" } }`))),
			[]string{cc + ".validation_context.trusted_ca: no PEM certificate found"}},
		{"h2 offered to an http1-only manager", l4YAML("", "", "  - "+strings.TrimPrefix(indentLines(f.downstream(f.certs()+"  alpn_protocols: [h2, http/1.1]"), "    "), "    ")+
			`    filters:
    - name: http_connection_manager
      config:
        codec_type: http1
        http_filters: [{ name: router }]
        route_config: { virtual_hosts: [{ name: a, domains: ["*"], routes: [{ match: { prefix: / }, direct_response: { status: 200 } }] }] }
`),
			[]string{cc + ".alpn_protocols[0]: h2 is offered but the http_connection_manager's codec_type is http1"}},
		{"direct response body from a file", strings.Replace(minimalYAML, "route: { cluster: backend }", "direct_response: { status: 200, body: { filename: /etc/hostname } }", 1),
			[]string{routePath + ".direct_response.body.filename: not supported: use inline_string"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkErrors(t, tc.yaml, tc.want) })
	}
}

func TestUpstreamTLSValidation(t *testing.T) {
	f := newTLSFiles(t)
	cl := func(ts string) string {
		return l4YAML("", "", tcpChain("")) + indentLines("transport_socket:\n"+indentLines(ts, "  "), "  ")
	}
	ts := "clusters[0].transport_socket"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"bad sni", cl("name: tls\nconfig: { sni: \"bad name\" }"), []string{ts + `.config.sni: invalid server name "bad name"`}},
		{"two client certificates", cl("name: tls\nconfig:\n" + indentLines(f.certs()+"  - certificate_chain: { filename: "+f.certFile+" }\n    private_key: { filename: "+f.keyFile+" }", "  ")),
			[]string{ts + ".config.common_tls_context.tls_certificates: at most one: the client certificate sent to the endpoints"}},
		{"ca and system roots", cl("name: tls\nconfig:\n  common_tls_context:\n    validation_context: { trusted_ca: { filename: " + f.caFile + " }, system_root_certs: {} }"),
			[]string{ts + ".config.common_tls_context.validation_context: set trusted_ca or system_root_certs, not both"}},
		{"bad verification mode", cl("name: tls\nconfig:\n  common_tls_context:\n    validation_context: { trust_chain_verification: MAYBE }"),
			[]string{ts + `.config.common_tls_context.validation_context.trust_chain_verification: invalid value "MAYBE": want VERIFY_TRUST_CHAIN|ACCEPT_UNTRUSTED`}},
		{"wrong @type", cl("name: tls\ntyped_config: { \"@type\": " + DownstreamTLSContextType + " }"),
			[]string{ts + ".typed_config.@type: want " + UpstreamTLSContextType}},
		{"h2 offered to an HTTP/1.1 cluster", cl("name: tls\nconfig: { common_tls_context: { alpn_protocols: [h2, http/1.1] } }"),
			[]string{ts + ".config.common_tls_context.alpn_protocols: h2 is offered but the cluster speaks HTTP/1.1: add http2_protocol_options for HTTP/2"}},
		{"HTTP/2 cluster not offering h2", strings.Replace(cl("name: tls\nconfig: { common_tls_context: { alpn_protocols: [http/1.1] } }"),
			"- name: backend\n", "- name: backend\n  http2_protocol_options: {}\n", 1),
			[]string{ts + ".config.common_tls_context.alpn_protocols: the cluster speaks HTTP/2 (http2_protocol_options): offer h2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { checkErrors(t, tc.yaml, tc.want) })
	}
}

// A complete TLS listener and cluster parse into the derived fields the
// server builds from: resolved file paths (relative to the config file),
// versions, suites, curves.
func TestTLSContextParses(t *testing.T) {
	f := newTLSFiles(t)
	yaml := l4YAML(inspector, "", tcpChain(`transport_socket:
  name: envoy.transport_sockets.tls
  typed_config:
    "@type": `+DownstreamTLSContextType+`
    common_tls_context:
      tls_params:
        tls_minimum_protocol_version: TLSv1_2
        cipher_suites: [ECDHE-ECDSA-AES128-GCM-SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256]
        ecdh_curves: [X25519, P-256]
      tls_certificates:
      - certificate_chain: { filename: server.crt }
        private_key: { filename: server.key }
      validation_context: { trusted_ca: { filename: ca.crt } }
      alpn_protocols: [h2, http/1.1]
    require_client_certificate: true`)) + `  transport_socket:
    name: tls
    config:
      sni: backend.example.com
      common_tls_context:
        validation_context: { system_root_certs: {} }
        alpn_protocols: [http/1.1]
`
	source := filepath.Join(f.dir, "sluice.yaml")
	os.WriteFile(source, []byte(yaml), 0o644)
	c, err := Load(source)
	if err != nil {
		t.Fatal(err)
	}
	ds := c.Listeners[0].FilterChains[0].TransportSocket.TLS
	if ds == nil || !ds.RequireClientCertificate {
		t.Fatalf("downstream context %+v", ds)
	}
	p := ds.CommonTLSContext.TLSParams
	if p.MinVersion != tls.VersionTLS12 || p.MaxVersion != tls.VersionTLS13 ||
		len(p.CipherSuiteIDs) != 2 || p.CipherSuiteIDs[0] != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 ||
		len(p.Curves) != 2 || p.Curves[1] != tls.CurveP256 {
		t.Fatalf("params %+v", p)
	}
	if got := ds.CommonTLSContext.TLSCertificates[0].CertificateChain.Path; got != f.certFile {
		t.Fatalf("certificate path %q, want %q", got, f.certFile)
	}
	if got := ds.CommonTLSContext.ValidationContext.TrustChainVerification; got != VerifyTrustChain {
		t.Fatalf("trust_chain_verification default %q", got)
	}
	us := c.Clusters[0].TransportSocket.TLS
	if us == nil || us.SNI != "backend.example.com" || us.CommonTLSContext.TLSParams.MaxVersion != tls.VersionTLS13 {
		t.Fatalf("upstream context %+v", us)
	}

}
