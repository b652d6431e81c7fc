package network

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/tlscontext/tlstest"
	"github.com/sluiceproxy/sluice/host/worker"
)

// tlsAttrs is a filter that logs the connection's TLS attributes when it
// hears Connected.
type tlsAttrs struct {
	ev *events
	cb *Callbacks
}

func (f *tlsAttrs) OnEvent(e ConnectionEvent) {
	if e != Connected {
		return
	}
	a := f.cb.Connection().Attributes()
	f.ev.add("attrs(sni=%s alpn=%s version=%s peer=%s sans=%s)", a.ServerName, a.ALPN, a.TLSVersion, a.PeerSubject, strings.Join(a.PeerSANs, ","))
}

// serveTLS is serve with TLS started on each accepted connection before
// the chain is built, as the listener does.
func serveTLS(t *testing.T, cfg *tls.Config, opts *Options, chain ...NamedFilterFactory) string {
	t.Helper()
	w, err := worker.New(worker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run()
	t.Cleanup(func() {
		w.Stop()
		<-w.Done()
	})
	ready := make(chan error, 1)
	var addr string
	w.Post(func() {
		l, err := w.Listen(netip.MustParseAddrPort("127.0.0.1:0"), func(c *worker.Conn) {
			c.StartTLS(cfg, waitLimit)
			New(c, chain, opts, Attributes{}, nil)
		})
		if err == nil {
			addr = l.Addr().String()
		}
		ready <- err
	})
	if err := <-ready; err != nil {
		t.Fatal(err)
	}
	return addr
}

// With TLS the filters start before the handshake (on new connection; a
// greeting written then waits for it) and hear Connected after it, with
// the TLS attributes set; then they see plaintext.
func TestTLSConnectedAfterHandshake(t *testing.T) {
	ca := tlstest.NewCA("network test CA")
	server := ca.Issue(tlstest.Leaf{DNSNames: []string{"svc.test"}})
	client := ca.Issue(tlstest.Leaf{CommonName: "client-7", DNSNames: []string{"c7.test"}, Client: true})
	cfg := &tls.Config{Certificates: []tls.Certificate{server.Cert}, NextProtos: []string{"x-proto"},
		ClientCAs: ca.Pool(), ClientAuth: tls.RequireAndVerifyClientCert}
	ev := newEvents()
	addr := serveTLS(t, cfg, &Options{},
		NamedFilterFactory{Name: "attrs", Factory: FilterFactoryFunc(func(cb *Callbacks) Filter { return &tlsAttrs{ev: ev, cb: cb} })},
		factory("term", ev, func(r *recorder) {
			r.onNew = func(r *recorder) FilterStatus {
				r.cb.Connection().Write([]byte("hello;"), false)
				return Continue
			}
			echo(r)
		}))
	tc, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "svc.test",
		NextProtos: []string{"x-proto"}, Certificates: []tls.Certificate{client.Cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	tc.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(tc, "ping")
	got := make([]byte, len("hello;ping"))
	if _, err := io.ReadFull(tc, got); err != nil || string(got) != "hello;ping" {
		t.Fatalf("read %q %v", got, err)
	}
	ev.waitFor(t, `term.data("ping",false)`)
	want := `term.new term.write("hello;",false) ` +
		`attrs(sni=svc.test alpn=x-proto version=TLSv1.3 peer=CN=client-7,O=sluice tests sans=c7.test) term.event(Connected) ` +
		`term.data("ping",false) term.write("ping",false)`
	if got := ev.String(); got != want {
		t.Fatalf("events:\n got %s\nwant %s", got, want)
	}
}

// A failed handshake closes the connection: the filters that started hear
// LocalClose (never Connected) and are destroyed; it is counted.
func TestTLSHandshakeFailureClosesTheChain(t *testing.T) {
	ca := tlstest.NewCA("network test CA")
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.Issue(tlstest.Leaf{DNSNames: []string{"svc.test"}}).Cert}}
	ev := newEvents()
	stats := &Stats{}
	addr := serveTLS(t, cfg, &Options{Stats: stats}, factory("term", ev, echo))
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\n\r\n")
	ev.waitFor(t, "term.destroy")
	if got := ev.String(); got != "term.new term.event(LocalClose) term.destroy" {
		t.Fatalf("events: %s", got)
	}
	if stats.TLSHandshakeErrors.Load() != 1 || stats.TLSHandshakes.Load() != 0 {
		t.Fatalf("handshakes %d errors %d", stats.TLSHandshakes.Load(), stats.TLSHandshakeErrors.Load())
	}
}

// Access-log JSON stays valid JSON whatever a module or a certificate put
// in a value: invalid UTF-8 (a C module's bytes), control characters (a
// certificate subject may hold them), quotes.
func TestAccessLogJSONIsValidForAnyValue(t *testing.T) {
	md := map[string]map[string]MetadataValue{
		"mod\xff": {"k\"ey": {Str: "v\xc3\x28\x07\u2028"}, "n": {Num: 1.5, IsNumber: true}},
	}
	a := &Attributes{ServerName: "a.example", TLSVersion: "TLSv1.3", TLSCipherSuite: "TLS_AES_128_GCM_SHA256",
		ALPN: "h2", PeerSubject: "CN=bell\x07,O=\"quoted\"", PeerSANs: []string{"x\x00y"}}
	b := AppendMetadataJSON([]byte(`{"md":`), md)
	b = append(AppendTLSJSON(b, a), '}')
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if got := v["md"].(map[string]any)["mod\ufffd"].(map[string]any)["k\"ey"]; got != "v\ufffd(\a\u2028" {
		t.Fatalf("metadata value read back as %q", got)
	}
	if got := v["downstream_peer_subject"]; got != "CN=bell\a,O=\"quoted\"" {
		t.Fatalf("peer subject read back as %q", got)
	}
}
