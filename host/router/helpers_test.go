package router

import (
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/headers"
)

// parseRoutes turns a virtual_hosts YAML list (indented by 10 spaces, as it
// sits in a full config) into a validated RouteConfiguration. http_filters
// "a" and "b" exist so typed_per_filter_config can name them.
func parseRoutes(t testing.TB, virtualHosts string) *config.RouteConfiguration {
	t.Helper()
	yaml := `listeners:
- name: l
  address: 127.0.0.1:0
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        http_filters:
        - { name: a, module: a.so, filter_name: a }
        - { name: b, module: b.so, filter_name: b }
        - name: router
        route_config:
          virtual_hosts:
` + virtualHosts + `
clusters:
- name: c
  load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 1 } } } }] }] }
- name: d
  load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 2 } } } }] }] }
`
	cfg, err := config.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	return &cfg.Listeners[0].FilterChains[0].Filters[0].HCM.RouteConfig
}

func compile(t testing.TB, virtualHosts string) *Table {
	t.Helper()
	tab, err := Compile(parseRoutes(t, virtualHosts), nil)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// request builds request headers; extra is name, value pairs.
func request(authority, path string, extra ...string) *headers.Map {
	h := new(headers.Map)
	h.AddString(":method", "GET")
	h.AddString(":scheme", "http")
	h.AddString(":authority", authority)
	h.AddString(":path", path)
	for i := 0; i+1 < len(extra); i += 2 {
		h.AddString(extra[i], extra[i+1])
	}
	return h
}

func routeName(r *Route) string {
	if r == nil {
		return "<nil>"
	}
	return r.VirtualHost + "/" + r.Name
}

// dump renders headers as "name: value" lines for comparisons.
func dump(h *headers.Map) string {
	var b strings.Builder
	h.Range(func(n, v []byte) bool {
		b.Write(n)
		b.WriteString(": ")
		b.Write(v)
		b.WriteByte('\n')
		return true
	})
	return b.String()
}
