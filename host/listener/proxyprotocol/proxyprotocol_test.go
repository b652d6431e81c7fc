package proxyprotocol

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/sluiceproxy/sluice/host/listener"
)

// v2 builds a PROXY protocol v2 header.
func v2(cmd, fam byte, addrs []byte, tlvs []byte) []byte {
	b := append([]byte{}, v2Signature...)
	b = append(b, 0x20|cmd, fam)
	b = binary.BigEndian.AppendUint16(b, uint16(len(addrs)+len(tlvs)))
	return append(append(b, addrs...), tlvs...)
}

func ipv4Addrs(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func ipv6Addrs(src, dst string, sport, dport uint16) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	b := append(s[:], d[:]...)
	b = binary.BigEndian.AppendUint16(b, sport)
	return binary.BigEndian.AppendUint16(b, dport)
}

func TestHeaders(t *testing.T) {
	tlv := []byte{0x04, 0, 3, 'a', 'b', 'c', 0x20, 0, 0} // NOOP with data, SSL with none
	cases := []struct {
		name     string
		header   []byte
		src, dst string // "" keeps the socket's
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 51234 443\r\n"), "203.0.113.7:51234", "192.0.2.1:443"},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 0 65535\r\n"), "[2001:db8::7]:0", "[2001:db8::1]:65535"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), "", ""},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), "", ""},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"},
		{"v2 tcp4", v2(1, 0x11, ipv4Addrs("203.0.113.7", "192.0.2.1", 51234, 443), nil), "203.0.113.7:51234", "192.0.2.1:443"},
		{"v2 tcp4 with tlvs", v2(1, 0x11, ipv4Addrs("203.0.113.7", "192.0.2.1", 1, 2), tlv), "203.0.113.7:1", "192.0.2.1:2"},
		{"v2 tcp6", v2(1, 0x21, ipv6Addrs("2001:db8::7", "2001:db8::1", 5, 6), nil), "[2001:db8::7]:5", "[2001:db8::1]:6"},
		{"v2 v4-mapped", v2(1, 0x21, ipv6Addrs("::ffff:203.0.113.7", "::ffff:192.0.2.1", 5, 6), nil), "203.0.113.7:5", "192.0.2.1:6"},
		{"v2 local", v2(0, 0x11, ipv4Addrs("203.0.113.7", "192.0.2.1", 1, 2), nil), "", ""},
		{"v2 unspec", v2(1, 0x00, nil, nil), "", ""},
		{"v2 unix", v2(1, 0x31, make([]byte, 216), nil), "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			payload := []byte("GET / HTTP/1.1\r\n\r\n")
			in := append(append([]byte{}, tc.header...), payload...)
			// Whole, and one byte at a time.
			for _, step := range []int{len(in), 1} {
				f := New(false)
				ins := &listener.Inspection{}
				var st listener.FilterStatus
				var n int
				for end := min(step, len(in)); ; end = min(end+step, len(in)) {
					st, n = f.Inspect(in[:end], false, ins)
					if st != listener.NeedMoreData || end == len(in) {
						break
					}
					if end >= len(tc.header) {
						t.Fatalf("still NeedMoreData with the whole header (%d bytes)", end)
					}
				}
				if st != listener.Done || n != len(tc.header) {
					t.Fatalf("step %d: status %d consumed %d, want Done %d", step, st, n, len(tc.header))
				}
				if got := addrString(ins.Source); got != tc.src {
					t.Fatalf("source %q, want %q", got, tc.src)
				}
				if got := addrString(ins.Destination); got != tc.dst {
					t.Fatalf("destination %q, want %q", got, tc.dst)
				}
				if f.Stats.V1Found.Load()+f.Stats.V2Found.Load() != 1 {
					t.Fatalf("stats %+v", &f.Stats)
				}
			}
		})
	}
}

func addrString(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func TestMalformedHeaders(t *testing.T) {
	cases := map[string][]byte{
		"v1 too long":         append([]byte("PROXY TCP4 "), bytes.Repeat([]byte("1"), 200)...),
		"v1 bad family":       []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
		"v1 v6 as tcp4":       []byte("PROXY TCP4 ::1 ::1 1 2\r\n"),
		"v1 v4 as tcp6":       []byte("PROXY TCP6 1.2.3.4 1.2.3.4 1 2\r\n"),
		"v1 bad address":      []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"),
		"v1 port too big":     []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
		"v1 port zero-padded": []byte("PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n"),
		"v1 signed port":      []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n"),
		"v1 missing port":     []byte("PROXY TCP4 1.2.3.4 5.6.7.8 80\r\n"),
		"v1 double space":     []byte("PROXY TCP4  1.2.3.4 5.6.7.8 80 2\r\n"),
		"v1 zone":             []byte("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n"),
		"v2 version 1":        append(append([]byte{}, v2Signature...), 0x11, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2),
		"v2 command 2":        v2(2, 0x11, ipv4Addrs("1.2.3.4", "5.6.7.8", 1, 2), nil),
		"v2 family 4":         v2(1, 0x41, ipv4Addrs("1.2.3.4", "5.6.7.8", 1, 2), nil),
		"v2 short addresses":  v2(1, 0x21, ipv4Addrs("1.2.3.4", "5.6.7.8", 1, 2), nil),
		"v2 truncated tlv":    v2(1, 0x11, ipv4Addrs("1.2.3.4", "5.6.7.8", 1, 2), []byte{0x04, 0, 9, 'x'}),
		"v2 tlv header only":  v2(1, 0x11, ipv4Addrs("1.2.3.4", "5.6.7.8", 1, 2), []byte{0x04, 0}),
	}
	for name, in := range cases {
		f := New(true) // malformed is refused even when headers are optional
		if st, n := f.Inspect(in, false, &listener.Inspection{}); st != listener.Reject || n != 0 || f.Stats.Malformed.Load() != 1 {
			t.Errorf("%s: status %d consumed %d, stats %+v", name, st, n, &f.Stats)
		}
	}
}

func TestWithoutHeader(t *testing.T) {
	for _, in := range []string{"POST / HTTP/1.1\r\n", "\x16\x03\x01", "PROX\n", "\r\n\r\nx"} {
		required := New(false)
		if st, _ := required.Inspect([]byte(in), false, &listener.Inspection{}); st != listener.Reject || required.Stats.Missing.Load() != 1 {
			t.Errorf("%q required: status %d", in, st)
		}
		optional := New(true)
		ins := &listener.Inspection{}
		if st, n := optional.Inspect([]byte(in), false, ins); st != listener.Done || n != 0 || ins.Source.IsValid() || optional.Stats.NotFound.Load() != 1 {
			t.Errorf("%q optional: status %d consumed %d", in, st, n)
		}
	}
	// Too little to tell yet.
	for _, in := range []string{"", "P", "PROXY", "\r\n\r\n\x00"} {
		if st, _ := New(true).Inspect([]byte(in), false, &listener.Inspection{}); st != listener.NeedMoreData {
			t.Errorf("%q: status %d, want NeedMoreData", in, st)
		}
	}
}

func FuzzInspect(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nrest"))
	f.Add(v2(1, 0x21, ipv6Addrs("::1", "::2", 1, 2), []byte{1, 0, 1, 'x'}))
	f.Fuzz(func(t *testing.T, in []byte) {
		st, n := New(true).Inspect(in, false, &listener.Inspection{})
		if n < 0 || n > len(in) || (st != listener.Done && n != 0) {
			t.Fatalf("status %d consumed %d of %d", st, n, len(in))
		}
	})
}
