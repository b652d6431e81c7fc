package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// BenchmarkExternalCache measures a cache hit and a miss through the real
// proxy with the Rust external_cache module, next to the C module of the
// same behaviour (testdata/modules/external_cache.c): the difference is the
// SDK's cost, the rest is the proxy, the scheduler round trip and the
// client. Allocations are the client's (the proxy is another process).
func BenchmarkExternalCache(b *testing.B) {
	cDir := b.TempDir()
	build := exec.Command("make", "-s", "-C", filepath.Join(sluicetest.RepoRoot(), "testdata", "modules"), "OUT="+cDir, filepath.Join(cDir, "external_cache.so"))
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		b.Fatalf("building the C module: %v", err)
	}
	modules := map[string]string{"rust": modulePath("external_cache"), "c": filepath.Join(cDir, "external_cache.so")}
	for _, lang := range []string{"rust", "c"} {
		for _, key := range []string{"existing", "absent"} {
			b.Run(lang+"/"+map[string]string{"existing": "hit", "absent": "miss"}[key], func(b *testing.B) {
				benchCache(b, modules[lang], key)
			})
		}
	}
}

func benchCache(b *testing.B, module, key string) {
	be := newBackend(b)
	p := startSluice(b, config(
		"        - name: cache\n          module: "+module+"\n          filter_name: external_cache\n          config: {}\n",
		be.addr()))
	c := newClient(b)
	req, _ := http.NewRequest("GET", p.URL("/"), nil)
	req.Header.Set("cache-key", key)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
