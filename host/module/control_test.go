package module

import (
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

type lcStats struct{ mainTID, violations, configEvents, shutdowns, running, inits, refusedAfterDestroy int64 }

func lifecycleStats(t *testing.T, m *Module) lcStats {
	var out [7]int64
	purego.SyscallN(sym(t, m, "lc_stats"), uintptr(unsafe.Pointer(&out[0])))
	return lcStats{out[0], out[1], out[2], out[3], out[4], out[5], out[6]}
}

// Every program- and config-level hook runs on one OS thread, the host's
// module main thread (never a worker); a config-level scheduler delivers
// there; log_filter lines carry the stream's ids; Host.Close runs
// sluice_on_program_shutdown there after commits are refused, and a later
// load runs program_init again.
func TestMainThreadConfigSchedulerLogsAndShutdown(t *testing.T) {
	e, logs := newObservedEnv(t, 2, Options{})
	m := e.load("lifecycle")
	base := lifecycleStats(t, m)
	ff, err := m.NewFilterFactory("lc", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(waitLimit)
	for lifecycleStats(t, m).configEvents < base.configEvents+3 {
		if time.Now().After(deadline) {
			t.Fatalf("config-level events never delivered: %+v", lifecycleStats(t, m))
		}
		time.Sleep(time.Millisecond) // poll interval, not synchronisation
	}
	st := lifecycleStats(t, m)
	mainTID := int64(e.host.ctl.w.TID())
	if st.mainTID != mainTID || st.violations != base.violations {
		t.Fatalf("program init on thread %d, main is %d; %d hooks elsewhere", st.mainTID, mainTID, st.violations-base.violations)
	}
	for _, w := range e.workers {
		if int64(w.TID()) == mainTID {
			t.Fatal("the module main thread is a worker")
		}
	}

	cb := newFakeCallbacks(1, ":method", "GET")
	e.on(1, func() {
		f := ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
		endStream(cb, f)
	})
	lines := logs.FilterMessage("lifecycle saw the request").All()
	if len(lines) != 1 {
		t.Fatalf("log_filter lines: %+v", lines)
	}
	if f := lines[0].ContextMap(); f["filter"] != "lc" || f["conn_id"] != uint64(41) || f["stream_id"] != uint64(7) {
		t.Fatalf("log_filter fields: %v", f)
	}

	ff.Close()
	for _, w := range e.workers {
		w.Stop()
		<-w.Done()
	}
	e.host.Close()
	st = lifecycleStats(t, m)
	if st.shutdowns != base.shutdowns+1 || st.running != base.running || st.violations != base.violations {
		t.Fatalf("after Close: %+v (base %+v)", st, base)
	}
	if st.refusedAfterDestroy != base.refusedAfterDestroy+1 {
		t.Fatalf("commit through a destroyed config's scheduler accepted: %+v", st)
	}

	// Loaded again in a later host: init runs again.
	e2 := newEnv(t, 1, Options{})
	if _, err := e2.host.Load(moduletest.Build(t, "lifecycle"), false); err != nil {
		t.Fatal(err)
	}
	if st := lifecycleStats(t, m); st.inits != base.inits+1 || st.mainTID != int64(e2.host.ctl.w.TID()) {
		t.Fatalf("second load: %+v", st)
	}
}
