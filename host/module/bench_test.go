package module

import (
	"sort"
	"testing"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/host/hcm"
)

// BenchmarkHookCallSyscallN is the bare Go->C crossing for one hook:
// purego.SyscallN on a resolved symbol.
func BenchmarkHookCallSyscallN(b *testing.B) {
	e := newEnv(b, 1, Options{})
	m := e.load("passthrough")
	fn := m.lib.hooks.requestHeaders
	args := make([]uintptr, 3) // a variadic literal would allocate per call
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		purego.SyscallN(fn, args...)
	}
}

// BenchmarkHookCallFilter is one request_headers hook through the filter
// adapter on a worker thread (enter/exit, arena mark, status check).
func BenchmarkHookCallFilter(b *testing.B) {
	e := newEnv(b, 1, Options{})
	ff := e.factory("passthrough", "pt", `{}`)
	cb := newFakeCallbacks(0, ":method", "GET")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f.DecodeHeaders(cb.req, true)
		}
		b.StopTimer()
		endStream(cb, f)
	})
}

// BenchmarkCallbackFromModule is module->host: a C loop calling the
// thread-safe counter_add callback (purego callback on the calling thread).
func BenchmarkCallbackFromModule(b *testing.B) {
	e := newEnv(b, 1, Options{})
	ff := e.factory("sched_bench", "sb", `{}`)
	id, _, _ := purego.SyscallN(sym(b, ff.mod, "sb_counter_id"))
	loop := sym(b, ff.mod, "sb_counter_loop")
	b.ReportAllocs()
	b.ResetTimer()
	purego.SyscallN(loop, uintptr(ff.handle), id, uintptr(b.N))
}

// BenchmarkBatchRead20Headers is a request_headers hook that reads all 20
// request headers with one headers_get call (header_mutator, empty config).
func BenchmarkBatchRead20Headers(b *testing.B) {
	e := newEnv(b, 1, Options{})
	ff := e.factory("header_mutator", "hm", `{}`)
	kv := []string{":method", "GET", ":path", "/index.html", ":scheme", "http", ":authority", "example.com"}
	for i := 0; len(kv) < 40; i++ {
		kv = append(kv, "x-header-"+string(rune('a'+i)), "value-of-some-length")
	}
	cb := newFakeCallbacks(0, kv...)
	e.on(0, func() {
		f := ff.NewFilter(cb)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			f.DecodeHeaders(cb.req, true)
		}
		b.StopTimer()
		endStream(cb, f)
	})
}

// schedBench opens n streams (one per worker, round robin) on the
// sched_bench module so it holds n schedulers.
func schedBench(b *testing.B, workers, streams int) (*env, *FilterFactory) {
	e := newEnv(b, workers, Options{})
	ff := e.factory("sched_bench", "sb", `{}`)
	purego.SyscallN(sym(b, ff.mod, "sb_reset"))
	var filters []hcm.StreamFilter
	var cbs []*fakeCallbacks
	for i := 0; i < streams; i++ {
		w := i % workers
		cb := newFakeCallbacks(w, ":method", "GET")
		e.on(w, func() {
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			filters, cbs = append(filters, f), append(cbs, cb)
		})
	}
	b.Cleanup(func() {
		purego.SyscallN(sym(b, ff.mod, "sb_reset"))
		for i, f := range filters {
			e.on(cbs[i].worker, func() { endStream(cbs[i], f) })
		}
	})
	return e, ff
}

// BenchmarkCommitLatency: commit from a module thread to the start of
// on_scheduled on an idle worker, one event at a time; the producer sleeps
// between events (a pool thread waiting for its next job).
func BenchmarkCommitLatency(b *testing.B) { benchCommitLatency(b, 0) }

// BenchmarkCommitLatencySpinningProducer: the same with a producer that
// spins (sched_yield) while waiting, so its CPU never idles.
func BenchmarkCommitLatencySpinningProducer(b *testing.B) { benchCommitLatency(b, 1) }

func benchCommitLatency(b *testing.B, spin uintptr) {
	_, ff := schedBench(b, 1, 1)
	out, err := cAlloc(b.N * 8)
	if err != nil {
		b.Fatal(err)
	}
	defer cFree(out)
	b.ReportAllocs()
	b.ResetTimer()
	purego.SyscallN(sym(b, ff.mod, "sb_latency"), 0, uintptr(b.N), uintptr(unsafe.Pointer(&out[0])), spin)
	b.StopTimer()
	lat := append([]uint64(nil), unsafe.Slice((*uint64)(unsafe.Pointer(&out[0])), b.N)...)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
}

// BenchmarkCommitThroughput2Workers: two module threads flood schedulers
// on two workers; commits/s until every event was delivered.
func BenchmarkCommitThroughput2Workers(b *testing.B) {
	e, ff := schedBench(b, 2, 2)
	per := uint64(b.N/2 + 1)
	before := e.host.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	ns, _, _ := purego.SyscallN(sym(b, ff.mod, "sb_throughput"), 2, uintptr(per))
	b.StopTimer()
	after := e.host.Stats()
	b.ReportMetric(float64(2*per)/time.Duration(ns).Seconds(), "commits/s")
	if wakes := after.Wakes - before.Wakes; wakes > 0 {
		b.ReportMetric(float64(2*per)/float64(wakes), "commits/wake")
	}
	b.ReportMetric(float64(after.CommitsRejectedFull-before.CommitsRejectedFull)/float64(2*per), "full/commit")
}

// BenchmarkStreamLifecycle is a whole stream through a module filter:
// filter_new, request and response headers, stream_complete, destroy.
// Filter objects and handle slots are recycled: no allocation per stream.
func BenchmarkStreamLifecycle(b *testing.B) {
	e := newEnv(b, 1, Options{})
	ff := e.factory("passthrough", "pt", `{}`)
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/")
	cb.resp = cb.req // any map will do for a passthrough
	e.on(0, func() {
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			cb.ended = false
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			f.EncodeHeaders(cb.resp, true)
			cb.ended = true
			f.OnStreamComplete()
			f.OnDestroy()
		}
	})
}
