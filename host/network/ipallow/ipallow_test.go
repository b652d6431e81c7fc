package ipallow

import (
	"net/netip"
	"testing"
)

func TestParseCIDRsAndMatch(t *testing.T) {
	ps, err := ParseCIDRs([]string{"10.0.0.0/8", "192.168.1.7", "2001:db8::/32", "10.1.2.3/16"})
	if err != nil {
		t.Fatal(err)
	}
	c := New(ps, nil)
	for addr, want := range map[string]bool{
		"10.200.0.1":      true,
		"192.168.1.7":     true,
		"192.168.1.8":     false,
		"2001:db8::1":     true,
		"2001:db9::1":     false,
		"::ffff:10.0.0.1": true, // IPv4-mapped counts as IPv4
		"127.0.0.1":       false,
	} {
		if got := c.Allows(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: allowed %v, want %v", addr, got, want)
		}
	}
}

func TestParseCIDRsNamesTheBadEntry(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.0/33": `[1]: invalid CIDR "10.0.0.0/33": want address/prefix-length or an address`,
		"host.local":  `[1]: invalid CIDR "host.local": want address/prefix-length or an address`,
	} {
		_, err := ParseCIDRs([]string{"10.0.0.0/8", in})
		if err == nil || err.Error() != want {
			t.Errorf("%q: %v, want %q", in, err, want)
		}
	}
}
