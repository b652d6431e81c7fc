package server

import (
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/tlscontext"
)

// serverTLSOptions turns a validated DownstreamTlsContext into tlscontext
// options.
func serverTLSOptions(c *config.DownstreamTLSContext) tlscontext.ServerOptions {
	common := &c.CommonTLSContext
	o := tlscontext.ServerOptions{
		Params:                 tlsParams(common),
		RequireClientCert:      c.RequireClientCertificate,
		SessionTicketsDisabled: c.DisableStatelessSessionResumption,
	}
	for _, tc := range common.TLSCertificates {
		o.Certificates = append(o.Certificates, keyPair(&tc))
	}
	if vc := common.ValidationContext; vc != nil && vc.TrustedCA != nil {
		src := source(vc.TrustedCA)
		o.ClientCA = &src
	}
	return o
}

// clientTLSOptions turns a validated UpstreamTlsContext into tlscontext
// options; alpn is what the cluster offers when the context lists none.
func clientTLSOptions(c *config.UpstreamTLSContext, alpn []string) tlscontext.ClientOptions {
	common := &c.CommonTLSContext
	o := tlscontext.ClientOptions{Params: tlsParams(common), SNI: c.SNI}
	if len(o.ALPN) == 0 {
		o.ALPN = alpn
	}
	if len(common.TLSCertificates) > 0 {
		kp := keyPair(&common.TLSCertificates[0])
		o.Certificate = &kp
	}
	if vc := common.ValidationContext; vc != nil {
		if vc.TrustedCA != nil {
			src := source(vc.TrustedCA)
			o.CA = &src
		}
		o.AcceptUntrusted = vc.TrustChainVerification == config.AcceptUntrusted
	}
	return o
}

func tlsParams(common *config.CommonTLSContext) tlscontext.Params {
	p := &common.TLSParams
	return tlscontext.Params{
		MinVersion:   p.MinVersion,
		MaxVersion:   p.MaxVersion,
		CipherSuites: p.CipherSuiteIDs,
		Curves:       p.Curves,
		ALPN:         common.ALPNProtocols,
	}
}

func keyPair(tc *config.TLSCertificate) tlscontext.KeyPair {
	return tlscontext.KeyPair{Chain: source(&tc.CertificateChain), Key: source(&tc.PrivateKey)}
}

func source(d *config.DataSource) tlscontext.Source {
	if d.Path != "" {
		return tlscontext.Source{Path: d.Path}
	}
	return tlscontext.Source{Inline: []byte(d.InlineString)}
}
