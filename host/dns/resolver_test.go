package dns

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/sluiceproxy/sluice/host/dns/dnstest"
)

func lookup(t *testing.T, r *Resolver, name string, fam Family) (Answer, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return r.Lookup(ctx, name, fam)
}

func addrs(a Answer) string {
	var s []string
	for _, x := range a.Addrs {
		s = append(s, x.String())
	}
	return strings.Join(s, ",")
}

func TestLookupFamiliesAndTTL(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("both.test", 30, "10.0.0.1", "10.0.0.2", "fd00::1")
	srv.Set("v4.test", 7, "10.0.0.3")
	srv.Set("v6.test", 9, "fd00::2")
	r := New([]netip.AddrPort{srv.Addr()}).WithTimeout(time.Second, 1)
	cases := []struct {
		name string
		fam  Family
		want string
		ttl  time.Duration
	}{
		{"both.test", V4Only, "10.0.0.1,10.0.0.2", 30 * time.Second},
		{"both.test", V6Only, "fd00::1", 30 * time.Second},
		{"both.test", Auto, "fd00::1", 30 * time.Second},
		{"both.test", V4Preferred, "10.0.0.1,10.0.0.2", 30 * time.Second},
		{"both.test", All, "10.0.0.1,10.0.0.2,fd00::1", 30 * time.Second},
		{"v4.test", Auto, "10.0.0.3", 7 * time.Second},
		{"v6.test", V4Preferred, "fd00::2", 9 * time.Second},
		{"v4.test", V6Only, "", 0},
		{"missing.test", Auto, "", 0},
		{"10.9.9.9", V6Only, "10.9.9.9", 0},
	}
	for _, c := range cases {
		a, err := lookup(t, r, c.name, c.fam)
		if err != nil || addrs(a) != c.want || a.TTL != c.ttl {
			t.Errorf("%s %v: %q ttl %v err %v; want %q ttl %v", c.name, c.fam, addrs(a), a.TTL, err, c.want, c.ttl)
		}
	}
}

func TestServerFailureAndTimeout(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Fail("bad.test")
	srv.Silence("quiet.test")
	r := New([]netip.AddrPort{srv.Addr()}).WithTimeout(200*time.Millisecond, 1)
	_, err := lookup(t, r, "bad.test", V4Only)
	var se *ServerError
	if !errors.As(err, &se) || se.RCode != dnsmessage.RCodeServerFailure {
		t.Fatalf("SERVFAIL: err %v", err)
	}
	if _, err := lookup(t, r, "quiet.test", V4Only); err == nil || !strings.Contains(err.Error(), "no answer from") {
		t.Fatalf("silent server: err %v", err)
	}
}

func TestTruncatedAnswerRetriesOverTCP(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("big.test", 5, "10.1.1.1")
	srv.Truncate(true)
	r := New([]netip.AddrPort{srv.Addr()}).WithTimeout(time.Second, 1)
	a, err := lookup(t, r, "big.test", V4Only)
	if err != nil || addrs(a) != "10.1.1.1" {
		t.Fatalf("%q %v", addrs(a), err)
	}
	if n := srv.Queries("big.test"); n != 2 {
		t.Fatalf("%d queries, want one over UDP and one over TCP", n)
	}
}

func TestSystemConfigSearchAndHosts(t *testing.T) {
	srv := dnstest.Start(t)
	srv.Set("api.svc.test", 3, "10.2.2.2")
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	os.WriteFile(conf, []byte("# comment\nnameserver "+srv.Addr().Addr().String()+"\nsearch svc.test other.test\noptions ndots:2 timeout:1 attempts:1\n"), 0o644)
	hosts := filepath.Join(dir, "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 localhost ip6-localhost # comment\n10.3.3.3 pinned.test\n"), 0o644)
	r := System(conf, hosts)
	if r.ndots != 2 || r.timeout != time.Second || r.attempts != 1 || !slices.Equal(r.search, []string{"svc.test", "other.test"}) {
		t.Fatalf("parsed %+v", r)
	}
	if got := r.candidates("api"); !slices.Equal(got, []string{"api.svc.test.", "api.other.test.", "api."}) {
		t.Fatalf("candidates %v", got)
	}
	if got := r.candidates("a.b.c"); got[0] != "a.b.c." {
		t.Fatalf("candidates %v", got)
	}
	// resolv.conf's server port is 53; point the test at the real port.
	r.servers = []netip.AddrPort{srv.Addr()}
	if a, err := lookup(t, r, "api", V4Only); err != nil || addrs(a) != "10.2.2.2" {
		t.Fatalf("search: %q %v", addrs(a), err)
	}
	if a, err := lookup(t, r, "localhost", Auto); err != nil || addrs(a) != "::1" {
		t.Fatalf("hosts AUTO: %q %v", addrs(a), err)
	}
	if a, err := lookup(t, r, "localhost", V4Preferred); err != nil || addrs(a) != "127.0.0.1" {
		t.Fatalf("hosts V4_PREFERRED: %q %v", addrs(a), err)
	}
	if a, err := lookup(t, r, "PINNED.test.", All); err != nil || addrs(a) != "10.3.3.3" {
		t.Fatalf("hosts: %q %v", addrs(a), err)
	}
	if _, err := lookup(t, System(filepath.Join(dir, "none"), filepath.Join(dir, "none")), "x.test", Auto); !errors.Is(err, ErrNoServers) {
		t.Fatalf("no servers: %v", err)
	}
}
