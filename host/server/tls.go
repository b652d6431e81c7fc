package server

import (
	"fmt"

	"github.com/sluiceproxy/sluice/host/cluster"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/tlscontext"
)

// clusterSettings converts the clusters, compiling their TLS contexts.
func (s *generation) clusterSettings(cfgs []config.Cluster) ([]cluster.Settings, error) {
	out := make([]cluster.Settings, 0, len(cfgs))
	for i := range cfgs {
		c := &cfgs[i]
		st, err := cluster.SettingsFromConfig(c)
		if err != nil {
			return nil, err
		}
		if ts := c.TransportSocket; ts != nil && ts.TLS != nil {
			var alpn []string
			if st.HTTP2 {
				alpn = []string{"h2"}
			}
			ctx, err := tlscontext.NewClient(fmt.Sprintf("clusters[%d].transport_socket", i), clientTLSOptions(ts.TLS, alpn))
			if err != nil {
				return nil, err
			}
			s.clusterTLS[c.Name] = ctx
			st.TLS = ctx.Config
		}
		out = append(out, st)
	}
	return out, nil
}

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
// options; alpn is what the cluster offers when the context lists none
// (h2 for an HTTP/2 cluster; nothing for HTTP/1.1, as in Envoy).
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
