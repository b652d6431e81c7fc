package integration

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func TestExternalCacheHitIsAnsweredByTheModule(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("cache", "external_cache", "external_cache", `{"threads": 2}`), be.addr()))
	c := newClient(t)
	r := get(t, c, p.URL("/item"), "cache-key", "existing")
	if r.status != 200 || r.header.Get("cached") != "yes" || r.body != "cached_response_body" {
		t.Fatalf("hit: got %d cached=%q body=%q", r.status, r.header.Get("cached"), r.body)
	}
	if n := be.requests.Load(); n != 0 {
		t.Fatalf("a hit reached the backend %d times", n)
	}
}

func TestExternalCacheMissContinuesUpstream(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("cache", "external_cache", "external_cache", "null"), be.addr()))
	c := newClient(t)
	for _, key := range []string{"absent", ""} {
		hdrs := []string{}
		if key != "" {
			hdrs = []string{"cache-key", key}
		}
		r := get(t, c, p.URL("/item"), hdrs...)
		if r.status != 200 || r.header.Get("cached") != "" || r.header.Get("x-echo-cache-key") != key {
			t.Fatalf("miss %q: got %d cached=%q echo=%q", key, r.status, r.header.Get("cached"), r.header.Get("x-echo-cache-key"))
		}
	}
	if n := be.requests.Load(); n != 2 {
		t.Fatalf("backend saw %d requests, want 2", n)
	}
}

// Many streams at once, over both workers: every commit comes back to the
// right filter on the right worker.
func TestExternalCacheConcurrentMix(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("cache", "external_cache", "external_cache",
		`{"threads": 3, "entries": {"existing": "cached_response_body", "k7": "seven"}}`), be.addr()))
	c := newClient(t)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			key, want := []string{"existing", "k7", fmt.Sprintf("miss-%d", i)}[i%3], ""
			switch key {
			case "existing":
				want = "cached_response_body"
			case "k7":
				want = "seven"
			}
			r := get(t, c, p.URL(fmt.Sprintf("/n/%d", i)), "cache-key", key)
			hit := r.header.Get("cached") == "yes"
			switch {
			case r.status != 200:
				errs <- fmt.Errorf("%s: status %d", key, r.status)
			case want != "" && (!hit || r.body != want):
				errs <- fmt.Errorf("%s: want hit %q, got cached=%v body=%q", key, want, hit, r.body)
			case want == "" && (hit || r.header.Get("x-echo-cache-key") != key):
				errs <- fmt.Errorf("%s: want miss, got cached=%v echo=%q", key, hit, r.header.Get("x-echo-cache-key"))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := be.requests.Load(); n != 66 {
		t.Fatalf("backend saw %d requests, want the 66 misses", n)
	}
}

func TestExternalCacheBadConfigStopsStartup(t *testing.T) {
	be := newBackend(t)
	_, err := launch(t, config(filter("cache", "external_cache", "external_cache", `{"threads": 0}`), be.addr()))
	if err == nil {
		t.Fatal("sluice started with a rejected module config")
	}
	if !contains(err.Error(), "threads: want an integer 1..64") {
		t.Fatalf("start-up error does not carry the module's reason:\n%v", err)
	}
}

// A request body arriving while the lookup runs must wait for it (the
// filter buffers it), then go upstream on a miss.
func TestExternalCacheMissWithBody(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("cache", "external_cache", "external_cache", "null"), be.addr()))
	c := newClient(t)
	for i := 0; i < 20; i++ {
		for _, key := range []string{"other", "existing"} {
			req, _ := http.NewRequest("POST", p.URL("/post"), strings.NewReader("payload-"+key))
			req.Header.Set("cache-key", key)
			r := do(t, c, req)
			want := "payload-other"
			if key == "existing" {
				want = "cached_response_body"
			}
			if r.status != 200 || r.body != want {
				t.Fatalf("%s: got %d %q, want %q", key, r.status, r.body, want)
			}
		}
	}
	if n := be.requests.Load(); n != 20 {
		t.Fatalf("backend saw %d requests, want 20 misses", n)
	}
}
