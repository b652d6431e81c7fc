package router

import (
	"os"
	"testing"

	"github.com/sluiceproxy/sluice/host/config"
)

// FuzzValidConfigCompiles: whatever config validation accepts, Compile
// accepts too, and matching arbitrary requests against it never panics.
func FuzzValidConfigCompiles(f *testing.F) {
	f.Add(config.DefaultYAML, "example.com:80", "/a?b")
	if full, err := os.ReadFile("../config/testdata/full.yaml"); err == nil {
		f.Add(full, "API.example.com", "/api/x")
		f.Add(full, "[::1]:8080", "/v1/x#y")
	}
	f.Fuzz(func(t *testing.T, yaml []byte, authority, path string) {
		cfg, err := config.Parse(yaml, "fuzz.yaml")
		if err != nil {
			return
		}
		for _, l := range cfg.Listeners {
			for _, fc := range l.FilterChains {
				for _, nf := range fc.Filters {
					if nf.HCM == nil {
						continue // tcp_proxy, client_ip_allow: no routes
					}
					tab, err := Compile(&nf.HCM.RouteConfig, nil)
					if err != nil {
						t.Fatalf("validated config does not compile: %v", err)
					}
					h := request(authority, path, "x-env", path)
					if r := tab.Match(h); r != nil {
						_ = r.RewritePath(nil, h)
						r.ApplyRequestHeaders(h)
						r.ApplyResponseHeaders(h)
					}
				}
			}
		}
	})
}
