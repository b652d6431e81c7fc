package integration

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

func TestHeaderMetadataRoundTrip(t *testing.T) {
	be := newBackend(t)
	cfg := `{"namespace": "hm", "copy_to_metadata": ["x-user"], "set_request_headers": {"x-added": "1"},
            "remove_request_headers": ["x-secret"], "set_response_headers": {"x-served-by": "rust"}}`
	p := startSluice(t, config(filter("hm", "header_metadata", "header_metadata", cfg), be.addr()))
	r := get(t, newClient(t), p.URL("/"), "x-user", "alice", "x-secret", "s3")
	checks := []struct{ name, got, want string }{
		{"backend saw x-added", r.header.Get("x-echo-x-added"), "1"},
		{"backend saw x-secret", r.header.Get("x-echo-x-secret"), ""},
		{"backend saw x-user", r.header.Get("x-echo-x-user"), "alice"},
		{"metadata read back", r.header.Get("x-metadata-x-user"), "alice"},
		{"metadata number", r.header.Get("x-metadata-copied"), "1"},
		{"response header", r.header.Get("x-served-by"), "rust"},
	}
	if r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	// Without the header nothing is copied, and the count says so.
	r = get(t, newClient(t), p.URL("/"))
	if r.header.Get("x-metadata-x-user") != "" || r.header.Get("x-metadata-copied") != "0" {
		t.Fatalf("no x-user: got x-metadata-x-user=%q copied=%q", r.header.Get("x-metadata-x-user"), r.header.Get("x-metadata-copied"))
	}
}

// typed_per_filter_config is keyed by the http_filters entry name ("meta"),
// not by the module's filter_name.
func TestHeaderMetadataPerRouteOverride(t *testing.T) {
	be := newBackend(t)
	host, port, _ := net.SplitHostPort(be.addr())
	yaml := fmt.Sprintf(`concurrency: 2
drain_timeout: 1s
log: { level: info, format: json }
listeners:
- name: main
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: ingress
        http_filters:
        - name: meta
          module: %s
          filter_name: header_metadata
          config: { set_response_headers: { x-scope: filter } }
        - name: router
        route_config:
          virtual_hosts:
          - name: all
            domains: ["*"]
            routes:
            - match: { prefix: /a }
              route: { cluster: backend }
              typed_per_filter_config: { meta: { set_response_headers: { x-scope: route-a } } }
            - match: { prefix: / }
              route: { cluster: backend }
clusters:
- name: backend
  load_assignment:
    endpoints:
    - lb_endpoints:
      - endpoint: { address: { socket_address: { address: %s, port_value: %s } } }
`, modulePath("header_metadata"), host, port)
	p := startSluice(t, yaml)
	c := newClient(t)
	for path, want := range map[string]string{"/a": "route-a", "/b": "filter"} {
		if r := get(t, c, p.URL(path)); r.status != 200 || r.header.Get("x-scope") != want {
			t.Errorf("%s: got %d x-scope=%q, want %q", path, r.status, r.header.Get("x-scope"), want)
		}
	}
}

func TestHeaderMetadataBadPerRouteConfigStopsStartup(t *testing.T) {
	be := newBackend(t)
	yaml := strings.Replace(config(filter("hm", "header_metadata", "header_metadata", "{}"), be.addr()),
		"route: { cluster: backend, timeout: 10s }",
		"route: { cluster: backend, timeout: 10s }\n              typed_per_filter_config: { hm: { bogus: 1 } }", 1)
	_, err := launch(t, yaml)
	if err == nil || !strings.Contains(err.Error(), `per-route config: unknown field \"bogus\"`) && !strings.Contains(err.Error(), `per-route config: unknown field "bogus"`) {
		t.Fatalf("want a start-up error with the module's reason, got:\n%v", err)
	}
}

// The attributes the host reports to the module, over HTTP/1.1 and h2c.
func TestHeaderMetadataAttributes(t *testing.T) {
	be := newBackend(t)
	p := startSluice(t, config(filter("hm", "header_metadata", "header_metadata", `{"expose_attributes": true}`), be.addr()))
	h2 := &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(h2.CloseIdleConnections)
	clients := map[string]*http.Client{
		"HTTP/1.1": newClient(t),
		"HTTP/2":   {Transport: h2, Timeout: 20 * time.Second},
	}
	for proto, c := range clients {
		r := get(t, c, p.URL("/attrs?q=1"))
		want := map[string]string{"x-attr-method": "GET", "x-attr-path": "/attrs?q=1", "x-attr-protocol": proto}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", proto, k, got, v)
			}
		}
		if src := r.header.Get("x-attr-source"); !strings.HasPrefix(src, "127.0.0.1:") {
			t.Errorf("%s: x-attr-source = %q", proto, src)
		}
		if w := r.header.Get("x-attr-worker"); w != "0" && w != "1" {
			t.Errorf("%s: x-attr-worker = %q, want a worker index of 2", proto, w)
		}
	}
}
