package overload

import (
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/worker"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func startWorkers(t *testing.T, n int) []*worker.Worker {
	var ws []*worker.Worker
	for i := 0; i < n; i++ {
		w, err := worker.New(worker.Options{Index: i})
		if err != nil {
			t.Fatal(err)
		}
		go w.Run()
		t.Cleanup(func() { w.Stop(); <-w.Done() })
		ws = append(ws, w)
	}
	return ws
}

// onWorker runs fn on w and waits.
func onWorker(t *testing.T, w *worker.Worker, fn func()) {
	done := make(chan struct{})
	w.Post(func() { fn(); close(done) })
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not run the message")
	}
}

// fakeHeap plays readings: each read returns the next one (the last one
// repeats); collect counts collections.
type fakeHeap struct {
	readings    []uint64
	collections int
}

func (f *fakeHeap) read() uint64 {
	v := f.readings[0]
	if len(f.readings) > 1 {
		f.readings = f.readings[1:]
	}
	return v
}

func newManager(t *testing.T, ws []*worker.Worker, actions ...string) (*Manager, *fakeHeap, *[]bool) {
	cfg := &config.Overload{RefreshInterval: time.Second, MaxHeapBytes: 1000, ReleaseHeapBytes: 900, Actions: actions}
	m := New(cfg, ws, zap.NewNop())
	f := &fakeHeap{}
	m.readHeap, m.collect = f.read, func() { f.collections++ }
	accepting := make([]bool, len(ws))
	for i := range accepting {
		accepting[i] = true
	}
	m.SetAccepting = func(i int, on bool) { accepting[i] = on }
	return m, f, &accepting
}

func states(t *testing.T, m *Manager, ws []*worker.Worker) []State {
	out := make([]State, len(ws))
	for i, w := range ws {
		onWorker(t, w, func() { out[i] = *m.State(i) })
	}
	return out
}

// The actions switch on past max_heap_bytes and off only below
// release_heap_bytes; every worker hears of each switch.
func TestHysteresis(t *testing.T) {
	ws := startWorkers(t, 2)
	m, f, accepting := newManager(t, ws, "shed_new_streams", "disable_keepalive", "stop_accepting_connections")
	step := func(readings ...uint64) {
		f.readings = readings
		m.evaluate()
	}
	want := func(on bool, what string) {
		t.Helper()
		if m.active.Load() != on || m.on != on {
			t.Fatalf("%s: active %v", what, m.active.Load())
		}
		for i, st := range states(t, m, ws) {
			if st.ShedNewStreams != on || st.DisableKeepalive != on || (*accepting)[i] == on {
				t.Fatalf("%s: worker %d state %+v accepting %v", what, i, st, (*accepting)[i])
			}
		}
	}
	step(999)
	want(false, "below max")
	step(1200, 500) // mostly garbage: a collection brings it down
	want(false, "garbage over max")
	step(1200, 1100)
	want(true, "live heap over max")
	if m.activations.Load() != 1 {
		t.Fatalf("activations %d", m.activations.Load())
	}
	step(950, 950) // between release and max: stays on
	want(true, "between the thresholds")
	step(899)
	want(false, "below release")
	step(950)
	want(false, "between the thresholds, from below")
	if f.collections != 3 {
		t.Fatalf("%d collections, want 3 (only readings over the threshold that applies)", f.collections)
	}
	snap := m.Snapshot()
	if snap.HeapBytes != 950 || snap.Active || snap.Activations != 1 || snap.Since == "" || len(snap.Actions) != 3 {
		t.Fatalf("snapshot %+v", snap)
	}
}

// Only the configured actions switch on.
func TestOnlyConfiguredActions(t *testing.T) {
	ws := startWorkers(t, 1)
	m, f, accepting := newManager(t, ws, "shed_new_streams")
	f.readings = []uint64{2000}
	m.evaluate()
	st := states(t, m, ws)[0]
	if !st.ShedNewStreams || st.DisableKeepalive || !(*accepting)[0] {
		t.Fatalf("state %+v, accepting %v", st, (*accepting)[0])
	}
	if !m.ActionActive(ShedNewStreams) || m.ActionActive(DisableKeepalive) {
		t.Fatal("ActionActive")
	}
}

// The sampler runs on its own and stops.
func TestSamplerRuns(t *testing.T) {
	ws := startWorkers(t, 1)
	cfg := &config.Overload{RefreshInterval: time.Millisecond, MaxHeapBytes: 1 << 40, ReleaseHeapBytes: 1 << 39}
	m := New(cfg, ws, zap.NewNop())
	m.Start()
	defer m.Stop()
	deadline := time.Now().Add(10 * time.Second)
	for m.Snapshot().HeapBytes == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no heap reading")
		}
		time.Sleep(time.Millisecond)
	}
	if m.Snapshot().Active {
		t.Fatal("active below a 1 TiB trigger")
	}
}
