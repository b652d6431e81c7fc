package tlsinspector

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluiceproxy/sluice/host/listener"
)

// recorder is a net.Conn that keeps what is written and fails reads, so a
// crypto/tls client's Handshake writes its ClientHello and stops.
type recorder struct {
	net.Conn
	out bytes.Buffer
}

func (r *recorder) Write(p []byte) (int, error)      { return r.out.Write(p) }
func (r *recorder) Read([]byte) (int, error)         { return 0, errors.New("recorder: no server") }
func (r *recorder) Close() error                     { return nil }
func (r *recorder) SetDeadline(time.Time) error      { return nil }
func (r *recorder) SetReadDeadline(time.Time) error  { return nil }
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }

// clientHello is what crypto/tls sends first for cfg.
func clientHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	r := &recorder{}
	cfg.InsecureSkipVerify = true
	tls.Client(r, cfg).Handshake()
	if r.out.Len() == 0 {
		t.Fatal("no ClientHello written")
	}
	return r.out.Bytes()
}

// refragment splits a single-record ClientHello into records of at most
// size payload bytes.
func refragment(hello []byte, size int) []byte {
	payload := hello[recordHeaderLen:]
	var out []byte
	for len(payload) > 0 {
		n := min(size, len(payload))
		out = append(out, recordTypeHandshake, 3, 1, byte(n>>8), byte(n))
		out = append(out, payload[:n]...)
		payload = payload[n:]
	}
	return out
}

func inspect(f *Inspector, in []byte) (listener.FilterStatus, *listener.Inspection) {
	ins := &listener.Inspection{}
	st, n := f.Inspect(in, false, ins)
	if n != 0 {
		panic("tls_inspector consumed input")
	}
	return st, ins
}

// A real ClientHello (SNI, ALPN) is read whole, in one piece, one byte at
// a time (NeedMoreData until the last byte), and spread over many small
// records.
func TestInspectClientHello(t *testing.T) {
	hello := clientHello(t, &tls.Config{ServerName: "WWW.Example.com", NextProtos: []string{"h2", "http/1.1"}})
	want := func(t *testing.T, st listener.FilterStatus, ins *listener.Inspection) {
		t.Helper()
		if st != listener.Done || ins.TransportProtocol != "tls" || ins.ServerName != "www.example.com" ||
			strings.Join(ins.ALPN, ",") != "h2,http/1.1" {
			t.Fatalf("status %d, inspection %+v", st, ins)
		}
	}
	f := New(64 << 10)
	st, ins := inspect(f, hello)
	want(t, st, ins)

	f = New(64 << 10)
	for i := 1; i < len(hello); i++ {
		if st, _ := inspect(f, hello[:i]); st != listener.NeedMoreData {
			t.Fatalf("after %d of %d bytes: status %d", i, len(hello), st)
		}
	}
	st, ins = inspect(f, hello)
	want(t, st, ins)

	for _, size := range []int{1, 3, 100, 1000} {
		frag := refragment(hello, size)
		if records := (len(hello) - recordHeaderLen + size - 1) / size; records > maxClientHelloRecords {
			if st, _ := inspect(New(64<<10), frag); st != listener.Reject {
				t.Fatalf("%d records: status %d, want Reject", records, st)
			}
			continue
		}
		st, ins := inspect(New(64<<10), frag)
		want(t, st, ins)
	}
	if f.Stats.TLSFound.Load() != 1 || f.Stats.SNIFound.Load() != 1 || f.Stats.ALPNFound.Load() != 1 {
		t.Fatalf("stats %+v", &f.Stats)
	}
}

// Followed by more records (early data): only the ClientHello counts.
func TestInspectIgnoresWhatFollows(t *testing.T) {
	hello := clientHello(t, &tls.Config{ServerName: "a.test"})
	in := append(append([]byte{}, hello...), 23, 3, 3, 0, 1, 0)
	st, ins := inspect(New(64<<10), in)
	if st != listener.Done || ins.ServerName != "a.test" || ins.ALPN != nil {
		t.Fatalf("status %d, inspection %+v", st, ins)
	}
}

// Without SNI (an IP address as server name) and without ALPN.
func TestInspectNoSNI(t *testing.T) {
	f := New(64 << 10)
	st, ins := inspect(f, clientHello(t, &tls.Config{ServerName: "127.0.0.1"}))
	if st != listener.Done || ins.TransportProtocol != "tls" || ins.ServerName != "" || ins.ALPN != nil {
		t.Fatalf("status %d, inspection %+v", st, ins)
	}
	if f.Stats.SNINotFound.Load() != 1 || f.Stats.ALPNNotFound.Load() != 1 {
		t.Fatalf("stats %+v", &f.Stats)
	}
}

func TestInspectNotTLS(t *testing.T) {
	for _, in := range []string{"GET / HTTP/1.1\r\n", "\x16\x01", "SSH-2.0-x", "\x80\x2e\x01"} {
		f := New(64 << 10)
		st, ins := inspect(f, []byte(in))
		if st != listener.Done || ins.TransportProtocol != "" || f.Stats.TLSNotFound.Load() != 1 {
			t.Fatalf("%q: status %d, inspection %+v", in, st, ins)
		}
	}
	if st, _ := inspect(New(64<<10), nil); st != listener.NeedMoreData {
		t.Fatalf("empty input: %d", st)
	}
}

func TestInspectTooLarge(t *testing.T) {
	var protos []string
	for i := 0; i < 100; i++ {
		protos = append(protos, strings.Repeat("p", 20))
	}
	hello := clientHello(t, &tls.Config{ServerName: "a.test", NextProtos: protos})
	f := New(1024)
	// The header says too much already: no need to wait for the rest.
	if st, _ := inspect(f, hello[:9]); st != listener.Reject || f.Stats.ClientHelloTooLarge.Load() != 1 {
		t.Fatalf("status %d, stats %+v", st, &f.Stats)
	}
}

func TestInspectMalformed(t *testing.T) {
	hello := clientHello(t, &tls.Config{ServerName: "a.test", NextProtos: []string{"h2"}})
	mutate := func(fn func(b []byte) []byte) []byte { return fn(append([]byte{}, hello...)) }
	cases := map[string][]byte{
		"server hello":        mutate(func(b []byte) []byte { b[5] = 2; return b }),
		"record too long":     mutate(func(b []byte) []byte { b[3], b[4] = 0x48, 0; return b }),
		"empty record":        {22, 3, 1, 0, 0},
		"alert record after":  append(refragment(hello, 10)[:15], 21, 3, 3, 0, 2, 2, 40),
		"message too short":   mutate(func(b []byte) []byte { b[8]--; b[4]--; return b[:len(b)-1] }),
		"session id too long": mutate(func(b []byte) []byte { b[5+4+34] = 33; return b }),
		"sni list overrun":    mutate(func(b []byte) []byte { return corruptExtension(t, b, extServerName) }),
		"alpn list overrun":   mutate(func(b []byte) []byte { return corruptExtension(t, b, extALPN) }),
		"too many records": append([]byte{22, 3, 1, 0, 1, 1, 22, 3, 1, 0, 1, 0, 22, 3, 1, 0, 1, 0, 22, 3, 1, 0, 1, 64},
			bytes.Repeat([]byte{22, 3, 1, 0, 1, 0}, 40)...),
	}
	for name, in := range cases {
		f := New(64 << 10)
		if st, _ := inspect(f, in); st != listener.Reject || f.Stats.ClientHelloMalformed.Load() != 1 {
			t.Errorf("%s: status %d, stats %+v", name, st, &f.Stats)
		}
	}
}

// corruptExtension makes the inner list length of extension typ one more
// than its data holds.
func corruptExtension(t *testing.T, b []byte, typ int) []byte {
	r := reader{b: b[9:]}
	r.bytes(34)
	r.vec(1)
	r.vec(2)
	r.vec(1)
	exts := r.vec(2)
	for len(exts.b) > 0 {
		at := len(b) - len(exts.b)
		got := exts.u16()
		exts.vec(2)
		if got == typ {
			b[at+5]++ // low byte of the list length inside the extension
			return b
		}
	}
	t.Fatalf("extension %d not found", typ)
	return nil
}

func FuzzInspect(f *testing.F) {
	f.Add(clientHello(f, &tls.Config{ServerName: "a.test", NextProtos: []string{"h2"}}))
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, ins := inspect(New(4096), in)
		if st == listener.Done && ins.TransportProtocol == "tls" {
			// Whatever was found must be found again from the same bytes
			// arriving in two pieces.
			for _, cut := range []int{1, len(in) / 2} {
				st2, ins2 := inspect(New(4096), in[:cut])
				if st2 == listener.NeedMoreData {
					st2, ins2 = inspect(New(4096), in)
				}
				if st2 != st || ins2.ServerName != ins.ServerName || strings.Join(ins2.ALPN, ",") != strings.Join(ins.ALPN, ",") {
					t.Fatalf("differs when split at %d", cut)
				}
			}
		}
	})
}
