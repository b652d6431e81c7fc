package integration

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

const rewriterConfig = `{"request": [{"from": "cat", "to": "kitty"}, {"from": "kitty!", "to": "KITTY!"}],
            "response": [{"from": "secret", "to": "[redacted]"}]}`

func TestBodyRewriterFixedLengthRequest(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("rw", "body_rewriter", "body_rewriter", rewriterConfig), be.addr()))
	req, _ := http.NewRequest("POST", p.URL("/echo"), strings.NewReader("my cat! a cat"))
	r := do(t, newClient(t), req)
	if r.status != 200 || r.body != "my KITTY! a kitty" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	if cl := r.header.Get("x-echo-content-length"); cl != "17" {
		t.Fatalf("backend saw content-length %s, want 17", cl)
	}
}

// A chunked request arriving in pieces, with a match split across pieces.
func TestBodyRewriterChunkedRequest(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("rw", "body_rewriter", "body_rewriter", rewriterConfig), be.addr()))
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", p.URL("/echo"), pr)
	req.ContentLength = -1 // chunked
	go func() {
		for _, part := range []string{"my c", "at! a ", "ca", "t"} {
			if _, err := pw.Write([]byte(part)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	r := do(t, newClient(t), req)
	if r.status != 200 || r.body != "my KITTY! a kitty" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	if te := r.header.Get("x-echo-transfer-encoding"); te != "chunked" {
		t.Fatalf("backend saw transfer-encoding %q, want chunked", te)
	}
}

func TestBodyRewriterResponse(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("rw", "body_rewriter", "body_rewriter", rewriterConfig), be.addr()))
	r := get(t, newClient(t), p.URL("/secret"))
	if r.status != 200 || r.body != "a [redacted]!" {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	if cl := r.header.Get("content-length"); cl != "13" {
		t.Fatalf("content-length %q, want 13", cl)
	}
}
