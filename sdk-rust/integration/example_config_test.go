package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// sdk-rust/examples/sluice.yaml starts and does what its comments say
// (module paths pointed at this test's build, port and admin made free).
func TestExampleConfigServes(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sluicetest.RepoRoot(), "sdk-rust", "examples", "sluice.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.NewReplacer(
		"../../build/modules/", moduleDir+"/",
		"127.0.0.1:10000", "127.0.0.1:0",
		"127.0.0.1:9901", "127.0.0.1:0",
		"format: console", "format: json",
	).Replace(string(raw))
	p := startSluice(t, yaml)
	c := newClient(t)
	if r := get(t, c, p.URL("/"), "cache-key", "existing"); r.status != 200 || r.body != "cached_response_body" {
		t.Fatalf("cache hit: %d %q", r.status, r.body)
	}
	r := get(t, c, p.URL("/"), "x-user", "ada")
	want := map[string]string{"x-metadata-x-user": "ada", "x-module": "rust", "x-slow-work-affinity": "ok"}
	if r.status != 200 || r.body != "hello from sluice\n" {
		t.Fatalf("pass-through: %d %q", r.status, r.body)
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
}
