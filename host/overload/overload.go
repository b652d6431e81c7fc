package overload

import (
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/worker"
)

// Action is one overload action.
type Action uint8

const (
	StopAcceptingConnections Action = iota
	DisableKeepalive
	ShedNewStreams
	numActions
)

var actionNames = [numActions]string{
	config.ActionStopAcceptingConnections,
	config.ActionDisableKeepalive,
	config.ActionShedNewStreams,
}

func (a Action) String() string { return actionNames[a] }

// State is what one worker knows of the overload. It is written by the
// manager's messages on that worker and read there; loop thread only.
type State struct {
	// ShedNewStreams: answer new requests 503 before any filter runs.
	ShedNewStreams bool
	// DisableKeepalive: end each connection after the request in flight
	// (HTTP/1 Connection: close, HTTP/2 GOAWAY).
	DisableKeepalive bool
}

// Manager is the overload manager of one server.
type Manager struct {
	cfg     config.Overload
	actions [numActions]bool
	log     *zap.Logger
	workers []*worker.Worker
	states  []State // per worker; each touched only on its worker
	global  *worker.ConnLimit

	// SetAccepting pauses (false) or resumes (true) worker i's listeners;
	// it runs on worker i. Set by the server before Start.
	SetAccepting func(i int, accepting bool)

	// readHeap and collect are runtime/metrics and runtime.GC; tests
	// replace them.
	readHeap func() uint64
	collect  func()

	// on: the actions are switched on (sampler goroutine only); active
	// publishes it once every worker applied the switch.
	on          bool
	heap        atomic.Uint64
	active      atomic.Bool
	activations atomic.Uint64
	collections atomic.Uint64
	changed     atomic.Int64 // unix nanos of the last switch

	quit, done chan struct{}
	started    atomic.Bool
	stopOnce   sync.Once
}

// New builds the manager of cfg (nil: no heap trigger, no global bound;
// the manager still counts connections and answers State).
func New(cfg *config.Overload, workers []*worker.Worker, log *zap.Logger) *Manager {
	m := &Manager{
		log:      log,
		workers:  workers,
		states:   make([]State, len(workers)),
		readHeap: readHeapObjects,
		collect:  runtime.GC,
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if cfg != nil {
		m.cfg = *cfg
		for _, a := range cfg.Actions {
			for i, n := range actionNames {
				if a == n {
					m.actions[i] = true
				}
			}
		}
	}
	m.global = worker.NewConnLimit(int64(m.cfg.GlobalDownstreamMaxConnections))
	return m
}

// GlobalLimit is the bound every listener's connections count against
// (Max 0: counting only).
func (m *Manager) GlobalLimit() *worker.ConnLimit { return m.global }

// State is worker i's view of the overload. Loop thread of worker i only.
func (m *Manager) State(i int) *State { return &m.states[i] }

// Start runs the sampler when a heap trigger is configured. Once.
func (m *Manager) Start() {
	if m.cfg.MaxHeapBytes <= 0 || !m.started.CompareAndSwap(false, true) {
		return
	}
	m.heap.Store(m.readHeap())
	go m.run()
}

// Stop ends the sampler (if it runs). Idempotent.
func (m *Manager) Stop() {
	m.stopOnce.Do(func() { close(m.quit) })
	if m.started.Load() {
		<-m.done
	}
}

func (m *Manager) run() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-m.quit:
			return
		case <-t.C:
			m.evaluate()
		}
	}
}

// evaluate samples the heap once and switches the actions when the
// reading crosses the threshold that applies: max_heap_bytes while they
// are off, release_heap_bytes while they are on. Sampler goroutine only.
func (m *Manager) evaluate() {
	threshold := uint64(m.cfg.MaxHeapBytes)
	if m.on {
		threshold = uint64(m.cfg.ReleaseHeapBytes)
	}
	h := m.readHeap()
	if h >= threshold {
		m.collect()
		m.collections.Add(1)
		h = m.readHeap()
	}
	m.heap.Store(h)
	if over := h >= threshold; over != m.on {
		m.switchTo(over, h)
	}
}

// switchTo turns the actions on or off on every worker and, once each has
// applied the change, publishes it (stats, /overload, the log line): what
// they show is then true of every worker. A worker that is stalled holds
// the sampler here, not the other workers; Stop ends the wait.
func (m *Manager) switchTo(on bool, heap uint64) {
	m.on = on
	st := State{
		ShedNewStreams:   on && m.actions[ShedNewStreams],
		DisableKeepalive: on && m.actions[DisableKeepalive],
	}
	stopAccepting := m.actions[StopAcceptingConnections]
	applied := make(chan struct{}, len(m.workers))
	for i, w := range m.workers {
		w.Post(func() {
			m.states[i] = st
			if stopAccepting && m.SetAccepting != nil {
				m.SetAccepting(i, !on)
			}
			applied <- struct{}{}
		})
	}
	for range m.workers {
		select {
		case <-applied:
		case <-m.quit:
			return
		}
	}
	m.active.Store(on)
	m.changed.Store(time.Now().UnixNano())
	if on {
		m.activations.Add(1)
		m.log.Warn("overload: heap above overload.max_heap_bytes; actions on",
			zap.Uint64("heap_bytes", heap), zap.Int("max_heap_bytes", m.cfg.MaxHeapBytes),
			zap.String("actions", strings.Join(m.cfg.Actions, ",")))
		return
	}
	m.log.Info("overload: heap below overload.release_heap_bytes; actions off",
		zap.Uint64("heap_bytes", heap), zap.Int("release_heap_bytes", m.cfg.ReleaseHeapBytes))
}

// Snapshot is what the admin endpoint shows.
type Snapshot struct {
	HeapBytes        uint64   `json:"heap_bytes"`
	MaxHeapBytes     int      `json:"max_heap_bytes"`
	ReleaseHeapBytes int      `json:"release_heap_bytes"`
	Active           bool     `json:"active"`
	Actions          []string `json:"actions"`
	// Since is when the actions last switched on or off (RFC 3339; ""
	// before the first switch).
	Since       string `json:"since"`
	Activations uint64 `json:"activations"`
	Collections uint64 `json:"collections"`
	// DownstreamCxActive counts every listener's connections against
	// GlobalDownstreamMaxConnections (0: no bound).
	DownstreamCxActive             int64  `json:"downstream_cx_active"`
	GlobalDownstreamMaxConnections int    `json:"global_downstream_max_connections"`
	DownstreamGlobalCxOverflow     uint64 `json:"downstream_global_cx_overflow"`
}

// Snapshot reads the manager's state. Any goroutine.
func (m *Manager) Snapshot() Snapshot {
	s := Snapshot{
		HeapBytes:                      m.heap.Load(),
		MaxHeapBytes:                   m.cfg.MaxHeapBytes,
		ReleaseHeapBytes:               m.cfg.ReleaseHeapBytes,
		Active:                         m.active.Load(),
		Actions:                        append([]string{}, m.cfg.Actions...),
		Activations:                    m.activations.Load(),
		Collections:                    m.collections.Load(),
		DownstreamCxActive:             m.global.Active(),
		GlobalDownstreamMaxConnections: m.cfg.GlobalDownstreamMaxConnections,
		DownstreamGlobalCxOverflow:     m.global.Overflow(),
	}
	if ns := m.changed.Load(); ns != 0 {
		s.Since = time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
	}
	return s
}

// ActionActive reports whether action a is on now.
func (m *Manager) ActionActive(a Action) bool { return m.actions[a] && m.active.Load() }

// Actions is the list of every action, for stats.
func Actions() []Action { return []Action{StopAcceptingConnections, DisableKeepalive, ShedNewStreams} }

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

var heapMu sync.Mutex // heapSample is reused

func readHeapObjects() uint64 {
	heapMu.Lock()
	defer heapMu.Unlock()
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}
