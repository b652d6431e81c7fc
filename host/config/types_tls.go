package config

import (
	"crypto/tls"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Listener filter names (each also under Envoy's long name).
const (
	TLSInspectorName       = "tls_inspector"
	TLSInspectorEnvoyName  = "envoy.filters.listener.tls_inspector"
	ProxyProtocolName      = "proxy_protocol"
	ProxyProtocolEnvoyName = "envoy.filters.listener.proxy_protocol"
)

// ListenerFilter is one listener filter: it looks at a new connection's
// first bytes before a filter chain is chosen. Its config is decoded by
// name, like a network filter's.
type ListenerFilter struct {
	Name          string         `yaml:"name"`
	TLSInspector  *TLSInspector  `yaml:"config"`
	ProxyProtocol *ProxyProtocol `yaml:"config"`
}

func (f *ListenerFilter) skipField(key, field string) bool {
	if key != "config" {
		return false
	}
	switch field {
	case "TLSInspector":
		return !f.IsTLSInspector()
	case "ProxyProtocol":
		return !f.IsProxyProtocol()
	}
	return true
}

// MarshalYAML writes the one config the filter has (for /config_dump).
func (f ListenerFilter) MarshalYAML() (any, error) {
	out := map[string]any{"name": f.Name}
	switch {
	case f.TLSInspector != nil:
		out["config"] = f.TLSInspector
	case f.ProxyProtocol != nil:
		out["config"] = f.ProxyProtocol
	}
	return out, nil
}

// IsTLSInspector reports whether the filter is tls_inspector.
func (f *ListenerFilter) IsTLSInspector() bool {
	return f.Name == TLSInspectorName || f.Name == TLSInspectorEnvoyName
}

// IsProxyProtocol reports whether the filter is proxy_protocol.
func (f *ListenerFilter) IsProxyProtocol() bool {
	return f.Name == ProxyProtocolName || f.Name == ProxyProtocolEnvoyName
}

// TLSInspector reads the server name (SNI) and the offered application
// protocols (ALPN) from a TLS ClientHello without terminating TLS.
type TLSInspector struct {
	// MaxClientHelloSize bounds the ClientHello it waits for (Envoy's
	// default and maximum: 64 KiB); a larger one closes the connection.
	MaxClientHelloSize int `yaml:"max_client_hello_size"`
}

// ProxyProtocol reads a PROXY protocol v1 or v2 header and makes the
// addresses it carries the connection's source and destination.
type ProxyProtocol struct {
	// AllowRequestsWithoutProxyProtocol lets connections without a header
	// through with their socket addresses (otherwise they are closed).
	AllowRequestsWithoutProxyProtocol bool `yaml:"allow_requests_without_proxy_protocol"`
}

// FilterChainMatch selects the connections a filter chain takes (Envoy's
// FilterChainMatch). Every criterion that is set must match; among the
// chains that match, the most specific wins, criterion by criterion in
// Envoy's order: destination port, destination IP, server name, transport
// protocol, application protocols, direct source IP, source IP, source
// port.
type FilterChainMatch struct {
	DestinationPort          int         `yaml:"destination_port"`
	PrefixRanges             []CIDRRange `yaml:"prefix_ranges"`
	ServerNames              []string    `yaml:"server_names"`
	TransportProtocol        string      `yaml:"transport_protocol"` // raw_buffer | tls
	ApplicationProtocols     []string    `yaml:"application_protocols"`
	DirectSourcePrefixRanges []CIDRRange `yaml:"direct_source_prefix_ranges"`
	SourcePrefixRanges       []CIDRRange `yaml:"source_prefix_ranges"`
	SourcePorts              []int       `yaml:"source_ports"`
}

// CIDRRange is Envoy's CidrRange ({address_prefix, prefix_len}); the
// string form "10.0.0.0/8" (or a bare address) is accepted too.
type CIDRRange struct {
	AddressPrefix string       `yaml:"address_prefix"`
	PrefixLen     *int         `yaml:"prefix_len"`
	Prefix        netip.Prefix `yaml:"-"` // parsed and masked, set by validation
}

// decodeScalar accepts the string form; a bare address is one host (in
// the map form, as in Envoy, a missing prefix_len is 0).
func (r *CIDRRange) decodeScalar(s string) error {
	addr, bits, found := strings.Cut(s, "/")
	r.AddressPrefix = addr
	n := 0
	if found {
		var err error
		if n, err = strconv.Atoi(bits); err != nil {
			return fmt.Errorf("invalid CIDR %q: want address/prefix-length or an address", s)
		}
	} else if a, err := netip.ParseAddr(addr); err == nil {
		n = a.Unmap().BitLen()
	}
	r.PrefixLen = &n
	return nil
}

// MarshalYAML writes the string form.
func (r CIDRRange) MarshalYAML() (any, error) {
	if r.Prefix.IsValid() {
		return r.Prefix.String(), nil
	}
	return map[string]any{"address_prefix": r.AddressPrefix, "prefix_len": r.PrefixLen}, nil
}

// Transport socket names.
const (
	TLSTransportSocketName      = "tls"
	TLSTransportSocketEnvoyName = "envoy.transport_sockets.tls"
)

// TransportSocket is a filter chain's transport: TLS termination. Its
// DownstreamTlsContext is given as config (or as Envoy's typed_config,
// whose "@type" may be present).
type TransportSocket struct {
	Name        string                `yaml:"name"`
	Config      *DownstreamTLSContext `yaml:"config"`
	TypedConfig *DownstreamTLSContext `yaml:"typed_config"`
	TLS         *DownstreamTLSContext `yaml:"-"` // whichever was given, set by validation
}

// UpstreamTransportSocket is a cluster's transport: TLS to its endpoints.
type UpstreamTransportSocket struct {
	Name        string              `yaml:"name"`
	Config      *UpstreamTLSContext `yaml:"config"`
	TypedConfig *UpstreamTLSContext `yaml:"typed_config"`
	TLS         *UpstreamTLSContext `yaml:"-"` // whichever was given, set by validation
}

// Envoy's type URLs, accepted in typed_config's "@type".
const (
	DownstreamTLSContextType = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext"
	UpstreamTLSContextType   = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
)

// DownstreamTLSContext is Envoy's DownstreamTlsContext: the server side
// of TLS on a filter chain.
type DownstreamTLSContext struct {
	Type             string           `yaml:"@type"`
	CommonTLSContext CommonTLSContext `yaml:"common_tls_context"`
	// RequireClientCertificate asks for a client certificate and refuses
	// the handshake without a valid one (validation_context.trusted_ca).
	RequireClientCertificate bool `yaml:"require_client_certificate"`
	// DisableStatelessSessionResumption turns session tickets off.
	DisableStatelessSessionResumption bool `yaml:"disable_stateless_session_resumption"`
}

// UpstreamTLSContext is Envoy's UpstreamTlsContext: the client side of TLS
// to a cluster's endpoints.
type UpstreamTLSContext struct {
	Type             string           `yaml:"@type"`
	CommonTLSContext CommonTLSContext `yaml:"common_tls_context"`
	// SNI is the server name sent, and the name the endpoint's
	// certificate must be valid for.
	SNI string `yaml:"sni"`
}

// CommonTLSContext is what both sides have: certificates, parameters,
// peer validation and ALPN.
type CommonTLSContext struct {
	TLSParams         TLSParams                     `yaml:"tls_params"`
	TLSCertificates   []TLSCertificate              `yaml:"tls_certificates"`
	ValidationContext *CertificateValidationContext `yaml:"validation_context"`
	ALPNProtocols     []string                      `yaml:"alpn_protocols"`
}

// TLSParams are Envoy's TlsParameters. Versions are TLS_AUTO, TLSv1_0 …
// TLSv1_3; cipher suites take OpenSSL names (ECDHE-ECDSA-AES128-GCM-SHA256)
// or IANA names (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) and apply to
// TLS 1.2 (TLS 1.3's are fixed); curves are X25519, P-256, P-384, P-521,
// X25519MLKEM768.
type TLSParams struct {
	TLSMinimumProtocolVersion string   `yaml:"tls_minimum_protocol_version"`
	TLSMaximumProtocolVersion string   `yaml:"tls_maximum_protocol_version"`
	CipherSuites              []string `yaml:"cipher_suites"`
	ECDHCurves                []string `yaml:"ecdh_curves"`

	// Parsed by validation.
	MinVersion     uint16        `yaml:"-"`
	MaxVersion     uint16        `yaml:"-"`
	CipherSuiteIDs []uint16      `yaml:"-"`
	Curves         []tls.CurveID `yaml:"-"`
}

// TLSCertificate is a certificate chain and its private key (PEM).
type TLSCertificate struct {
	CertificateChain DataSource `yaml:"certificate_chain"`
	PrivateKey       DataSource `yaml:"private_key"`
}

// Trust chain verification modes.
const (
	VerifyTrustChain = "VERIFY_TRUST_CHAIN"
	AcceptUntrusted  = "ACCEPT_UNTRUSTED"
)

// CertificateValidationContext says how the peer's certificate is checked.
type CertificateValidationContext struct {
	// TrustedCA holds the CA certificates (PEM) the peer's chain must
	// lead to.
	TrustedCA *DataSource `yaml:"trusted_ca"`
	// SystemRootCerts (upstream only) trusts the system's roots; it is
	// also what an upstream context without trusted_ca uses.
	SystemRootCerts *struct{} `yaml:"system_root_certs"`
	// TrustChainVerification: VERIFY_TRUST_CHAIN (default) or
	// ACCEPT_UNTRUSTED (upstream only: any certificate is accepted).
	TrustChainVerification string `yaml:"trust_chain_verification"`
}
