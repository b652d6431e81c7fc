package hcm

import (
	"net/netip"
	"testing"
)

func TestTrustedClient(t *testing.T) {
	peer := netip.MustParseAddr("10.0.0.9")
	cases := []struct {
		xff  string
		hops int
		want string
	}{
		{"", 1, "10.0.0.9"},
		{"203.0.113.7", 0, "10.0.0.9"},
		{"203.0.113.7", 1, "203.0.113.7"},
		{"198.51.100.1, 203.0.113.7", 1, "203.0.113.7"},
		{"198.51.100.1, 203.0.113.7", 2, "198.51.100.1"},
		{"198.51.100.1, 203.0.113.7", 3, "10.0.0.9"},
		{"junk, 203.0.113.7", 2, "10.0.0.9"},
	}
	for _, c := range cases {
		if got := trustedClient([]byte(c.xff), peer, c.hops); got.String() != c.want {
			t.Errorf("trustedClient(%q, %d) = %v, want %s", c.xff, c.hops, got, c.want)
		}
	}
}
