// Package listener is sluice's listener subsystem: one configured listener's
// sockets (one per worker, SO_REUSEPORT, so the kernel spreads connections
// and no accept lock is shared) and what happens on accept — the network
// filter chain is built on the connection (host/network) — plus the
// per-worker sets of open connections that a drain walks.
//
// Threads: Bind runs on the main goroutine and hands each socket to its
// worker by message; the per-worker methods (StopAccepting, Drain,
// CloseAll, OpenConnections) are loop-thread only, for that worker.
package listener

import (
	"fmt"
	"net/netip"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/network"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Config is one compiled listener.
type Config struct {
	Name    string
	Index   int // position in the config's listeners, for error paths
	Address netip.AddrPort
	Chain   []network.NamedFilterFactory
	Options network.Options
}

// Listener is a bound listener.
type Listener struct {
	cfg   *Config
	addr  netip.AddrPort
	socks []*worker.Listener // per worker
	sets  []*network.Set     // per worker; touched only on that worker
}

// New prepares a listener; Bind opens its sockets.
func New(cfg *Config) *Listener {
	if cfg.Options.Stats == nil {
		cfg.Options.Stats = &network.Stats{}
	}
	return &Listener{cfg: cfg, addr: cfg.Address}
}

// Name is the configured name.
func (l *Listener) Name() string { return l.cfg.Name }

// Addr is the bound address (the real port once bound to port 0).
func (l *Listener) Addr() netip.AddrPort { return l.addr }

// Stats are the listener's network-level counters.
func (l *Listener) Stats() *network.Stats { return l.cfg.Options.Stats }

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

// accept builds the filter chain on a new connection.
func (l *Listener) accept(c *worker.Conn, set *network.Set) {
	network.New(c, l.cfg.Chain, &l.cfg.Options, network.Attributes{}, set)
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
