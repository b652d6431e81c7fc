package dns

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// Family is which address families a lookup asks for (Envoy's
// dns_lookup_family).
type Family uint8

const (
	// Auto asks for AAAA and falls back to A when there is none.
	Auto Family = iota
	V4Only
	V6Only
	// V4Preferred asks for A and falls back to AAAA.
	V4Preferred
	// All asks for both and returns every address.
	All
)

// Answer is a lookup's addresses and the smallest TTL among them (0 when
// the answer had none, or came from /etc/hosts).
type Answer struct {
	Addrs []netip.Addr
	TTL   time.Duration
}

// Resolver asks DNS servers. It is safe for concurrent use.
type Resolver struct {
	servers  []netip.AddrPort
	search   []string
	ndots    int
	timeout  time.Duration
	attempts int
	hosts    map[string][]netip.Addr // /etc/hosts, system configuration only
}

// Default query limits (resolv.conf's defaults).
const (
	defaultTimeout  = 5 * time.Second
	defaultAttempts = 2
	maxUDPAnswer    = 1232 // the EDNS buffer size we advertise
)

// ErrNoServers is returned when no DNS server is configured.
var ErrNoServers = errors.New("dns: no DNS server configured")

// New returns a resolver that asks servers (port 53 when a server has
// port 0). With no servers it uses the system's configuration.
func New(servers []netip.AddrPort) *Resolver {
	if len(servers) == 0 {
		return System("/etc/resolv.conf", "/etc/hosts")
	}
	r := &Resolver{timeout: defaultTimeout, attempts: defaultAttempts, ndots: 1}
	for _, s := range servers {
		if s.Port() == 0 {
			s = netip.AddrPortFrom(s.Addr(), 53)
		}
		r.servers = append(r.servers, s)
	}
	return r
}

// WithTimeout sets the per-query timeout and attempts (tests use short
// ones).
func (r *Resolver) WithTimeout(timeout time.Duration, attempts int) *Resolver {
	c := *r
	c.timeout, c.attempts = timeout, max(attempts, 1)
	return &c
}

// System reads a resolv.conf and a hosts file (missing files are
// tolerated: no servers, no hosts entries).
func System(resolvConf, hostsFile string) *Resolver {
	r := &Resolver{timeout: defaultTimeout, attempts: defaultAttempts, ndots: 1, hosts: map[string][]netip.Addr{}}
	if f, err := os.Open(resolvConf); err == nil {
		r.parseResolvConf(f)
		f.Close()
	}
	if f, err := os.Open(hostsFile); err == nil {
		r.parseHosts(f)
		f.Close()
	}
	return r
}

func (r *Resolver) parseResolvConf(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") || strings.HasPrefix(f[0], ";") {
			continue
		}
		switch f[0] {
		case "nameserver":
			if ip, err := netip.ParseAddr(f[1]); err == nil {
				r.servers = append(r.servers, netip.AddrPortFrom(ip, 53))
			}
		case "search", "domain":
			r.search = nil
			for _, d := range f[1:] {
				r.search = append(r.search, strings.TrimSuffix(d, "."))
			}
		case "options":
			for _, o := range f[1:] {
				k, v, _ := strings.Cut(o, ":")
				n, err := strconv.Atoi(v)
				if err != nil {
					continue
				}
				switch k {
				case "ndots":
					r.ndots = min(max(n, 0), 15)
				case "timeout":
					r.timeout = time.Duration(max(n, 1)) * time.Second
				case "attempts":
					r.attempts = min(max(n, 1), 5)
				}
			}
		}
	}
}

func (r *Resolver) parseHosts(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		ip, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		for _, name := range f[1:] {
			key := strings.ToLower(strings.TrimSuffix(name, "."))
			r.hosts[key] = append(r.hosts[key], ip.Unmap())
		}
	}
}

// Lookup resolves name to addresses of the asked family.
func (r *Resolver) Lookup(ctx context.Context, name string, fam Family) (Answer, error) {
	if ip, err := netip.ParseAddr(name); err == nil {
		return Answer{Addrs: []netip.Addr{ip}}, nil
	}
	if addrs := r.hostsLookup(name, fam); len(addrs) > 0 {
		return Answer{Addrs: addrs}, nil
	}
	if len(r.servers) == 0 {
		return Answer{}, ErrNoServers
	}
	first, second := dnsmessage.TypeAAAA, dnsmessage.TypeA
	switch fam {
	case V4Only:
		return r.lookupType(ctx, name, dnsmessage.TypeA)
	case V6Only:
		return r.lookupType(ctx, name, dnsmessage.TypeAAAA)
	case V4Preferred:
		first, second = dnsmessage.TypeA, dnsmessage.TypeAAAA
	case All:
		a, err := r.lookupType(ctx, name, dnsmessage.TypeA)
		if err != nil {
			return a, err
		}
		b, err := r.lookupType(ctx, name, dnsmessage.TypeAAAA)
		if err != nil {
			return b, err
		}
		return merge(a, b), nil
	}
	a, err := r.lookupType(ctx, name, first)
	if err != nil || len(a.Addrs) > 0 {
		return a, err
	}
	return r.lookupType(ctx, name, second)
}

func merge(a, b Answer) Answer {
	out := Answer{Addrs: append(a.Addrs, b.Addrs...)}
	switch {
	case len(a.Addrs) == 0:
		out.TTL = b.TTL
	case len(b.Addrs) == 0:
		out.TTL = a.TTL
	default:
		out.TTL = min(a.TTL, b.TTL)
	}
	return out
}

func (r *Resolver) hostsLookup(name string, fam Family) []netip.Addr {
	all := r.hosts[strings.ToLower(strings.TrimSuffix(name, "."))]
	var v4, v6 []netip.Addr
	for _, a := range all {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	switch fam {
	case V4Only:
		return v4
	case V6Only:
		return v6
	case V4Preferred:
		if len(v4) > 0 {
			return v4
		}
		return v6
	case All:
		return append(v4, v6...)
	}
	if len(v6) > 0 {
		return v6
	}
	return v4
}

// candidates are the names to try, in order: with fewer than ndots dots
// the search domains come first, then the name itself; otherwise the other
// way round. A trailing dot means exactly the name.
func (r *Resolver) candidates(name string) []string {
	if strings.HasSuffix(name, ".") {
		return []string{name}
	}
	abs := name + "."
	var searched []string
	for _, d := range r.search {
		searched = append(searched, name+"."+d+".")
	}
	if strings.Count(name, ".") >= r.ndots {
		return append([]string{abs}, searched...)
	}
	return append(searched, abs)
}

// lookupType asks for one record type, trying each candidate name until
// one exists.
func (r *Resolver) lookupType(ctx context.Context, name string, t dnsmessage.Type) (Answer, error) {
	var lastErr error
	for _, cand := range r.candidates(name) {
		q, err := dnsmessage.NewName(cand)
		if err != nil {
			return Answer{}, fmt.Errorf("dns: invalid name %q: %w", name, err)
		}
		ans, exists, err := r.ask(ctx, q, t)
		if err != nil {
			lastErr = err
			continue
		}
		if exists {
			return ans, nil
		}
	}
	if lastErr != nil {
		return Answer{}, lastErr
	}
	return Answer{}, nil // NXDOMAIN for every candidate
}

// ask queries the servers in turn, attempts times, until one answers.
// exists is false for NXDOMAIN.
func (r *Resolver) ask(ctx context.Context, q dnsmessage.Name, t dnsmessage.Type) (ans Answer, exists bool, err error) {
	err = ErrNoServers
	for range r.attempts {
		for _, srv := range r.servers {
			if ctx.Err() != nil {
				return Answer{}, false, ctx.Err()
			}
			ans, exists, err = r.exchange(ctx, srv, q, t)
			if err == nil {
				return ans, exists, nil
			}
		}
	}
	return Answer{}, false, err
}

// ServerError is an answer with a failure code (SERVFAIL, REFUSED, ...).
type ServerError struct {
	Server netip.AddrPort
	RCode  dnsmessage.RCode
}

func (e *ServerError) Error() string {
	return fmt.Sprintf("dns: server %v answered %v", e.Server, e.RCode)
}

func (r *Resolver) exchange(ctx context.Context, srv netip.AddrPort, q dnsmessage.Name, t dnsmessage.Type) (Answer, bool, error) {
	id := uint16(rand.Uint32())
	query, err := buildQuery(id, q, t)
	if err != nil {
		return Answer{}, false, err
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := exchangeUDP(ctx, srv, query, id)
	if err != nil {
		return Answer{}, false, err
	}
	var p dnsmessage.Parser
	h, err := p.Start(resp)
	if err != nil {
		return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
	}
	if h.Truncated {
		if resp, err = exchangeTCP(ctx, srv, query, id); err != nil {
			return Answer{}, false, err
		}
		if h, err = p.Start(resp); err != nil {
			return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
		}
	}
	switch h.RCode {
	case dnsmessage.RCodeSuccess:
	case dnsmessage.RCodeNameError:
		return Answer{}, false, nil
	default:
		return Answer{}, false, &ServerError{Server: srv, RCode: h.RCode}
	}
	if err := p.SkipAllQuestions(); err != nil {
		return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
	}
	var ans Answer
	first := true
	for {
		rh, err := p.AnswerHeader()
		if err == dnsmessage.ErrSectionDone {
			break
		}
		if err != nil {
			return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
		}
		if rh.Type != t || rh.Class != dnsmessage.ClassINET {
			if err := p.SkipAnswer(); err != nil {
				return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
			}
			continue
		}
		var ip netip.Addr
		if t == dnsmessage.TypeA {
			a, err := p.AResource()
			if err != nil {
				return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
			}
			ip = netip.AddrFrom4(a.A)
		} else {
			a, err := p.AAAAResource()
			if err != nil {
				return Answer{}, false, fmt.Errorf("dns: malformed answer from %v: %w", srv, err)
			}
			ip = netip.AddrFrom16(a.AAAA)
		}
		ttl := time.Duration(rh.TTL) * time.Second
		if first || ttl < ans.TTL {
			ans.TTL = ttl
		}
		first = false
		ans.Addrs = append(ans.Addrs, ip)
	}
	return ans, true, nil
}

func buildQuery(id uint16, q dnsmessage.Name, t dnsmessage.Type) ([]byte, error) {
	b := dnsmessage.NewBuilder(make([]byte, 2, 514), dnsmessage.Header{ID: id, RecursionDesired: true})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(dnsmessage.Question{Name: q, Type: t, Class: dnsmessage.ClassINET}); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	var rh dnsmessage.ResourceHeader
	if err := rh.SetEDNS0(maxUDPAnswer, dnsmessage.RCodeSuccess, false); err != nil {
		return nil, err
	}
	if err := b.OPTResource(rh, dnsmessage.OPTResource{}); err != nil {
		return nil, err
	}
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(msg, uint16(len(msg)-2)) // TCP length prefix
	return msg, nil
}

// exchangeUDP sends query (without its TCP length prefix) and waits for
// the answer carrying id, ignoring strays.
func exchangeUDP(ctx context.Context, srv netip.AddrPort, query []byte, id uint16) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", srv.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(query[2:]); err != nil {
		return nil, err
	}
	buf := make([]byte, maxUDPAnswer)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("dns: no answer from %v: %w", srv, err)
		}
		if n >= 2 && binary.BigEndian.Uint16(buf) == id {
			return buf[:n], nil
		}
	}
}

func exchangeTCP(ctx context.Context, srv netip.AddrPort, query []byte, id uint16) ([]byte, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", srv.String())
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(query); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, fmt.Errorf("dns: no answer from %v over TCP: %w", srv, err)
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	if _, err := io.ReadFull(c, buf); err != nil {
		return nil, fmt.Errorf("dns: no answer from %v over TCP: %w", srv, err)
	}
	if len(buf) < 2 || binary.BigEndian.Uint16(buf) != id {
		return nil, fmt.Errorf("dns: answer from %v over TCP has the wrong id", srv)
	}
	return buf, nil
}
