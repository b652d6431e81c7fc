package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// tlsConfigKey is the key a TLS context was given under.
func tlsConfigKey(typed bool) string {
	if typed {
		return "typed_config"
	}
	return "config"
}

func (v *validator) downstreamTransport(path string, ts *TransportSocket) {
	if !v.transportName(path+".name", ts.Name) {
		return
	}
	switch {
	case ts.Config != nil && ts.TypedConfig != nil:
		v.fail(path+".typed_config", "set config or typed_config, not both")
		return
	case ts.Config == nil && ts.TypedConfig == nil:
		v.fail(path+".config", "required")
		return
	}
	ts.TLS = ts.Config
	if ts.TLS == nil {
		ts.TLS = ts.TypedConfig
	}
	cPath := path + "." + tlsConfigKey(ts.TypedConfig != nil)
	c := ts.TLS
	if c.Type != "" && c.Type != DownstreamTLSContextType {
		v.failf(cPath+".@type", "want %s", DownstreamTLSContextType)
	}
	common := &c.CommonTLSContext
	ccPath := cPath + ".common_tls_context"
	if len(common.TLSCertificates) == 0 {
		v.fail(ccPath+".tls_certificates", "required: a server needs a certificate")
	}
	v.commonTLS(ccPath, common)
	if vc := common.ValidationContext; vc != nil {
		vcPath := ccPath + ".validation_context"
		if vc.SystemRootCerts != nil {
			v.fail(vcPath+".system_root_certs", "supported for clusters only: client certificates are checked against trusted_ca")
		}
		if vc.TrustChainVerification == AcceptUntrusted {
			v.fail(vcPath+".trust_chain_verification", "ACCEPT_UNTRUSTED is supported for clusters only")
		}
		if vc.TrustedCA == nil {
			v.fail(vcPath+".trusted_ca", "required: the CA certificates client certificates must chain to")
		}
	} else if c.RequireClientCertificate {
		v.fail(cPath+".require_client_certificate", "needs common_tls_context.validation_context.trusted_ca (the CAs client certificates must chain to)")
	}
}

// upstreamTransport checks a cluster's TLS; h2 says the cluster speaks
// HTTP/2 (what ALPN must offer).
func (v *validator) upstreamTransport(path string, ts *UpstreamTransportSocket, h2 bool) {
	if !v.transportName(path+".name", ts.Name) {
		return
	}
	switch {
	case ts.Config != nil && ts.TypedConfig != nil:
		v.fail(path+".typed_config", "set config or typed_config, not both")
		return
	case ts.Config == nil && ts.TypedConfig == nil:
		v.fail(path+".config", "required")
		return
	}
	ts.TLS = ts.Config
	if ts.TLS == nil {
		ts.TLS = ts.TypedConfig
	}
	cPath := path + "." + tlsConfigKey(ts.TypedConfig != nil)
	c := ts.TLS
	if c.Type != "" && c.Type != UpstreamTLSContextType {
		v.failf(cPath+".@type", "want %s", UpstreamTLSContextType)
	}
	if c.SNI != "" && !validServerName(strings.ToLower(c.SNI)) || strings.HasPrefix(c.SNI, "*") {
		v.failf(cPath+".sni", "invalid server name %q", c.SNI)
	}
	common := &c.CommonTLSContext
	ccPath := cPath + ".common_tls_context"
	if len(common.TLSCertificates) > 1 {
		v.fail(ccPath+".tls_certificates", "at most one: the client certificate sent to the endpoints")
	}
	v.commonTLS(ccPath, common)
	if vc := common.ValidationContext; vc != nil {
		vcPath := ccPath + ".validation_context"
		if vc.SystemRootCerts != nil && vc.TrustedCA != nil {
			v.fail(vcPath, "set trusted_ca or system_root_certs, not both")
		}
	}
	if alpn := common.ALPNProtocols; len(alpn) > 0 {
		offersH2 := false
		for _, p := range alpn {
			offersH2 = offersH2 || p == "h2"
		}
		switch {
		case h2 && !offersH2:
			v.fail(ccPath+".alpn_protocols", "the cluster speaks HTTP/2 (http2_protocol_options): offer h2")
		case !h2 && offersH2:
			v.fail(ccPath+".alpn_protocols", "h2 is offered but the cluster speaks HTTP/1.1: add http2_protocol_options for HTTP/2")
		}
	}
}

func (v *validator) transportName(path, name string) bool {
	switch name {
	case TLSTransportSocketName, TLSTransportSocketEnvoyName:
		return true
	case "":
		v.fail(path, "required")
	default:
		v.failf(path, "unknown transport socket %q: want tls", name)
	}
	return false
}

func (v *validator) commonTLS(path string, c *CommonTLSContext) {
	v.tlsParams(path+".tls_params", &c.TLSParams)
	for i := range c.TLSCertificates {
		tc := &c.TLSCertificates[i]
		cPath := index(path+".tls_certificates", i)
		chain, ok1 := v.dataSource(cPath+".certificate_chain", &tc.CertificateChain)
		key, ok2 := v.dataSource(cPath+".private_key", &tc.PrivateKey)
		if ok1 && ok2 {
			if _, err := tls.X509KeyPair(chain, key); err != nil {
				v.fail(cPath, err.Error())
			}
		}
	}
	for i, p := range c.ALPNProtocols {
		if p == "" || len(p) > 255 {
			v.fail(index(path+".alpn_protocols", i), "must be 1 to 255 bytes")
		}
	}
	if vc := c.ValidationContext; vc != nil {
		vcPath := path + ".validation_context"
		if vc.TrustedCA != nil {
			if pem, ok := v.dataSource(vcPath+".trusted_ca", vc.TrustedCA); ok && !x509.NewCertPool().AppendCertsFromPEM(pem) {
				v.fail(vcPath+".trusted_ca", "no PEM certificate found")
			}
		}
		switch vc.TrustChainVerification {
		case "":
			vc.TrustChainVerification = VerifyTrustChain
		case VerifyTrustChain, AcceptUntrusted:
		default:
			v.failf(vcPath+".trust_chain_verification", "invalid value %q: want VERIFY_TRUST_CHAIN|ACCEPT_UNTRUSTED", vc.TrustChainVerification)
		}
	}
}

var tlsVersions = map[string]uint16{
	"TLSv1_0": tls.VersionTLS10, "TLSv1_1": tls.VersionTLS11, "TLSv1_2": tls.VersionTLS12, "TLSv1_3": tls.VersionTLS13,
}

func (v *validator) tlsParams(path string, p *TLSParams) {
	version := func(key, s string, auto uint16) uint16 {
		if s == "" || s == "TLS_AUTO" {
			return auto
		}
		if n, ok := tlsVersions[s]; ok {
			return n
		}
		v.failf(path+"."+key, "invalid value %q: want TLS_AUTO|TLSv1_0|TLSv1_1|TLSv1_2|TLSv1_3", s)
		return auto
	}
	p.MinVersion = version("tls_minimum_protocol_version", p.TLSMinimumProtocolVersion, tls.VersionTLS12)
	p.MaxVersion = version("tls_maximum_protocol_version", p.TLSMaximumProtocolVersion, tls.VersionTLS13)
	if p.MinVersion > p.MaxVersion {
		v.fail(path+".tls_minimum_protocol_version", "above tls_maximum_protocol_version")
	}
	p.CipherSuiteIDs = nil
	for i, name := range p.CipherSuites {
		id, msg := cipherSuite(name)
		if msg != "" {
			v.fail(index(path+".cipher_suites", i), msg)
			continue
		}
		p.CipherSuiteIDs = append(p.CipherSuiteIDs, id)
	}
	p.Curves = nil
	for i, name := range p.ECDHCurves {
		id, ok := curves[name]
		if !ok {
			v.failf(index(path+".ecdh_curves", i), "unknown curve %q: want X25519|P-256|P-384|P-521|X25519MLKEM768", name)
			continue
		}
		p.Curves = append(p.Curves, id)
	}
}

var curves = map[string]tls.CurveID{
	"X25519": tls.X25519, "P-256": tls.CurveP256, "P-384": tls.CurveP384, "P-521": tls.CurveP521,
	"X25519MLKEM768": tls.X25519MLKEM768,
}

// openSSLCipherNames maps the OpenSSL names Envoy configs use to IANA
// names (crypto/tls's).
var openSSLCipherNames = map[string]string{
	"ECDHE-ECDSA-AES128-GCM-SHA256": "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-RSA-AES128-GCM-SHA256":   "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384": "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-RSA-AES256-GCM-SHA384":   "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305": "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-RSA-CHACHA20-POLY1305":   "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
	"ECDHE-ECDSA-AES128-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
	"ECDHE-RSA-AES128-SHA":          "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
	"ECDHE-ECDSA-AES256-SHA":        "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
	"ECDHE-RSA-AES256-SHA":          "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
	"AES128-GCM-SHA256":             "TLS_RSA_WITH_AES_128_GCM_SHA256",
	"AES256-GCM-SHA384":             "TLS_RSA_WITH_AES_256_GCM_SHA384",
	"AES128-SHA":                    "TLS_RSA_WITH_AES_128_CBC_SHA",
	"AES256-SHA":                    "TLS_RSA_WITH_AES_256_CBC_SHA",
}

// cipherSuite resolves a TLS 1.0–1.2 cipher suite name; msg explains a
// refusal.
func cipherSuite(name string) (id uint16, msg string) {
	if strings.HasPrefix(name, "[") {
		return 0, "equal-preference groups ([a|b]) are not supported: list the suites in order"
	}
	iana := name
	if n, ok := openSSLCipherNames[name]; ok {
		iana = n
	}
	for _, cs := range tls.CipherSuites() {
		if cs.Name != iana {
			continue
		}
		if len(cs.SupportedVersions) == 1 && cs.SupportedVersions[0] == tls.VersionTLS13 {
			return 0, "TLS 1.3 cipher suites are not configurable (all three are always enabled); the list applies to TLS 1.2 and below"
		}
		return cs.ID, ""
	}
	for _, cs := range tls.InsecureCipherSuites() {
		if cs.Name == iana {
			return 0, "insecure cipher suite " + name + " is not supported"
		}
	}
	return 0, "unknown cipher suite " + name
}

// dataSource reads a DataSource (exactly one of filename, inline_string)
// and resolves its path; ok is false when it failed (reported).
func (v *validator) dataSource(path string, d *DataSource) ([]byte, bool) {
	switch {
	case d.Filename != "" && d.InlineString != "":
		v.fail(path, "set filename or inline_string, not both")
		return nil, false
	case d.InlineString != "":
		return []byte(d.InlineString), true
	case d.Filename == "":
		v.fail(path+".filename", "required (or inline_string)")
		return nil, false
	}
	d.Path = v.resolveModule(d.Filename)
	data, err := os.ReadFile(d.Path)
	if err != nil {
		msg := err.Error()
		var pe *fs.PathError
		if errors.As(err, &pe) {
			msg = pe.Err.Error()
		}
		v.failf(path+".filename", "cannot read %s: %s", filepath.Clean(d.Path), msg)
		return nil, false
	}
	return data, true
}
