package router

import (
	"fmt"
	"strings"
	"testing"
)

// benchTable is 20 routes of mixed kinds behind a suffix-wildcard vhost;
// the request matches the last one, so every route is tried.
func benchTable(t testing.TB) *Table {
	var b strings.Builder
	b.WriteString("          - { name: other, domains: [\"other.com\", \"api.*\"], routes: [{ match: { prefix: / }, route: { cluster: c } }] }\n")
	b.WriteString("          - name: main\n            domains: [\"*.example.com\"]\n            routes:\n")
	for i := 0; i < 19; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "            - { name: svc%d, match: { prefix: /svc%d/ }, route: { cluster: c } }\n", i, i)
		case 1:
			fmt.Fprintf(&b, "            - { name: svc%d, match: { path: /svc%d/items }, route: { cluster: c } }\n", i, i)
		case 2:
			fmt.Fprintf(&b, "            - { name: svc%d, match: { safe_regex: \"/svc%d/[a-z]+\" }, route: { cluster: c } }\n", i, i)
		case 3:
			fmt.Fprintf(&b, "            - { name: svc%d, match: { prefix: /SVC%d/, case_sensitive: false }, route: { cluster: c } }\n", i, i)
		}
	}
	b.WriteString("            - { name: svc19, match: { prefix: /svc19/, headers: [{ name: x-tenant, exact_match: acme }, { name: x-debug, present_match: true, invert_match: true }] }, route: { cluster: c } }\n")
	return compile(t, b.String())
}

func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	tab := benchTable(t)
	h := request("WWW.Example.com:8080", "/svc19/items?id=1", "x-tenant", "acme")
	var r *Route
	allocs := testing.AllocsPerRun(100, func() { r = tab.Match(h) })
	if r == nil || r.Name != "svc19" {
		t.Fatalf("matched %s", routeName(r))
	}
	if allocs != 0 {
		t.Errorf("Match allocates %.1f times per call", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	tab := benchTable(b)
	h := request("www.example.com:8080", "/svc19/items?id=1", "x-tenant", "acme")
	b.ReportAllocs()
	for b.Loop() {
		if tab.Match(h) == nil {
			b.Fatal("no match")
		}
	}
}

func BenchmarkRewriteAndHeaders(b *testing.B) {
	tab := compile(b, `
          - name: v
            domains: ["*"]
            request_headers_to_add: [{ header: { key: x-vh, value: "1" }, append_action: OVERWRITE_IF_EXISTS_OR_ADD }]
            routes:
            - { match: { prefix: /api/ }, route: { cluster: c, prefix_rewrite: / }, request_headers_to_remove: [x-internal] }`)
	h := request("h", "/api/v1/users?id=7", "x-internal", "1")
	r := tab.Match(h)
	dst := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		dst = r.RewritePath(dst[:0], h)
		r.ApplyRequestHeaders(h)
	}
}
