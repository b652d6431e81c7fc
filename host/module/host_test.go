package module

import (
	"strings"
	"testing"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/worker"
)

// After teardown begins (Host.Close) a module thread that still holds a
// scheduler gets false from commit and the commit is counted: never a
// crash, even though the host is gone (ABI 1 unmapped the ring here and
// the same commit crashed the process).
func TestCommitAfterHostCloseIsDropped(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("sched_bench", "sb", `{}`)
	reset := sym(t, ff.mod, "sb_reset")
	commitOnce := sym(t, ff.mod, "sb_commit_once")
	purego.SyscallN(reset)
	defer purego.SyscallN(reset)
	cb := newFakeCallbacks(0, ":method", "GET")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
	})
	if r, _, _ := purego.SyscallN(commitOnce, 0); r&0xff != 1 {
		t.Fatalf("commit on a live stream = %d, want 1", r)
	}
	e.on(0, func() { endStream(cb, f) })
	ff.Close()
	e.workers[0].Stop()
	<-e.workers[0].Done()
	d := e.host.workers[0].sched
	e.host.Close()
	if r, _, _ := purego.SyscallN(commitOnce, 0); r&0xff != 0 {
		t.Fatalf("commit after Host.Close = %d, want 0", r)
	}
	if n := d.rejectedClosed() + d.rejectedStale(); n != 1 {
		t.Fatalf("commit after close counted %d times", n)
	}
}

func TestNewHostRejectsWorkersOutOfOrder(t *testing.T) {
	w, err := worker.New(worker.Options{Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	go w.Run() // so Stop releases its fds
	t.Cleanup(func() { w.Stop(); <-w.Done() })
	_, err = NewHost(zap.NewNop(), []*worker.Worker{w})
	if err == nil || err.Error() != "module: worker at position 0 has index 1; workers must be in index order" {
		t.Fatalf("error: %v", err)
	}
}

func TestStatsString(t *testing.T) {
	e := newEnv(t, 1, Options{})
	e.factory("passthrough", "pt", `{}`)
	s := e.host.Stats().String()
	for _, line := range []string{"module.modules_loaded: 1\n", "module.filter_configs: 1\n",
		"module.scheduler_commits_rejected_full: 0\n", "module.invalid_status: 0\n"} {
		if !strings.Contains(s, line) {
			t.Fatalf("stats text lacks %q:\n%s", line, s)
		}
	}
}

// A stream that starts after its factory was closed gets a 500 instead of
// reaching the module with a destroyed config; a factory closed while a
// stream is alive is destroyed when that stream ends.
func TestFactoryClose(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := newProbe(t, e)
	ff := e.factory("api_probe", "probe", `{"scenario": "none"}`)
	live := newFakeCallbacks(0, ":method", "GET")
	var f hcm.StreamFilter
	e.on(0, func() {
		f = ff.NewFilter(live)
		f.DecodeHeaders(live.req, true)
	})
	ff.Close()
	if !ff.closing.Load() || ff.destroyed.Load() {
		t.Fatal("config destroyed while a stream still uses it")
	}
	late := newFakeCallbacks(0, ":method", "GET")
	e.on(0, func() {
		g := ff.NewFilter(late)
		if st := g.DecodeHeaders(late.req, true); st != hcm.HeadersStopIteration ||
			late.reply == nil || late.reply.status != 500 || late.reply.details != "module_filter_new_failed" {
			t.Errorf("late stream: status %d reply %+v", st, late.reply)
		}
		endStream(late, g)
		if ff.destroyed.Load() {
			t.Error("config destroyed by a stream that never reached the module")
		}
		endStream(live, f)
	})
	// The last stream's destroy hands config_destroy to the control
	// thread; a barrier there shows it ran.
	e.host.ctl.run(func() {})
	if !ff.destroyed.Load() {
		t.Fatal("config not destroyed after its last stream")
	}
	if d := p.call("probe_destroys"); d != 1 {
		t.Fatalf("filter destroys = %d, want 1", d)
	}
}
