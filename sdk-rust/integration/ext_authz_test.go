package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// authz is a real authorization service for the Rust ext_authz example:
// "Bearer good" is allowed (x-user-id: alice), "Bearer hang" is never
// answered (reported on abandoned when sluice gives up), anything else
// is refused with 401.
type authz struct {
	*httptest.Server
	arrived, abandoned chan struct{}
}

func newAuthz(t *testing.T) *authz {
	a := &authz{arrived: make(chan struct{}, 4), abandoned: make(chan struct{}, 4)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("authorization") {
		case "Bearer good":
			w.Header().Set("x-user-id", "alice")
		case "Bearer hang":
			a.arrived <- struct{}{}
			<-r.Context().Done()
			a.abandoned <- struct{}{}
		default:
			w.Header().Set("www-authenticate", "Bearer")
			w.WriteHeader(401)
			io.WriteString(w, "who are you?")
		}
	}))
	t.Cleanup(a.Close)
	return a
}

// authzConfig is config() with the ext_authz example in front and an
// "authz" cluster at authAddr.
func authzConfig(moduleConfig, backendAddr, authAddr string) string {
	host, port, _ := net.SplitHostPort(authAddr)
	return config(filter("authz", "ext_authz", "ext_authz", moduleConfig), backendAddr) + fmt.Sprintf(`- name: authz
  connect_timeout: 2s
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }
`, host, port)
}

func waitStatValue(t *testing.T, p *proc, name, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stats := adminStats(t, p)
		if v, _ := stat(stats, name); v == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never became %s; /stats:\n%s", name, want, stats)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The Rust ext_authz example over real sockets: an allowed request gets
// the user id, a refused one the service's 401, a client leaving
// mid-check cancels the check, and every done hook runs on its filter's
// worker thread.
func TestExtAuthzRust(t *testing.T) {
	auth := newAuthz(t)
	be := newBackend(t)
	p := startSluice(t, authzConfig(`{"cluster": "authz", "path_prefix": "/check", "timeout_ms": 2000,
            "allowed_headers": ["authorization"], "allowed_upstream_headers": ["x-user-id"]}`, be.addr(), auth.Listener.Addr().String()))
	c := newClient(t)

	r := get(t, c, p.URL("/orders"), "authorization", "Bearer good")
	if r.status != 200 || r.header.Get("x-echo-x-user-id") != "alice" || r.header.Get("x-echo-authorization") != "Bearer good" {
		t.Fatalf("allowed: %d user=%q", r.status, r.header.Get("x-echo-x-user-id"))
	}
	r = get(t, c, p.URL("/orders"), "authorization", "Bearer wrong")
	if r.status != 401 || r.body != "who are you?" || r.header.Get("www-authenticate") != "Bearer" {
		t.Fatalf("denied: %d %q", r.status, r.body)
	}

	conn, err := net.Dial("tcp", p.Addr("main"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer hang\r\n\r\n")
	select {
	case <-auth.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the check never arrived")
	}
	conn.Close()
	select {
	case <-auth.abandoned:
	case <-time.After(10 * time.Second):
		t.Fatal("the check was not abandoned when the client left")
	}
	waitStatValue(t, p, "module.authz.callouts_cancelled", "1")

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", p.Addr("main"))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			br := bufio.NewReader(conn)
			for i := 0; i < 20; i++ {
				fmt.Fprintf(conn, "GET /load HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\n\r\n")
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitStatValue(t, p, `module.authz.decisions{decision="allowed"}`, "161")
	stats := adminStats(t, p)
	if v, ok := stat(stats, "module.authz.wrong_thread"); !ok || v != "0" {
		t.Fatalf("wrong_thread = %q (present %v)", v, ok)
	}
	if v, _ := stat(stats, `module.authz.decisions{decision="denied"}`); v != "1" || strings.Contains(stats, `decision="failed`) {
		t.Fatalf("decisions after the cancelled check:\n%s", stats)
	}
}
