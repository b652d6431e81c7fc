package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// h2specVersion is the conformance suite the HTTP/2 codec is judged by.
const h2specVersion = "github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible"

// h2spec finds the h2spec binary, installing it through the Go module proxy
// when it is not on PATH.
func h2spec(t *testing.T) string {
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	if p := filepath.Join(home, "go", "bin", "h2spec"); fileExists(p) {
		return p
	}
	gobin := filepath.Join(os.TempDir(), "sluice-h2spec-bin")
	p := filepath.Join(gobin, "h2spec")
	if fileExists(p) {
		return p
	}
	cmd := exec.Command("go", "install", h2specVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+gobin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing h2spec: %v\n%s", err, out)
	}
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestH2SpecConformance runs the whole h2spec suite against the real binary
// with an HTTP/2-only listener: every one of its 145 cases must pass.
func TestH2SpecConformance(t *testing.T) {
	bin := h2spec(t)
	p := startSluice(t, listenerConfig("", directRoute, "", "codec_type: http2"))
	host, port, _ := net.SplitHostPort(p.Addr("main"))
	out, _ := exec.Command(bin, "-h", host, "-p", port, "-o", "5").CombinedOutput()
	m := regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no h2spec summary:\n%s", out)
	}
	if m[1] != "145" || m[2] != "145" {
		t.Fatalf("h2spec: %s\n%s", m[0], out)
	}
	t.Logf("h2spec: %s", m[0])
}
