package listener

import (
	"net/netip"
	"testing"
)

// A reload keeps a listener's sockets when the address is the same; a
// renamed listener keeps them too, except on an ephemeral port, where only
// the name says which listener is which.
func TestReusesMatchesByAddress(t *testing.T) {
	bound := func(name, addr string) *Listener {
		l := New(&Config{Name: name, Address: netip.MustParseAddrPort(addr)})
		l.ports = make([]*port, 1) // as after Bind
		return l
	}
	fresh := func(name, addr string) *Listener {
		return New(&Config{Name: name, Address: netip.MustParseAddrPort(addr)})
	}
	cases := []struct {
		old, next *Listener
		want      bool
	}{
		{bound("main", "127.0.0.1:8080"), fresh("main", "127.0.0.1:8080"), true},
		{bound("main", "127.0.0.1:8080"), fresh("renamed", "127.0.0.1:8080"), true},
		{bound("main", "127.0.0.1:8080"), fresh("main", "127.0.0.1:8081"), false},
		{bound("main", "127.0.0.1:0"), fresh("main", "127.0.0.1:0"), true},
		{bound("main", "127.0.0.1:0"), fresh("other", "127.0.0.1:0"), false},
		{fresh("main", "127.0.0.1:8080"), fresh("main", "127.0.0.1:8080"), false}, // never bound
	}
	for i, c := range cases {
		if got := c.next.Reuses(c.old); got != c.want {
			t.Errorf("case %d: %s %s after %s %s: Reuses = %v", i, c.next.cfg.Name, c.next.cfg.Address, c.old.cfg.Name, c.old.cfg.Address, got)
		}
	}
}
