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
// Threads: Bind runs on the main goroutine and hands each socket to its
// worker by message; the per-worker methods (StopAccepting, Drain,
// CloseAll, OpenConnections) are loop-thread only, for that worker.
// Listener filters and filter chains are shared, read-only, by all
// workers.
package listener

import (
	"fmt"
	"net/netip"
	"time"

	"go.uber.org/zap"

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
	conns *worker.ConnLimit  // every worker's connections of this listener
	socks []*worker.Listener // per worker
	sets  []*network.Set     // per worker; touched only on that worker
}

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

// Addr is the bound address (the real port once bound to port 0).
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// Stats are the listener's counters.
func (l *Listener) Stats() *Stats { return l.stats }

// OnWorker runs fn on w's loop and waits; false when the loop is gone.
type OnWorker func(w *worker.Worker, fn func()) bool

// Bind checks that no other process holds the address, then opens one
// socket per worker. Errors name the listener's YAML path.
func (l *Listener) Bind(workers []*worker.Worker, run OnWorker, log *zap.Logger) error {
	if err := worker.CheckAddressFree(l.addr); err != nil {
		return fmt.Errorf("listeners[%d].address: %s %w", l.cfg.Index, l.addr, err)
	}
	l.socks = make([]*worker.Listener, len(workers))
	l.sets = make([]*network.Set, len(workers))
	addr := l.addr
	for i, w := range workers {
		set := &network.Set{}
		l.sets[i] = set
		var sock *worker.Listener
		var err error
		ok := run(w, func() {
			sock, err = w.Listen(addr, func(c *worker.Conn) { l.accept(c, set) })
			if err == nil {
				sock.SetLimits(l.limits()...)
			}
		})
		if !ok {
			err = worker.ErrWorkerStopped
		}
		if err != nil {
			return fmt.Errorf("listeners[%d] %q: listen %s: %w", l.cfg.Index, l.cfg.Name, addr, err)
		}
		l.socks[i] = sock
		// An ephemeral port is chosen by the first socket; the others
		// join it.
		addr = sock.Addr()
	}
	l.addr = addr
	log.Info("listening", zap.String("listener", l.cfg.Name), zap.String("address", addr.String()), zap.Int("workers", len(workers)))
	return nil
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

// PauseAccepting stops (true) or resumes (false) worker i's accepting
// without closing its socket (the overload manager). Loop thread of
// worker i.
func (l *Listener) PauseAccepting(i int, pause bool) {
	if l.socks != nil && l.socks[i] != nil {
		l.socks[i].SetPaused(pause)
	}
}

// StopAccepting closes worker i's socket. Loop thread of worker i.
func (l *Listener) StopAccepting(i int) {
	if l.socks != nil && l.socks[i] != nil {
		l.socks[i].Close()
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
