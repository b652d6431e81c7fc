package tlscontext

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/tlscontext/tlstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// handshake runs a client and a server config against each other over
// loopback TCP: the server writes one byte after its handshake and the
// client reads it, so a refusal the server decides after the client's
// side finished (a missing client certificate in TLS 1.3) reaches the
// client as an error too.
func handshake(t *testing.T, server, client *tls.Config) (srv, cli tls.ConnectionState, srvErr, cliErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	deadline := time.Now().Add(10 * time.Second)
	done := make(chan struct{})
	go func() {
		defer close(done)
		a, err := ln.Accept()
		if err != nil {
			srvErr = err
			return
		}
		defer a.Close()
		a.SetDeadline(deadline)
		s := tls.Server(a, server)
		if srvErr = s.Handshake(); srvErr == nil {
			_, srvErr = s.Write([]byte{1})
		}
		srv = s.ConnectionState()
	}()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.SetDeadline(deadline)
	c := tls.Client(b, client)
	if cliErr = c.Handshake(); cliErr == nil {
		_, cliErr = c.Read(make([]byte, 1))
	}
	cli = c.ConnectionState()
	<-done
	return
}

type pki struct {
	dir string
	ca  *tlstest.CA
}

func newPKI(t *testing.T) *pki { return &pki{dir: t.TempDir(), ca: tlstest.NewCA("tlscontext CA")} }

func (p *pki) pair(name string, l tlstest.Leaf) KeyPair {
	c, k := p.ca.Issue(l).WriteFiles(p.dir, name)
	return KeyPair{Chain: Source{Path: c}, Key: Source{Path: k}}
}

func (p *pki) caSource() *Source { return &Source{Path: p.ca.WriteFile(p.dir, "ca")} }

// The server picks its certificate by SNI, negotiates ALPN and honours
// the version bounds; a client certificate is verified against the CA
// and its absence refused when required.
func TestServerContext(t *testing.T) {
	p := newPKI(t)
	srv, err := NewServer("listeners[0].filter_chains[0].transport_socket", ServerOptions{
		Params: Params{ALPN: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12},
		Certificates: []KeyPair{
			p.pair("a", tlstest.Leaf{DNSNames: []string{"a.example.com"}}),
			p.pair("b", tlstest.Leaf{DNSNames: []string{"*.b.example.com"}}),
		},
		ClientCA:          p.caSource(),
		RequireClientCert: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := p.ca.Issue(tlstest.Leaf{CommonName: "client-1", DNSNames: []string{"client.internal"}, Client: true})
	cli := &tls.Config{RootCAs: p.ca.Pool(), ServerName: "x.b.example.com", NextProtos: []string{"h2"}, Certificates: []tls.Certificate{client.Cert}}
	ss, cs, serr, cerr := handshake(t, srv.Config(), cli)
	if serr != nil || cerr != nil {
		t.Fatalf("handshake: server %v, client %v", serr, cerr)
	}
	if got := cs.PeerCertificates[0].DNSNames[0]; got != "*.b.example.com" {
		t.Fatalf("server presented %q", got)
	}
	if cs.NegotiatedProtocol != "h2" || len(ss.VerifiedChains) != 1 || ss.PeerCertificates[0].Subject.CommonName != "client-1" {
		t.Fatalf("alpn %q, client chains %d", cs.NegotiatedProtocol, len(ss.VerifiedChains))
	}

	cli.Certificates = nil
	_, _, serr, _ = handshake(t, srv.Config(), cli)
	if serr == nil || !strings.Contains(serr.Error(), "client didn't provide a certificate") {
		t.Fatalf("server error without a client certificate: %v", serr)
	}
	cli.MaxVersion = tls.VersionTLS11
	cli.MinVersion = tls.VersionTLS10
	_, _, serr, _ = handshake(t, srv.Config(), cli)
	if serr == nil || !strings.Contains(serr.Error(), "client offered only unsupported versions") {
		t.Fatalf("server error for TLS 1.1: %v", serr)
	}
}

func TestNewServerErrorsNameTheFiles(t *testing.T) {
	p := newPKI(t)
	good := p.pair("good", tlstest.Leaf{DNSNames: []string{"a"}})
	other := p.pair("other", tlstest.Leaf{DNSNames: []string{"b"}})
	_, err := NewServer("ctx", ServerOptions{Certificates: []KeyPair{{Chain: good.Chain, Key: other.Key}}})
	if err == nil || err.Error() != "ctx: "+good.Chain.Path+" and "+other.Key.Path+": tls: private key does not match public key" {
		t.Fatalf("err = %v", err)
	}
	_, err = NewServer("ctx", ServerOptions{Certificates: []KeyPair{{Chain: Source{Path: p.dir + "/nope"}, Key: good.Key}}})
	if err == nil || err.Error() != "ctx: cannot read "+p.dir+"/nope: no such file or directory" {
		t.Fatalf("err = %v", err)
	}
}

// Client contexts: the endpoint's certificate must chain to the CA and
// match the SNI; without SNI only the chain counts; an expired
// certificate or an unknown CA fails verification; ACCEPT_UNTRUSTED
// accepts anything; the client certificate is sent when asked for.
func TestClientContext(t *testing.T) {
	p := newPKI(t)
	serve := func(l tlstest.Leaf, clientCA bool) *tls.Config {
		cfg := &tls.Config{Certificates: []tls.Certificate{p.ca.Issue(l).Cert}, NextProtos: []string{"h2", "http/1.1"}}
		if clientCA {
			cfg.ClientCAs, cfg.ClientAuth = p.ca.Pool(), tls.RequireAndVerifyClientCert
		}
		return cfg
	}
	valid := tlstest.Leaf{DNSNames: []string{"backend.internal"}}
	expired := tlstest.Leaf{DNSNames: []string{"backend.internal"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}
	clientPair := p.pair("client", tlstest.Leaf{CommonName: "sluice", Client: true})
	cases := []struct {
		name    string
		opts    ClientOptions
		server  *tls.Config
		wantErr string // substring; "" for success
	}{
		{"ca and sni", ClientOptions{SNI: "backend.internal", CA: p.caSource(), Params: Params{ALPN: []string{"h2"}}}, serve(valid, false), ""},
		{"wrong sni", ClientOptions{SNI: "other.internal", CA: p.caSource()}, serve(valid, false), "certificate is valid for backend.internal, not other.internal"},
		{"no sni: chain only", ClientOptions{CA: p.caSource()}, serve(valid, false), ""},
		{"expired", ClientOptions{SNI: "backend.internal", CA: p.caSource()}, serve(expired, false), "certificate has expired"},
		{"expired without sni", ClientOptions{CA: p.caSource()}, serve(expired, false), "certificate has expired"},
		{"system roots do not know the test CA", ClientOptions{SNI: "backend.internal"}, serve(valid, false), "certificate signed by unknown authority"},
		{"accept untrusted", ClientOptions{AcceptUntrusted: true}, serve(expired, false), ""},
		{"mtls", ClientOptions{SNI: "backend.internal", CA: p.caSource(), Certificate: &clientPair}, serve(valid, true), ""},
		{"mtls without a client certificate", ClientOptions{SNI: "backend.internal", CA: p.caSource()}, serve(valid, true), "certificate required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewClient("clusters[0].transport_socket", tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			_, cs, _, cerr := handshake(t, tc.server, c.Config())
			if tc.wantErr == "" {
				if cerr != nil {
					t.Fatalf("handshake: %v", cerr)
				}
				if len(tc.opts.ALPN) > 0 && cs.NegotiatedProtocol != tc.opts.ALPN[0] {
					t.Fatalf("alpn %q", cs.NegotiatedProtocol)
				}
				return
			}
			if cerr == nil || !strings.Contains(cerr.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", cerr, tc.wantErr)
			}
			var verr *tls.CertificateVerificationError
			if strings.Contains(tc.wantErr, "certificate") && tc.wantErr != "certificate required" && !errors.As(cerr, &verr) {
				t.Fatalf("err %T is not a *tls.CertificateVerificationError", cerr)
			}
		})
	}
}

// The watcher swaps in new certificates written over the old files (and
// replaced by rename), keeps the old ones while the files do not load,
// and the configs handed out before a reload are untouched.
func TestWatcherReloads(t *testing.T) {
	p := newPKI(t)
	pair := p.pair("server", tlstest.Leaf{CommonName: "v1", DNSNames: []string{"a"}})
	ctx, err := NewServer("ctx", ServerOptions{Certificates: []KeyPair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	w, err := Watch(zap.NewNop(), []*Context{ctx})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first := ctx.Config()
	served := func() string {
		return ctx.Config().Certificates[0].Leaf.Subject.CommonName
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond) // polling the watcher's effect, not synchronising
		}
	}

	// Overwrite in place.
	v2 := p.ca.Issue(tlstest.Leaf{CommonName: "v2", DNSNames: []string{"a"}})
	os.WriteFile(pair.Chain.Path, v2.CertPEM, 0o644)
	os.WriteFile(pair.Key.Path, v2.KeyPEM, 0o600)
	waitFor("v2", func() bool { return served() == "v2" })
	if first.Certificates[0].Leaf.Subject.CommonName != "v1" {
		t.Fatal("the config handed out earlier changed")
	}

	// A certificate without its key: refused, v2 stays.
	v3 := p.ca.Issue(tlstest.Leaf{CommonName: "v3", DNSNames: []string{"a"}})
	os.WriteFile(pair.Chain.Path, v3.CertPEM, 0o644)
	waitFor("a failed reload", func() bool { return w.Failures() > 0 })
	if served() != "v2" {
		t.Fatalf("served %q after a failed reload", served())
	}

	// The key arrives by rename: now v3 loads.
	tmp := filepath.Join(p.dir, ".server.key.tmp")
	os.WriteFile(tmp, v3.KeyPEM, 0o600)
	os.Rename(tmp, pair.Key.Path)
	waitFor("v3", func() bool { return served() == "v3" })
	if w.Reloads() != 2 {
		t.Fatalf("reloads = %d", w.Reloads())
	}

}
