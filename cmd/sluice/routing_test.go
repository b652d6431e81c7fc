package main

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/abi"
)

// TestRouterMatchKinds drives every virtual-host and route match kind, the
// rewrites and the header mutations through the real binary.
func TestRouterMatchKinds(t *testing.T) {
	be := newEchoBackend(t)
	p := startSluice(t, listenerConfig("", `
- name: exact
  domains: ["api.example.com"]
  response_headers_to_add: [{ header: { key: x-vhost, value: exact } }]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "vhost-exact" } }
- name: suffix
  domains: ["*.example.com"]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "vhost-suffix" } }
- name: prefix
  domains: ["static.*"]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200, body: { inline_string: "vhost-prefix" } }
- name: default
  domains: ["*"]
  routes:
  - name: exact-path
    match: { path: /exact }
    direct_response: { status: 201, body: { inline_string: "path" } }
  - name: regex
    match: { safe_regex: "^/v[0-9]+/items$" }
    direct_response: { status: 202, body: { inline_string: "regex" } }
  - name: header-exact
    match: { prefix: /h, headers: [{ name: x-env, exact_match: prod }] }
    direct_response: { status: 200, body: { inline_string: "header-exact" } }
  - name: header-regex
    match: { prefix: /h, headers: [{ name: x-env, safe_regex_match: "^stag.*" }] }
    direct_response: { status: 200, body: { inline_string: "header-regex" } }
  - name: header-present
    match: { prefix: /h, headers: [{ name: x-flag, present_match: true }] }
    direct_response: { status: 200, body: { inline_string: "header-present" } }
  - name: header-inverted
    match: { prefix: /h, headers: [{ name: x-env, present_match: true, invert_match: true }] }
    direct_response: { status: 200, body: { inline_string: "header-absent" } }
  - name: rewrite
    match: { prefix: /api/ }
    route: { cluster: backend, prefix_rewrite: /v2/, host_rewrite_literal: upstream.internal }
    request_headers_to_add: [{ header: { key: x-added, value: yes } }]
    request_headers_to_remove: [x-removed]
    response_headers_to_add: [{ header: { key: x-route, value: rewrite } }]
    response_headers_to_remove: [x-backend-te]
  - name: auto-host
    match: { prefix: /autohost }
    route: { cluster: backend, auto_host_rewrite: true }
  - name: case-insensitive
    match: { prefix: /CI, case_sensitive: false }
    direct_response: { status: 200, body: { inline_string: "ci" } }
`, staticCluster("backend", "", backendAddr(be.Server)), ""))
	client := newClient(t)
	cases := []struct {
		name, host, path string
		hdr              map[string]string
		status           int
		body             string
		respHdr          map[string]string
	}{
		{"vhost exact", "api.example.com", "/", nil, 200, "vhost-exact", map[string]string{"x-vhost": "exact"}},
		{"vhost exact with port", "api.example.com:8080", "/", nil, 200, "vhost-exact", nil},
		{"vhost suffix wildcard", "www.example.com", "/", nil, 200, "vhost-suffix", nil},
		{"vhost prefix wildcard", "static.cdn.net", "/", nil, 200, "vhost-prefix", nil},
		{"path exact", "other", "/exact", nil, 201, "path", nil},
		{"path exact ignores query", "other", "/exact?a=1", nil, 201, "path", nil},
		{"path exact is exact", "other", "/exact/more", nil, 404, "", nil},
		{"regex", "other", "/v12/items", nil, 202, "regex", nil},
		{"regex full match", "other", "/v12/items/x", nil, 404, "", nil},
		{"header exact", "other", "/h", map[string]string{"x-env": "prod"}, 200, "header-exact", nil},
		{"header regex", "other", "/h", map[string]string{"x-env": "staging"}, 200, "header-regex", nil},
		{"header present", "other", "/h", map[string]string{"x-env": "dev", "x-flag": ""}, 200, "header-present", nil},
		{"header inverted", "other", "/h", nil, 200, "header-absent", nil},
		{"no route", "other", "/h", map[string]string{"x-env": "dev"}, 404, "", nil},
		{"case insensitive prefix", "other", "/ci/x", nil, 200, "ci", nil},
		{"auto host rewrite", "other", "/autohost", nil, 200, "path=/autohost len=0", map[string]string{"x-backend-host": backendAddr(be.Server)}},
		{"rewrite and mutations", "other", "/api/users?id=7", map[string]string{"x-removed": "1"}, 200, "path=/v2/users?id=7 len=0",
			map[string]string{"x-backend-path": "/v2/users?id=7", "x-backend-host": "upstream.internal", "x-echo-x-added": "yes", "x-echo-x-removed": "", "x-route": "rewrite", "x-backend-te": ""}},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest("GET", p.URL(tc.path), nil)
		req.Host = tc.host
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || string(body) != tc.body {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
		for k, v := range tc.respHdr {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: header %s = %q, want %q", tc.name, k, got, v)
			}
		}
	}
}

// TestValidateReportsEveryError checks the CLI's config errors: all of
// them, each with its YAML path, naming the file.
func TestValidateReportsEveryError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	os.WriteFile(path, []byte(`concurrency: 0
listeners:
- name: main
  address: 127.0.0.1:99999
  filter_chains:
  - filters:
    - name: http_connection_manager
      config:
        stat_prefix: x
        http_filters: [{ name: router }]
        route_config:
          virtual_hosts:
          - name: v
            domains: ["*"]
            routes:
            - match: { prefix: / }
              route: { cluster: nope, timout: 1s }
clusters: []
`), 0o644)
	out, err := exec.Command(sluiceBin, "validate", "-c", path).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted a bad config: %s", out)
	}
	want := strings.Join([]string{
		path + ": concurrency: must be between 1 and 256",
		path + `: listeners[0].address: invalid address "127.0.0.1:99999": want IP:port (no DNS names)`,
		path + `: listeners[0].filter_chains[0].filters[0].config.route_config.virtual_hosts[0].routes[0].route.cluster: unknown cluster "nope"`,
		path + ": listeners[0].filter_chains[0].filters[0].config.route_config.virtual_hosts[0].routes[0].route.timout: unknown field",
	}, "\n")
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("validate output:\n%s\nwant:\n%s", got, want)
	}
	// The same errors stop `run` before anything listens.
	out, err = exec.Command(sluiceBin, "run", "-c", path).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unknown cluster \"nope\"") {
		t.Fatalf("run with a bad config: err=%v out=%s", err, out)
	}
	// A missing file is named.
	out, _ = exec.Command(sluiceBin, "validate", "-c", filepath.Join(dir, "missing.yaml")).CombinedOutput()
	if !strings.Contains(string(out), filepath.Join(dir, "missing.yaml")) {
		t.Fatalf("missing file not named: %s", out)
	}
	// A good config validates.
	good := filepath.Join(dir, "good.yaml")
	writeConfig(t, good, listenerConfig("", `
- name: all
  domains: ["*"]
  routes:
  - match: { prefix: / }
    direct_response: { status: 200 }
`, "", ""))
	out, err = exec.Command(sluiceBin, "validate", "-c", good).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != good+": ok" {
		t.Fatalf("good config: %v %s", err, out)
	}
}

func TestVersionCommand(t *testing.T) {
	out, err := exec.Command(sluiceBin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "sluice ") || !strings.Contains(string(out), "module ABI "+abi.VersionString()) {
		t.Fatalf("version: %v %s", err, out)
	}
}
