package headers

import (
	"fmt"
	"testing"
)

func TestMapBasics(t *testing.T) {
	var m Map
	m.AddString("Content-Type", "text/plain")
	m.AddString("X-A", "1")
	m.AddString("x-a", "2")
	if v, ok := m.Get("content-type"); !ok || string(v) != "text/plain" {
		t.Fatalf("Get = %q %v", v, ok)
	}
	if m.Count("X-A") != 2 {
		t.Fatalf("Count = %d", m.Count("X-A"))
	}
	m.SetString("x-a", "3")
	if m.Count("x-a") != 1 || m.Len() != 2 {
		t.Fatalf("after Set: count %d len %d", m.Count("x-a"), m.Len())
	}
	if v, _ := m.Get("x-a"); string(v) != "3" {
		t.Fatalf("Set value = %q", v)
	}
	if n := m.Del("CONTENT-TYPE"); n != 1 || m.Len() != 1 {
		t.Fatalf("Del = %d len %d", n, m.Len())
	}
	var names []string
	m.Range(func(n, v []byte) bool { names = append(names, string(n)+"="+string(v)); return true })
	if len(names) != 1 || names[0] != "x-a=3" {
		t.Fatalf("Range = %v", names)
	}
	m.SetStatus(204)
	if m.Status() != 204 {
		t.Fatalf("Status = %d", m.Status())
	}
}

func TestMapCompactBoundsArena(t *testing.T) {
	var m Map
	for i := 0; i < 10000; i++ {
		m.AddString("x-loop", "value")
		m.Del("x-loop")
	}
	if len(m.arena) > 4096 || len(m.entries) > 64 {
		t.Fatalf("arena %d entries %d not bounded", len(m.arena), len(m.entries))
	}
}

func TestMapReuseDoesNotAllocate(t *testing.T) {
	var m Map
	name, val := []byte("Host"), []byte("example.com")
	allocs := testing.AllocsPerRun(100, func() {
		m.Reset()
		for i := 0; i < 20; i++ {
			m.Add(name, val)
		}
		_, _ = m.Get("host")
	})
	if allocs != 0 {
		t.Fatalf("allocs = %v", allocs)
	}
}

func TestSetInPlaceBoundsArena(t *testing.T) {
	var m Map
	m.AddString(":path", "/a/long/initial/path")
	for i := 0; i < 10000; i++ {
		m.SetString(":path", "/short")
		m.Set(":path", []byte("/a/long/initial/path/that/is/longer"))
	}
	if v, _ := m.Get(":path"); string(v) != "/a/long/initial/path/that/is/longer" {
		t.Fatalf(":path = %q", v)
	}
	if len(m.arena) > 8192 {
		t.Fatalf("arena grew to %d bytes under repeated Set", len(m.arena))
	}
}

func TestTokens(t *testing.T) {
	if got := string(TrimOWS([]byte(" \tclose \t"))); got != "close" {
		t.Fatalf("TrimOWS = %q", got)
	}
	if !HasToken([]byte("keep-alive, Upgrade ,HTTP2-Settings"), "http2-settings") || HasToken([]byte("closed, x"), "close") {
		t.Fatal("HasToken")
	}
	if !TokenIs([]byte(" Trailers "), "trailers") || TokenIs([]byte("trailer"), "trailers") {
		t.Fatal("TokenIs")
	}
	var toks []string
	EachToken([]byte(" a, ,b ,c"), func(tok []byte) { toks = append(toks, string(tok)) })
	if len(toks) != 3 || toks[0] != "a" || toks[1] != "b" || toks[2] != "c" {
		t.Fatalf("EachToken = %q", toks)
	}
}

func TestAppendListJoinsRepeatedFieldsIntoACopy(t *testing.T) {
	var m Map
	m.AddString("Connection", "a, b")
	m.AddString("x", "y")
	m.AddString("connection", "c")
	var scratch [8]byte
	got := m.AppendList(scratch[:0], "connection")
	if string(got) != "a, b,c" {
		t.Fatalf("AppendList = %q", got)
	}
	m.Del("connection")
	if string(got) != "a, b,c" {
		t.Fatalf("the copy changed with the map: %q", got)
	}
	if got := m.AppendList(nil, "connection"); len(got) != 0 {
		t.Fatalf("absent field: %q", got)
	}
}

// The name filter only ever skips a scan for a name that is absent: random
// adds, sets, deletes and resets in random case, checked against a plain
// list after every step.
func TestNameFilterAgainstModel(t *testing.T) {
	names := []string{"connection", "Keep-Alive", "te", "x-a", "X-B", "host", ":path", "via", "upgrade", "x-request-id", "a", ""}
	type kv struct{ k, v string }
	var m Map
	var model []kv
	rng := uint64(1)
	next := func(n int) int { rng = rng*6364136223846793005 + 1442695040888963407; return int(rng>>33) % n }
	caseOf := func(s string) string {
		b := []byte(s)
		for i := range b {
			if next(2) == 0 && 'a' <= b[i] && b[i] <= 'z' {
				b[i] -= 'a' - 'A'
			}
		}
		return string(b)
	}
	lowerS := func(s string) string {
		b := []byte(s)
		for i := range b {
			b[i] = lower(b[i])
		}
		return string(b)
	}
	for step := 0; step < 20000; step++ {
		name := names[next(len(names))]
		key := lowerS(name)
		switch next(10) {
		case 0, 1, 2:
			m.AddString(caseOf(name), "v")
			model = append(model, kv{key, "v"})
		case 3:
			m.SetString(caseOf(name), "s")
			i := 0
			for i < len(model) && model[i].k != key {
				i++
			}
			if i == len(model) {
				model = append(model, kv{key, "s"})
			} else {
				model[i].v = "s"
				rest := model[:i+1]
				for _, e := range model[i+1:] {
					if e.k != key {
						rest = append(rest, e)
					}
				}
				model = rest
			}
		case 4, 5:
			m.Del(caseOf(name))
			kept := model[:0]
			for _, e := range model {
				if e.k != key {
					kept = append(kept, e)
				}
			}
			model = kept
		case 6:
			if next(20) == 0 {
				m.Reset()
				model = model[:0]
			}
		}
		for _, probe := range names {
			want := 0
			for _, e := range model {
				if e.k == lowerS(probe) {
					want++
				}
			}
			if got := m.Count(caseOf(probe)); got != want {
				t.Fatalf("step %d: Count(%q) = %d, want %d", step, probe, got, want)
			}
			if _, ok := m.Get(caseOf(probe)); ok != (want > 0) {
				t.Fatalf("step %d: Get(%q) found %v, want %v", step, probe, ok, want > 0)
			}
		}
	}
}

// CopyFrom gives an independent copy: same headers in the same order,
// deleted ones left out, and later changes to either map not seen by the
// other.
func TestCopyFromIsIndependent(t *testing.T) {
	var src, dst Map
	dst.AddString("stale", "x")
	src.AddString(":status", "200")
	src.AddString("X-Gone", "1")
	src.AddString("Server", "nginx")
	src.Del("x-gone")
	dst.CopyFrom(&src)
	src.SetString("server", "other")
	src.AddString("late", "1")
	dst.AddString("x-mine", "1")
	var got []string
	dst.Range(func(n, v []byte) bool { got = append(got, string(n)+"="+string(v)); return true })
	if want := ":status=200 server=nginx x-mine=1"; fmt.Sprint(got) != "["+want+"]" {
		t.Fatalf("copy = %v, want [%s]", got, want)
	}
	if dst.Has("stale") || dst.Has("late") || src.Has("x-mine") || dst.Len() != 3 {
		t.Fatalf("copy not independent: len %d", dst.Len())
	}
}

func BenchmarkCopyFrom(b *testing.B) {
	var src, dst Map
	for _, f := range [][2]string{{":status", "200"}, {"server", "nginx"}, {"date", "Sun, 06 Dec 2026 04:00:00 GMT"},
		{"content-type", "text/plain"}, {"content-length", "13"}} {
		src.AddString(f[0], f[1])
	}
	b.ReportAllocs()
	for b.Loop() {
		dst.CopyFrom(&src)
	}
}
