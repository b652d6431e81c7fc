package module

import (
	"fmt"
	"sync/atomic"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/sluiceproxy/sluice/host/worker"
)

// control is the host's "main" thread for modules: one event loop (a
// worker.Worker: a goroutine locked to its OS thread) that runs every
// config-level hook — program init and shutdown, config_new/destroy,
// per-route config new/destroy, config_scheduled — so a module sees all of
// them on one OS thread, in order, and never on a worker. It owns the
// config handle table and a scheduler domain for config-level schedulers.
type control struct {
	w     *worker.Worker
	gid   uint64
	sched *schedDomain
	// configs holds the host's live filter configs; config handles carry
	// the control domain's id, so callbacks find the host from the handle.
	configs *handleTable[FilterFactory]
	// Config callouts (callout_config.go): their table, the last worker
	// one was sent to, and the arena lending their results.
	callouts   *handleTable[configCallout]
	nextWorker int
	arena      arena
	// depth > 0 while the control thread runs a module hook: main-only
	// callbacks made when it is 0 come from another thread.
	depth atomic.Int32
}

// hostsByControl finds a host from a config handle's domain field.
var hostsByControl [maxDomains]atomic.Pointer[Host]

func newControl(h *Host) (*control, error) {
	gid, err := allocDomainID()
	if err != nil {
		return nil, err
	}
	d, err := openDomain(gid, h.log)
	if err != nil {
		freeDomainID(gid)
		return nil, fmt.Errorf("module: control thread scheduler: %w", err)
	}
	w, err := worker.New(worker.Options{Index: -1, Logger: h.log.Named("main")})
	if err != nil {
		d.shut()
		freeDomainID(gid)
		return nil, fmt.Errorf("module: control thread: %w", err)
	}
	c := &control{w: w, gid: gid, sched: d, configs: newHandleTable[FilterFactory](kindConfig, gid),
		callouts: newHandleTable[configCallout](kindConfigCallout, gid)}
	if err := w.AddFD(d.efd(), unix.EPOLLIN|unix.EPOLLET, controlEvents{c, h}); err != nil {
		w.Stop()
		d.shut()
		freeDomainID(gid)
		return nil, fmt.Errorf("module: control thread: %w", err)
	}
	go w.Run()
	hostsByControl[gid].Store(h)
	return c, nil
}

// controlEvents drains the control domain: config_scheduled hooks.
type controlEvents struct {
	c *control
	h *Host
}

func (e controlEvents) OnEvents(uint32) { e.c.sched.drain(e.h.drainBudget) }

// run executes fn on the control thread and waits for it. Not from the
// control thread itself (fn would wait for itself): hooks that need more
// control work there call it directly.
func (c *control) run(fn func()) {
	done := make(chan struct{})
	c.w.Post(func() {
		defer close(done)
		fn()
	})
	select {
	case <-done:
	case <-c.w.Done():
		// Stopped before running fn (the host is closing).
	}
}

// call runs a module hook on the control thread (caller is already on it).
func (c *control) call(fn uintptr, args ...uintptr) uintptr {
	c.depth.Add(1)
	r, _, _ := purego.SyscallN(fn, args...)
	c.depth.Add(-1)
	return r
}

// close stops the thread (after the posted work ran) and releases the
// domain and the config table's id. Main goroutine.
func (c *control) close(log *zap.Logger) {
	c.run(func() {}) // everything posted before (config destroys) has run
	c.w.Stop()
	<-c.w.Done()
	hostsByControl[c.gid].Store(nil)
	if n := c.sched.live.Load(); n > 0 {
		log.Debug("config schedulers not deleted by the module at shutdown; their handles are stale now",
			zap.Int64("schedulers", n))
	}
	c.sched.shut()
	c.arena.free()
	freeDomainID(c.gid)
}

// lookupConfig resolves a config handle (any thread: lookups are
// lock-free).
func lookupConfig(h uint64) *FilterFactory {
	if handleKind(h) != kindConfig {
		return nil
	}
	host := hostsByControl[handleDomain(h)].Load()
	if host == nil {
		return nil
	}
	return host.ctl.configs.get(h)
}
