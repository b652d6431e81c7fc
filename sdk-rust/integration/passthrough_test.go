package integration

import (
	"net/http"
	"strings"
	"testing"
)

// The Rust passthrough (the module bench/run.sh measures) forwards a
// request and its answer untouched, body both ways included, and a bad
// config stops start-up.
func TestPassthroughChangesNothing(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("pass", "passthrough", "passthrough", "{}"), be.addr()))
	c := newClient(t)
	r := get(t, c, p.URL("/secret"), "x-user", "alice")
	if r.status != 200 || r.body != "a secret!" || r.header.Get("x-echo-x-user") != "alice" {
		t.Fatalf("GET: status %d body %q x-echo-x-user %q", r.status, r.body, r.header.Get("x-echo-x-user"))
	}
	req, err := http.NewRequest("POST", p.URL("/echo"), strings.NewReader("ping pong"))
	if err != nil {
		t.Fatal(err)
	}
	r = do(t, c, req)
	if r.status != 200 || r.body != "ping pong" {
		t.Fatalf("POST: status %d body %q", r.status, r.body)
	}
	if n := be.requests.Load(); n != 2 {
		t.Fatalf("backend saw %d requests, want 2", n)
	}
}

func TestPassthroughRefusesConfig(t *testing.T) {
	be := newBackend(t)
	_, err := launch(t, config(filter("pass", "passthrough", "passthrough", `{"x": 1}`), be.addr()))
	want := `filter "passthrough": config rejected by the module: unknown field "x" (passthrough takes no config)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("start-up error %v, want it to contain %q", err, want)
	}
}
