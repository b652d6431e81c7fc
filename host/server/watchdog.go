package server

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/worker"
)

// watchdog looks at every worker from its own goroutine, as Envoy's guard
// dog does, without waking idle workers: a worker reports how long it has
// been inside callbacks (worker.BusyFor, 0 while it waits in epoll_wait).
//
//   - busy past miss_timeout: watchdog_miss counted, once per episode;
//   - past megamiss_timeout: watchdog_mega_miss counted, a warning logged,
//     and /ready answers 503 naming the worker until it comes back;
//   - past kill_timeout (when set): the process is stopped (Fatal);
//   - a worker whose loop ended while the server was not stopping (its
//     epoll set broke): the process is stopped, since serving on with a
//     fraction of the workers would silently fail the connections the
//     kernel still hands to that worker's sockets.
type watchdog struct {
	cfg     config.Watchdog
	log     *zap.Logger
	workers []*worker.Worker
	// stopping is set once Stop begins: workers ending then are expected.
	stopping atomic.Bool

	miss, megaMiss atomic.Uint64

	mu    sync.Mutex
	state []workerHealth // per worker, guarded by mu
	fatal chan error     // one value at most
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

type workerHealth struct {
	missed, megaMissed bool
	busy               time.Duration // last reading
	dead               bool
}

func newWatchdog(cfg config.Watchdog, log *zap.Logger, workers []*worker.Worker) *watchdog {
	return &watchdog{
		cfg:     cfg,
		log:     log,
		workers: workers,
		state:   make([]workerHealth, len(workers)),
		fatal:   make(chan error, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// interval is how often the workers are looked at: fine enough to see a
// miss soon after it happens, coarse enough to cost nothing.
func (d *watchdog) interval() time.Duration {
	return min(max(d.cfg.MissTimeout/4, 5*time.Millisecond), 100*time.Millisecond)
}

func (d *watchdog) start() {
	go func() {
		defer close(d.done)
		t := time.NewTicker(d.interval())
		defer t.Stop()
		for {
			select {
			case <-d.quit:
				return
			case <-t.C:
				d.check()
			}
		}
	}()
}

func (d *watchdog) stop() {
	d.stopping.Store(true)
	d.once.Do(func() { close(d.quit) })
	<-d.done
}

// check reads every worker once.
func (d *watchdog) check() {
	for i, w := range d.workers {
		dead := false
		select {
		case <-w.Done():
			dead = !d.stopping.Load()
		default:
		}
		busy := w.BusyFor()
		d.mu.Lock()
		st := &d.state[i]
		st.busy = busy
		newlyDead := dead && !st.dead
		st.dead = st.dead || dead
		if busy < d.cfg.MissTimeout {
			if st.megaMissed {
				d.log.Info("worker responsive again", zap.Int("worker", i))
			}
			st.missed, st.megaMissed = false, false
		}
		newMiss := busy >= d.cfg.MissTimeout && !st.missed
		newMega := busy >= d.cfg.MegamissTimeout && !st.megaMissed
		st.missed = st.missed || newMiss
		st.megaMissed = st.megaMissed || newMega
		d.mu.Unlock()

		if newlyDead {
			d.log.Error("worker stopped unexpectedly; stopping sluice so its supervisor can restart it",
				zap.Int("worker", i))
			d.raise(fmt.Errorf("worker %d stopped unexpectedly", i))
		}
		if newMiss {
			d.miss.Add(1)
		}
		if newMega {
			d.megaMiss.Add(1)
			d.log.Warn("worker stuck in one callback: a module hook or filter is blocking its event loop; /ready fails until it returns",
				zap.Int("worker", i), zap.Duration("busy", busy))
		}
		if k := d.cfg.KillTimeout; k > 0 && busy >= k {
			d.log.Error("worker stuck past watchdog.kill_timeout; stopping sluice",
				zap.Int("worker", i), zap.Duration("busy", busy))
			d.raise(fmt.Errorf("worker %d stuck in one callback for %s (watchdog.kill_timeout %s)", i, busy.Round(time.Millisecond), k))
		}
	}
}

func (d *watchdog) raise(err error) {
	select {
	case d.fatal <- err:
	default:
	}
}

// unhealthy names the workers that make /ready fail ("" when none).
func (d *watchdog) unhealthy() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var why []string
	for i, st := range d.state {
		switch {
		case st.dead:
			why = append(why, fmt.Sprintf("worker %d stopped", i))
		case st.megaMissed:
			why = append(why, fmt.Sprintf("worker %d stuck in one callback for %s", i, st.busy.Round(time.Millisecond)))
		}
	}
	return strings.Join(why, "; ")
}
