// Package dnstest is a small authoritative DNS server on loopback for
// tests: A and AAAA records that a test changes while the proxy runs,
// names that fail (SERVFAIL) or never answer, and truncation to force
// TCP. It answers on UDP and TCP at the same port.
package dnstest

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// Behaviour of a name.
type mode uint8

const (
	answer   mode = iota
	servfail      // answer SERVFAIL
	silent        // never answer
)

// Server is a running test DNS server.
type Server struct {
	addr netip.AddrPort
	udp  net.PacketConn
	tcp  net.Listener

	mu       sync.Mutex
	records  map[string][]record
	modes    map[string]mode
	truncate bool
	queries  map[string]int
	wg       sync.WaitGroup
}

type record struct {
	ip  netip.Addr
	ttl uint32
}

// Start runs a server on 127.0.0.1 and stops it in t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{records: map[string][]record{}, modes: map[string]mode{}, queries: map[string]int{}}
	var err error
	for range 20 {
		if s.udp, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			continue
		}
		s.addr = s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
		if s.tcp, err = net.Listen("tcp", s.addr.String()); err == nil {
			break
		}
		s.udp.Close()
	}
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	s.wg.Add(2)
	go s.serveUDP()
	go s.serveTCP()
	t.Cleanup(s.Close)
	return s
}

// Addr is where the server listens (UDP and TCP).
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Close stops the server and waits for its goroutines.
func (s *Server) Close() {
	s.udp.Close()
	s.tcp.Close()
	s.wg.Wait()
}

func key(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) + "." }

// Set replaces the name's addresses (IPv4 and IPv6 literals) and makes it
// answer normally; no addresses makes it exist without any (NODATA).
func (s *Server) Set(name string, ttl uint32, addrs ...string) {
	var rs []record
	for _, a := range addrs {
		rs = append(rs, record{ip: netip.MustParseAddr(a), ttl: ttl})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records[key(name)] = rs
	s.modes[key(name)] = answer
}

// Remove makes the name unknown (NXDOMAIN).
func (s *Server) Remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.records, key(name))
	delete(s.modes, key(name))
}

// Fail makes queries for the name answer SERVFAIL.
func (s *Server) Fail(name string) { s.setMode(name, servfail) }

// Silence makes queries for the name go unanswered.
func (s *Server) Silence(name string) { s.setMode(name, silent) }

func (s *Server) setMode(name string, m mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.modes[key(name)] = m
}

// Truncate makes UDP answers with records come back truncated (empty, TC
// set), so clients must ask again over TCP.
func (s *Server) Truncate(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.truncate = on
}

// Queries counts the questions asked about name so far.
func (s *Server) Queries(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[key(name)]
}

func (s *Server) serveUDP() {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if resp := s.respond(buf[:n], true); resp != nil {
			s.udp.WriteTo(resp, from)
		}
	}
}

func (s *Server) serveTCP() {
	defer s.wg.Done()
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			for {
				var l [2]byte
				if _, err := io.ReadFull(c, l[:]); err != nil {
					return
				}
				q := make([]byte, binary.BigEndian.Uint16(l[:]))
				if _, err := io.ReadFull(c, q); err != nil {
					return
				}
				resp := s.respond(q, false)
				if resp == nil {
					return
				}
				out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
				if _, err := c.Write(append(out, resp...)); err != nil {
					return
				}
			}
		}()
	}
}

// respond builds the answer to one query, or nil to stay silent.
func (s *Server) respond(query []byte, udp bool) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	name := strings.ToLower(q.Name.String())
	s.mu.Lock()
	s.queries[name]++
	m, known := s.modes[name]
	recs := s.records[name]
	trunc := s.truncate && udp
	s.mu.Unlock()
	rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired}
	switch {
	case m == silent:
		return nil
	case m == servfail:
		rh.RCode = dnsmessage.RCodeServerFailure
	case !known:
		rh.RCode = dnsmessage.RCodeNameError
	}
	var matching []record
	if rh.RCode == dnsmessage.RCodeSuccess {
		for _, r := range recs {
			if (q.Type == dnsmessage.TypeA && r.ip.Is4()) || (q.Type == dnsmessage.TypeAAAA && !r.ip.Is4()) {
				matching = append(matching, r)
			}
		}
	}
	if trunc && len(matching) > 0 {
		rh.Truncated = true
		matching = nil
	}
	b := dnsmessage.NewBuilder(nil, rh)
	b.EnableCompression()
	b.StartQuestions()
	b.Question(q)
	b.StartAnswers()
	for _, r := range matching {
		hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: r.ttl}
		if r.ip.Is4() {
			b.AResource(hdr, dnsmessage.AResource{A: r.ip.As4()})
		} else {
			b.AAAAResource(hdr, dnsmessage.AAAAResource{AAAA: r.ip.As16()})
		}
	}
	out, err := b.Finish()
	if err != nil {
		return nil
	}
	return out
}
