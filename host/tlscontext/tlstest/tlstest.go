// Package tlstest makes throwaway certificates for tests: a CA and leaf
// certificates signed by it (ECDSA P-256), valid, expired or for other
// names, as PEM and as tls.Certificate, and writes them to files for
// configs that name files.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

var serial atomic.Int64

// CA is a certificate authority for one test.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte // the CA certificate
}

// NewCA makes a self-signed CA named name.
func NewCA(name string) *CA {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial.Add(1)),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"sluice tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key))
	cert := must(x509.ParseCertificate(der))
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// Pool is a pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName string
	DNSNames   []string
	IPs        []net.IP
	// NotBefore/NotAfter default to an hour ago / a day from now.
	NotBefore, NotAfter time.Time
	// Client makes a client-authentication certificate (server otherwise).
	Client bool
}

// Issued is a certificate and its key.
type Issued struct {
	CertPEM, KeyPEM []byte
	Cert            tls.Certificate
}

// Issue signs a leaf certificate.
func (ca *CA) Issue(l Leaf) *Issued {
	key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))
	if l.NotBefore.IsZero() {
		l.NotBefore = time.Now().Add(-time.Hour)
	}
	if l.NotAfter.IsZero() {
		l.NotAfter = time.Now().Add(24 * time.Hour)
	}
	usage := x509.ExtKeyUsageServerAuth
	if l.Client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: l.CommonName, Organization: []string{"sluice tests"}},
		DNSNames:     l.DNSNames,
		IPAddresses:  l.IPs,
		NotBefore:    l.NotBefore,
		NotAfter:     l.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der := must(x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key))
	keyDER := must(x509.MarshalPKCS8PrivateKey(key))
	out := &Issued{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	out.Cert = must(tls.X509KeyPair(out.CertPEM, out.KeyPEM))
	return out
}

// WriteFiles writes the certificate and key to dir/name.crt and
// dir/name.key and returns both paths.
func (is *Issued) WriteFiles(dir, name string) (certPath, keyPath string) {
	certPath = filepath.Join(dir, name+".crt")
	keyPath = filepath.Join(dir, name+".key")
	check(os.WriteFile(certPath, is.CertPEM, 0o644))
	check(os.WriteFile(keyPath, is.KeyPEM, 0o600))
	return certPath, keyPath
}

// WriteFile writes the CA certificate to dir/name.crt and returns its path.
func (ca *CA) WriteFile(dir, name string) string {
	p := filepath.Join(dir, name+".crt")
	check(os.WriteFile(p, ca.PEM, 0o644))
	return p
}

func must[T any](v T, err error) T {
	check(err)
	return v
}

func check(err error) {
	if err != nil {
		panic("tlstest: " + err.Error())
	}
}
