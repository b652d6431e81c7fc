package integration

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// A panic in a hook becomes a 500 for that stream only: the proxy keeps
// serving, and the module logs where it panicked.
func TestPanicsAreContained(t *testing.T) {
	for _, hook := range []string{"on_request_headers", "on_request_body", "on_scheduled"} {
		t.Run(hook, func(t *testing.T) {
			be := newBackend(t)
			p := startSluice(t, config(filter("boom", "panicker", "panicker", fmt.Sprintf(`{"hook": %q}`, hook)), be.addr()))
			c := newClient(t)
			for i := 0; i < 3; i++ {
				req, _ := http.NewRequest("POST", p.URL("/"), strings.NewReader("body"))
				r := do(t, c, req)
				if r.status != 500 || r.body != "module filter panicked\n" {
					t.Fatalf("request %d: got %d %q", i, r.status, r.body)
				}
			}
			if n := be.requests.Load(); n != 0 {
				t.Fatalf("backend saw %d requests", n)
			}
			p.WaitLog(fmt.Sprintf(`panic in %s of filter \"panicker\" at `, hook), "src/lib.rs:", "panicker: boom in "+hook)
			// The SDK reports each panic: counted per filter entry.
			if r := get(t, c, p.AdminURL("/stats/prometheus")); !strings.Contains(r.body, "sluice_module_filter_panics{filter=\"boom\"} 3\n") {
				t.Fatalf("panics not counted:\n%s", r.body)
			}
		})
	}
}

func TestPanicInTeardownHooksOnlyLogs(t *testing.T) {
	for _, hook := range []string{"on_stream_complete", "drop"} {
		t.Run(hook, func(t *testing.T) {
			be := newBackend(t)
			p := startSluice(t, config(filter("boom", "panicker", "panicker", fmt.Sprintf(`{"hook": %q}`, hook)), be.addr()))
			r := get(t, newClient(t), p.URL("/ok"))
			if r.status != 200 {
				t.Fatalf("got %d %q", r.status, r.body)
			}
			p.WaitLog("panicker: boom in " + hook)
		})
	}
}

func TestPanicInConfigRejectsTheModuleConfig(t *testing.T) {
	be := newBackend(t)
	_, err := launch(t, config(filter("boom", "panicker", "panicker", `{"hook": "config"}`), be.addr()))
	if err == nil || !strings.Contains(err.Error(), "panic: panicker: boom in config") {
		t.Fatalf("want a start-up failure naming the panic, got:\n%v", err)
	}
}

func TestPanicInNewFilterFailsEachStream(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("boom", "panicker", "panicker", `{"hook": "new_filter"}`), be.addr()))
	r := get(t, newClient(t), p.URL("/"))
	if r.status != 500 {
		t.Fatalf("got %d %q", r.status, r.body)
	}
	p.WaitLog(`panic in new_filter of filter \"panicker\"`)
}

// On the response path: while the response headers are still in the
// proxy, the panic becomes a 500; once they left (a panic in a body hook),
// the stream is reset, so the client sees a truncated response, never a
// complete one.
func TestPanicOnTheResponsePath(t *testing.T) {
	for _, hook := range []string{"on_response_headers", "on_response_body"} {
		t.Run(hook, func(t *testing.T) {
			be := newBackend(t)
			p := startSluice(t, config(filter("boom", "panicker", "panicker", fmt.Sprintf(`{"hook": %q}`, hook)), be.addr()))
			req, _ := http.NewRequest("POST", p.URL("/"), strings.NewReader("body"))
			resp, err := newClient(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, readErr := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch hook {
			case "on_response_headers":
				if resp.StatusCode != 500 || string(body) != "module filter panicked\n" || readErr != nil {
					t.Fatalf("got %d %q (read error %v)", resp.StatusCode, body, readErr)
				}
			default:
				if readErr == nil {
					t.Fatalf("got a complete response %d %q after a panic in %s", resp.StatusCode, body, hook)
				}
			}
			p.WaitLog("panicker: boom in " + hook)
		})
	}
}
