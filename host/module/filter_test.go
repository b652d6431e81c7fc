package module

import (
	"reflect"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/headers"
)

func TestPassthroughAndOptionalHookDefaults(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("passthrough", "pt", `{}`)
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/", "host", "example.com")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, false); st != hcm.HeadersContinue {
			t.Errorf("DecodeHeaders = %d", st)
		}
		// passthrough exports no body/trailer hooks: the defaults apply.
		if st := f.DecodeData(newFakeBuffer("abc"), true); st != hcm.DataContinue {
			t.Errorf("DecodeData = %d", st)
		}
		if st := f.DecodeTrailers(&headers.Map{}); st != hcm.TrailersContinue {
			t.Errorf("DecodeTrailers = %d", st)
		}
		cb.resp = &headers.Map{}
		cb.resp.SetStatus(200)
		if st := f.EncodeHeaders(cb.resp, false); st != hcm.HeadersContinue {
			t.Errorf("EncodeHeaders = %d", st)
		}
		if st := f.EncodeData(newFakeBuffer("x"), true); st != hcm.DataContinue {
			t.Errorf("EncodeData = %d", st)
		}
		endStream(cb, f)
	})
	s := e.host.Stats()
	if s.FiltersActive != 0 || s.FiltersCreated != 1 || s.InvalidStatus != 0 {
		t.Fatalf("stats after one stream: %+v", s)
	}
}

func TestHeaderMutator(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("header_mutator", "mut", `{"request_set": {"x-added": "yes", "Host": "rewritten"},
		"request_remove": ["x-secret"], "response_set": {"server": "sluice"}, "response_remove": ["x-powered-by"]}`)
	cb := newFakeCallbacks(0, ":method", "GET", ":path", "/", "host", "example.com", "x-secret", "1", "x-secret", "2")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, true)
		want := []string{":method: GET", ":path: /", "host: rewritten", "x-added: yes"}
		if got := headerList(cb.req); !reflect.DeepEqual(got, want) {
			t.Errorf("request headers %q, want %q", got, want)
		}
		cb.resp = &headers.Map{}
		cb.resp.SetStatus(200)
		cb.resp.AddString("x-powered-by", "php")
		f.EncodeHeaders(cb.resp, true)
		want = []string{":status: 200", "server: sluice", "x-request-header-count: 5"}
		if got := headerList(cb.resp); !reflect.DeepEqual(got, want) {
			t.Errorf("response headers %q, want %q", got, want)
		}
		endStream(cb, f)
	})
}

func TestBodyRewriterAcrossChunks(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("body_rewriter", "rw", `{"from": "world", "to": "there"}`)
	cb := newFakeCallbacks(0, ":method", "POST", "content-length", "22")
	cb.bufReq = newFakeBuffer()
	e.on(0, func() {
		f := ff.NewFilter(cb)
		f.DecodeHeaders(cb.req, false)
		if cb.req.Has("content-length") {
			t.Error("content-length kept although the body length changes")
		}
		// "world" is split across the first two chunks.
		chunks := []string{"hello wo", "rld, big world", "!"}
		for i, c := range chunks {
			recv := newFakeBuffer(c)
			eos := i == len(chunks)-1
			st := f.DecodeData(recv, eos)
			if !eos {
				if st != hcm.DataStopIterationAndBuffer {
					t.Fatalf("chunk %d: status %d, want StopIterationAndBuffer", i, st)
				}
				// What the connection manager does with a buffered chunk.
				cb.bufReq.Append(recv.Bytes())
				continue
			}
			if st != hcm.DataContinue {
				t.Fatalf("last chunk: status %d", st)
			}
			if got := string(recv.Bytes()); got != "hello there, big there!" {
				t.Errorf("re-emitted body %q", got)
			}
			if cb.bufReq.Len() != 0 {
				t.Errorf("buffered body left: %q", cb.bufReq.Bytes())
			}
		}
		endStream(cb, f)
	})
}

func TestExternalCache(t *testing.T) {
	e := newEnv(t, 2, Options{})
	ff := e.factory("external_cache", "cache", `{}`)
	t.Run("hit", func(t *testing.T) {
		cb := newFakeCallbacks(1, ":method", "GET", "cache-key", "existing")
		var f hcm.StreamFilter
		e.on(1, func() {
			f = ff.NewFilter(cb)
			if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
				t.Errorf("DecodeHeaders = %d", st)
			}
		})
		cb.wait(t, "reply")
		e.on(1, func() {
			want := &localReply{status: 200, hdrs: [][2]string{{"cached", "yes"}}, body: "cached_response_body", details: "cache_hit"}
			if !reflect.DeepEqual(cb.reply, want) {
				t.Errorf("reply %+v, want %+v", cb.reply, want)
			}
			endStream(cb, f)
		})
	})
	t.Run("miss", func(t *testing.T) {
		cb := newFakeCallbacks(0, ":method", "GET", "cache-key", "absent")
		var f hcm.StreamFilter
		e.on(0, func() {
			f = ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
		})
		cb.wait(t, "continue_decoding")
		e.on(0, func() {
			if cb.reply != nil || cb.continuedDecoding != 1 {
				t.Errorf("miss: reply %+v, continued %d", cb.reply, cb.continuedDecoding)
			}
			endStream(cb, f)
		})
	})
	t.Run("no key", func(t *testing.T) {
		cb := newFakeCallbacks(0, ":method", "GET")
		e.on(0, func() {
			f := ff.NewFilter(cb)
			if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersContinue {
				t.Errorf("DecodeHeaders = %d", st)
			}
			endStream(cb, f)
		})
	})
	if s := e.host.Stats(); s.Commits != 2 || s.CommitsDropped != 0 {
		t.Fatalf("commits %d dropped %d, want 2 and 0", s.Commits, s.CommitsDropped)
	}
}

func TestThreadAffinity(t *testing.T) {
	e := newEnv(t, 2, Options{})
	ff := e.factory("thread_affinity", "tid", `{}`)
	for w := 0; w < 2; w++ {
		cb := newFakeCallbacks(w, ":method", "POST")
		var f hcm.StreamFilter
		e.on(w, func() {
			f = ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, false)
		})
		cb.wait(t, "continue_decoding") // from on_scheduled, after a commit from a module thread
		e.on(w, func() {
			f.DecodeData(newFakeBuffer("body"), true)
			cb.resp = &headers.Map{}
			cb.resp.SetStatus(200)
			f.EncodeHeaders(cb.resp, false)
			f.EncodeData(newFakeBuffer("resp"), true)
			if cb.reply != nil {
				t.Fatalf("worker %d: module saw another thread: %+v", w, cb.reply)
			}
			want := []string{":status: 200", "x-thread-affinity: ok", "x-hooks-checked: 4"}
			if got := headerList(cb.resp); !reflect.DeepEqual(got, want) {
				t.Errorf("worker %d: response %q, want %q", w, got, want)
			}
			endStream(cb, f)
		})
	}
}

func TestMetrics(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("metrics", "m", `{}`)
	var filters []hcm.StreamFilter
	var cbs []*fakeCallbacks
	e.on(0, func() {
		for i := 0; i < 3; i++ {
			cb := newFakeCallbacks(0, ":method", "GET", ":path", "/", "a", "1")
			for j := 0; j < i; j++ {
				cb.req.AddString("extra", "x")
			}
			f := ff.NewFilter(cb)
			f.DecodeHeaders(cb.req, true)
			filters, cbs = append(filters, f), append(cbs, cb)
		}
	})
	get := func() map[string]MetricSnapshot {
		out := map[string]MetricSnapshot{}
		for _, m := range e.host.Stats().Metrics {
			out[m.Name] = m
		}
		return out
	}
	m := get()
	if m["m.requests_total"].Value != 3 || m["m.active_filters"].Value != 3 || m["m.background_ticks"].Value != 1 {
		t.Fatalf("metrics %+v", m)
	}
	h := m["m.request_header_count"]
	if h.Kind != Histogram || h.Count != 3 || h.Sum != 3+4+5 {
		t.Fatalf("histogram %+v", h)
	}
	e.on(0, func() {
		for i, f := range filters {
			endStream(cbs[i], f)
		}
	})
	if got := get()["m.active_filters"].Value; got != 0 {
		t.Fatalf("active_filters = %d after all streams ended", got)
	}
	if s := e.host.Stats().String(); !strings.Contains(s, "module.m.requests_total: 3\n") ||
		!strings.Contains(s, "module.m.request_header_count_count: 3\n") {
		t.Fatalf("stats text:\n%s", s)
	}
}

func TestInvalidStatusFailsStreamWith500(t *testing.T) {
	e := newEnv(t, 1, Options{})
	ff := e.factory("invalid_status", "bad", `{}`)
	for i := 0; i < 3; i++ {
		cb := newFakeCallbacks(0, ":method", "GET")
		e.on(0, func() {
			f := ff.NewFilter(cb)
			if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersStopIteration {
				t.Errorf("DecodeHeaders = %d, want StopIteration", st)
			}
			want := &localReply{status: 500, details: "module_invalid_status"}
			if !reflect.DeepEqual(cb.reply, want) {
				t.Errorf("reply %+v, want %+v", cb.reply, want)
			}
			if cb.info.Flags&hcm.FlagFilterFailure == 0 || cb.info.Flags.String() != "FF" {
				t.Errorf("flags %s, want FF", cb.info.Flags)
			}
			endStream(cb, f)
		})
	}
	if got := e.host.Stats().InvalidStatus; got != 3 {
		t.Fatalf("InvalidStatus = %d, want 3", got)
	}
	// The rate limiter let the first one through and counted the rest.
	if got := e.host.invalidLog.suppressed.Load(); got != 2 {
		t.Fatalf("suppressed log lines = %d, want 2", got)
	}
}
