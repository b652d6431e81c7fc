package network

import (
	"crypto/tls"
	"strings"

	"github.com/sluiceproxy/sluice/host/accesslog"
)

// setTLSAttributes copies what a finished handshake established.
func setTLSAttributes(a *Attributes, st *tls.ConnectionState) {
	a.ServerName = st.ServerName
	a.ALPN = st.NegotiatedProtocol
	a.TLSVersion = tlsVersionName(st.Version)
	a.TLSCipherSuite = tls.CipherSuiteName(st.CipherSuite)
	if len(st.PeerCertificates) == 0 {
		return
	}
	leaf := st.PeerCertificates[0]
	a.PeerSubject = leaf.Subject.String()
	sans := make([]string, 0, len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.URIs)+len(leaf.EmailAddresses))
	sans = append(sans, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	for _, u := range leaf.URIs {
		sans = append(sans, u.String())
	}
	a.PeerSANs = append(sans, leaf.EmailAddresses...)
}

// tlsVersionName spells versions as Envoy's %DOWNSTREAM_TLS_VERSION% does.
func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return strings.ReplaceAll(tls.VersionName(v), " ", "")
}

// AppendTLSJSON adds the TLS facts of a connection to a JSON access-log
// object (b ends inside it, after a value): requested_server_name and,
// once a handshake finished, downstream_tls_version,
// downstream_tls_cipher and the peer certificate's subject and SANs.
// Nothing for cleartext.
func AppendTLSJSON(b []byte, a *Attributes) []byte {
	if a.ServerName != "" {
		b = append(b, `,"requested_server_name":`...)
		b = accesslog.AppendJSONString(b, a.ServerName)
	}
	if a.TLSVersion == "" {
		return b
	}
	b = append(b, `,"downstream_tls_version":"`...)
	b = append(b, a.TLSVersion...)
	b = append(b, `","downstream_tls_cipher":"`...)
	b = append(b, a.TLSCipherSuite...)
	b = append(b, '"')
	if a.ALPN != "" {
		b = append(b, `,"downstream_alpn":`...)
		b = accesslog.AppendJSONString(b, a.ALPN)
	}
	if a.PeerSubject != "" {
		b = append(b, `,"downstream_peer_subject":`...)
		b = accesslog.AppendJSONString(b, a.PeerSubject)
		b = append(b, `,"downstream_peer_sans":[`...)
		for i, s := range a.PeerSANs {
			if i > 0 {
				b = append(b, ',')
			}
			b = accesslog.AppendJSONString(b, s)
		}
		b = append(b, ']')
	}
	return b
}
