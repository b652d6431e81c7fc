// Package listener is sluice's listener subsystem: one configured listener's
// sockets (one per worker, SO_REUSEPORT, so the kernel spreads connections
// and no accept lock is shared) and what happens on accept, in Envoy's
// order — the listener filters look at the first bytes (PROXY protocol
// header, TLS ClientHello: tlsinspector, proxyprotocol), the filter chain
// that matches the connection best is chosen (match.go), TLS starts if the
// chain terminates it, and the chain's network filters are built on the
// connection (host/network) — plus the per-worker sets of open
// connections that a drain walks.
//
// A Listener is one configuration generation of a listener. A reload that
// keeps a listener's address builds a new Listener that adopts the old
// one's sockets (Adopt): the socket stays open, so no connection is
// refused, and each worker sends its next accepted connection to the new
// generation while the old one's connections — in their own sets — go on
// with the filter chains they started with until they end or drain.
//
// Threads: Bind runs on the main goroutine and hands each socket to its
// worker by message; the per-worker methods (Adopt, StopAccepting, Drain,
// CloseAll, OpenConnections) are loop-thread only, for that worker.
// Listener filters and filter chains are shared, read-only, by all
// workers.
package listener

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Config is one compiled listener.
type Config struct {
	Name    string
	Index   int // position in the config's listeners, for error paths
	Address netip.AddrPort

	ListenerFilters []NamedFilter
	// ListenerFiltersTimeout bounds the listener filters (0: none); at
	// the bound the connection is closed, or, with
	// ContinueOnListenerFiltersTimeout, goes on with what is known.
	ListenerFiltersTimeout           time.Duration
	ContinueOnListenerFiltersTimeout bool

	Chains  []*FilterChain
	Default *FilterChain // takes what no chain matches; nil: close those

	Options network.Options
	// MaxConnections bounds the listener's connections (0: none);
	// GlobalLimit is the process-wide bound they also count against (nil:
	// none). Past either, a connection is closed right after accept.
	MaxConnections int
	GlobalLimit    *worker.ConnLimit
}

// Listener is a bound listener.
type Listener struct {
	cfg   *Config
	addr  netip.AddrPort
	stats *Stats
	ports []*port        // per worker
	sets  []*network.Set // per worker; touched only on that worker
	// extra are inherited sockets beyond one per worker (a hot restart
	// from a sluice with more workers): socket k is served by worker
	// k mod n, in extra[k mod n], touched only by that worker.
	extra [][]*port
	// inherited are the sockets a hot restart handed over, for Bind.
	inherited []int
	conns     *worker.ConnLimit // every worker's connections of this listener
}

// port is one worker's socket and the generation its accepted connections
// go to; Adopt moves it to a newer generation. Loop thread of its worker.
type port struct {
	sock  *worker.Listener
	owner *Listener
	i     int
}

func (p *port) accept(c *worker.Conn) { p.owner.accept(c, p.owner.sets[p.i]) }

// New prepares a listener; Bind opens its sockets.
func New(cfg *Config) *Listener {
	l := &Listener{cfg: cfg, addr: cfg.Address, stats: &Stats{}, conns: worker.NewConnLimit(int64(cfg.MaxConnections))}
	cfg.Options.Stats = &l.stats.Stats
	return l
}

// Connections counts the listener's open connections against its
// max_connections (Overflow: those refused past it).
func (l *Listener) Connections() *worker.ConnLimit { return l.conns }

// Name is the configured name.
func (l *Listener) Name() string { return l.cfg.Name }

// ConfigAddress is the address as configured (port 0 stays 0).
func (l *Listener) ConfigAddress() netip.AddrPort { return l.cfg.Address }

// Addr is the bound address (the real port once bound to port 0).
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// Stats are the listener's counters.
func (l *Listener) Stats() *Stats { return l.stats }

// OnWorker runs fn on w's loop and waits; false when the loop is gone.
type OnWorker func(w *worker.Worker, fn func()) bool

// Bind checks that no other process holds the address, then opens one
// socket per worker. Errors name the listener's YAML path.
func (l *Listener) Bind(workers []*worker.Worker, run OnWorker, log *zap.Logger) error {
	if len(l.inherited) == 0 {
		if err := worker.CheckAddressFree(l.addr); err != nil {
			return fmt.Errorf("listeners[%d].address: %s %w", l.cfg.Index, l.addr, err)
		}
	}
	l.ports = make([]*port, len(workers))
	l.extra = make([][]*port, len(workers))
	l.makeSets(len(workers))
	addr := l.addr
	for k := len(workers); k < len(l.inherited); k++ {
		i := k % len(workers)
		p := &port{owner: l, i: i}
		var err error
		w := workers[i]
		if !run(w, func() {
			if p.sock, err = w.ListenFD(l.inherited[k], p.accept); err == nil {
				p.sock.SetLimits(l.limits()...)
			}
		}) {
			err = worker.ErrWorkerStopped
		}
		if err != nil {
			return fmt.Errorf("listeners[%d] %q: inherited socket: %w", l.cfg.Index, l.cfg.Name, err)
		}
		l.extra[i] = append(l.extra[i], p)
	}
	for i, w := range workers {
		p := &port{owner: l, i: i}
		var sock *worker.Listener
		var err error
		ok := run(w, func() {
			if i < len(l.inherited) {
				sock, err = w.ListenFD(l.inherited[i], p.accept)
			} else {
				sock, err = w.Listen(addr, p.accept)
			}
			if err == nil {
				sock.SetLimits(l.limits()...)
			}
			p.sock = sock
		})
		if !ok {
			err = worker.ErrWorkerStopped
		}
		if err != nil {
			return fmt.Errorf("listeners[%d] %q: listen %s: %w", l.cfg.Index, l.cfg.Name, addr, err)
		}
		l.ports[i] = p
		// An ephemeral port is chosen by the first socket; the others
		// join it.
		addr = sock.Addr()
	}
	l.addr = addr
	log.Info("listening", zap.String("listener", l.cfg.Name), zap.String("address", addr.String()), zap.Int("workers", len(workers)))
	return nil
}

func (l *Listener) makeSets(n int) {
	l.sets = make([]*network.Set, n)
	for i := range l.sets {
		l.sets[i] = &network.Set{}
	}
}

// Reuses reports whether l, a newer generation, can take over old's
// sockets: the same configured address — and, for an ephemeral port (0),
// the same name, since two such listeners are not the same address.
func (l *Listener) Reuses(old *Listener) bool {
	if old == nil || old.ports == nil || l.cfg.Address != old.cfg.Address {
		return false
	}
	return l.cfg.Address.Port() != 0 || l.cfg.Name == old.cfg.Name
}

// PrepareAdopt sizes l for n workers before Adopt runs on each of them.
// Main goroutine, before any Adopt.
func (l *Listener) PrepareAdopt(old *Listener, n int) {
	l.ports = make([]*port, n)
	l.extra = make([][]*port, n)
	l.makeSets(n)
	l.addr = old.addr
	// The old generation's connections are still open and hold their
	// slots: the count goes on (Adopt applies this config's bound).
	l.conns = old.conns
}

// Adopt makes worker i's socket of old (the previous generation) deliver
// its next connections to l; old keeps its open connections and no longer
// owns the socket, so its StopAccepting leaves it open. Loop thread of
// worker i.
func (l *Listener) Adopt(i int, old *Listener) {
	if old.extra != nil {
		for _, p := range old.extra[i] {
			p.owner = l
		}
		l.extra[i], old.extra[i] = old.extra[i], nil
	}
	l.conns.SetMax(int64(l.cfg.MaxConnections)) // the same on every worker
	for _, p := range l.extra[i] {
		p.sock.SetLimits(l.limits()...)
	}
	p := old.ports[i]
	old.ports[i] = nil
	if p == nil {
		return
	}
	p.owner = l
	p.sock.SetLimits(l.limits()...)
	l.ports[i] = p
}

// Inherit makes Bind use these listening sockets, handed over by the
// sluice this one replaces (hot restart), instead of binding: socket i
// for worker i, any beyond one per worker served as well. Main goroutine,
// before Bind.
func (l *Listener) Inherit(fds []int) { l.inherited = fds }

// DupSockets returns duplicates of worker i's sockets, to hand to the
// sluice that takes over (hot restart). Loop thread of worker i.
func (l *Listener) DupSockets(i int) ([]int, error) {
	var out []int
	ports := []*port{}
	if l.ports != nil && l.ports[i] != nil {
		ports = append(ports, l.ports[i])
	}
	if l.extra != nil {
		ports = append(ports, l.extra[i]...)
	}
	for _, p := range ports {
		fd, err := p.sock.Dup()
		if err != nil {
			for _, f := range out {
				unix.Close(f)
			}
			return nil, err
		}
		out = append(out, fd)
	}
	return out, nil
}

// accept runs the listener filters on a new connection, or goes straight
// to choosing its filter chain when there are none.
func (l *Listener) accept(c *worker.Conn, set *network.Set) {
	if len(l.cfg.ListenerFilters) > 0 {
		l.inspect(c, set)
		return
	}
	l.start(c, set, &Inspection{TransportProtocol: "raw_buffer"})
}

// start hands the connection to the filter chain that matches it best:
// TLS first if the chain terminates it, then its network filters.
func (l *Listener) start(c *worker.Conn, set *network.Set, ins *Inspection) {
	fc := l.cfg.Default
	if len(l.cfg.Chains) == 1 && l.cfg.Chains[0].Match.isEmpty() {
		fc = l.cfg.Chains[0] // the common case: one chain for everything
	} else if len(l.cfg.Chains) > 0 {
		f := connFacts{dst: ins.Destination, src: ins.Source, direct: c.RemoteAddr(), ins: ins}
		if !f.dst.IsValid() {
			f.dst = c.LocalAddr()
		}
		if !f.src.IsValid() {
			f.src = c.RemoteAddr()
		}
		if m := selectChain(l.cfg.Chains, &f); m != nil {
			fc = m
		}
	}
	if fc == nil {
		l.stats.NoFilterChainMatch.Add(1)
		l.logDebug("no filter chain matches the connection; closing", c,
			zap.String("server_name", ins.ServerName), zap.Strings("alpn", ins.ALPN))
		c.Close()
		return
	}
	l.logDebug("filter chain chosen", c, zap.String("filter_chain", fc.Name),
		zap.String("server_name", ins.ServerName), zap.Bool("tls", fc.TLS != nil))
	if fc.TLS != nil {
		c.StartTLS(fc.TLS(), fc.HandshakeTimeout)
	}
	attrs := network.Attributes{Source: ins.Source, Destination: ins.Destination, ServerName: ins.ServerName}
	network.New(c, fc.Filters, &l.cfg.Options, attrs, set)
	if len(c.Input()) > 0 || c.ReadEOF() {
		// What arrived with the listener filters' bytes (the request
		// after a PROXY header) is read again by the chain, as if it had
		// just arrived: a terminal filter that waited in OnNewConnection
		// would not see it otherwise.
		c.Redeliver()
	}
}

func (l *Listener) limits() []*worker.ConnLimit {
	if l.cfg.GlobalLimit != nil {
		return []*worker.ConnLimit{l.conns, l.cfg.GlobalLimit}
	}
	return []*worker.ConnLimit{l.conns}
}

// StopAccepting closes worker i's socket. Loop thread of worker i.
func (l *Listener) StopAccepting(i int) {
	if l.ports != nil && l.ports[i] != nil {
		l.ports[i].sock.Close()
		l.ports[i] = nil
	}
	if l.extra != nil {
		for _, p := range l.extra[i] {
			p.sock.Close()
		}
		l.extra[i] = nil
	}
}

// Drain asks worker i's connections to finish gracefully. Loop thread of
// worker i.
func (l *Listener) Drain(i int) {
	if l.sets != nil {
		l.sets[i].Drain()
	}
}

// CloseAll closes worker i's remaining connections. Loop thread of worker i.
func (l *Listener) CloseAll(i int) {
	if l.sets != nil {
		l.sets[i].CloseAll()
	}
}

// OpenConnections counts worker i's connections. Loop thread of worker i.
func (l *Listener) OpenConnections(i int) int {
	if l.sets == nil {
		return 0
	}
	return l.sets[i].Len()
}
