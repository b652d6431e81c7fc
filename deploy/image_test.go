// Package deploy holds what sluice is deployed with: the container image
// (Dockerfile, its config in container/) and Kubernetes manifests
// (kubernetes/). No container engine runs here, so the tests check the
// Dockerfile's invariants and run the image's config with the real binary
// and the same modules.
package deploy

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
	"github.com/sluiceproxy/sluice/host/config"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

const (
	imageConfig = "/etc/sluice/sluice.yaml"
	moduleDir   = "/usr/local/lib/sluice/modules/"
)

// instructions returns the Dockerfile's instructions (continuation lines
// joined), in order, as [name, arguments].
func instructions(t *testing.T) [][2]string {
	t.Helper()
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, args, _ := strings.Cut(line, " ")
		out = append(out, [2]string{strings.ToUpper(name), strings.Join(strings.Fields(args), " ")})
	}
	return out
}

// The image: built in stages with a pure-Go proxy, run as a non-root user
// with nothing writable by it, health-checked on /ready, serving the
// config it bakes in.
func TestDockerfile(t *testing.T) {
	ins := instructions(t)
	var froms []string
	var runtime [][2]string // the last stage's instructions
	for _, in := range ins {
		if in[0] == "FROM" {
			froms = append(froms, in[1])
			runtime = nil
			continue
		}
		runtime = append(runtime, in)
	}
	if len(froms) < 2 || !strings.Contains(froms[len(froms)-1], "distroless/cc") {
		t.Errorf("want a multi-stage build ending on a distroless cc (glibc) image: %q", froms)
	}
	joined := fmt.Sprint(ins)
	if !strings.Contains(joined, "CGO_ENABLED=0 go build") {
		t.Errorf("the proxy is not built with CGO_ENABLED=0")
	}
	want := map[string]string{
		"USER":        "65532:65532",
		"HEALTHCHECK": `--interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/usr/local/bin/sluice", "ready", "-c", "` + imageConfig + `"]`,
		"ENTRYPOINT":  `["/usr/local/bin/sluice"]`,
		"CMD":         `["run", "-c", "` + imageConfig + `"]`,
		"STOPSIGNAL":  "SIGTERM",
	}
	got := map[string]string{}
	for _, in := range runtime {
		got[in[0]] = in[1]
		if in[0] == "COPY" && !strings.Contains(in[1], "--chmod=0755") && !strings.Contains(in[1], "--chmod=0644") {
			t.Errorf("COPY without a mode (files must not be writable by group or others): %s", in[1])
		}
		if in[0] == "RUN" {
			t.Errorf("RUN in the runtime stage (it has no shell): %s", in[1])
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %q, want %q", k, got[k], v)
		}
	}

	// EXPOSE is what the baked config listens on.
	cfg := bakedConfig(t)
	ports := fmt.Sprintf("%d %d", cfg.Listeners[0].Addr.Port(), cfg.Admin.Addr.Port())
	if got["EXPOSE"] != ports {
		t.Errorf("EXPOSE %q, the config listens on %s", got["EXPOSE"], ports)
	}

	// Every module the config names is baked in.
	baked := bakedModules(joined)
	for _, m := range modulePaths(t) {
		if !baked[m] {
			t.Errorf("the config loads %s, which the image does not build (%v)", m, baked)
		}
	}

	ignore, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{".git", "build", "sdk-rust/target"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(p) + `$`).Match(ignore) {
			t.Errorf(".dockerignore does not leave out %s", p)
		}
	}
}

func bakedConfig(t *testing.T) *config.Config {
	t.Helper()
	data, err := os.ReadFile("container/sluice.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, "container/sluice.yaml")
	if err != nil {
		t.Fatalf("the image's config is invalid:\n%v", err)
	}
	if cfg.Admin == nil || !cfg.Admin.Addr.Addr().IsLoopback() {
		t.Errorf("the image's admin endpoint must stay on loopback by default: %+v", cfg.Admin)
	}
	return cfg
}

// bakedModules are the module files the Dockerfile builds into moduleDir:
// C ones named as make targets, Rust ones installed as lib<name>.so.
func bakedModules(dockerfile string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`/out/modules/([a-z_]+\.so)`).FindAllStringSubmatch(dockerfile, -1) {
		out[moduleDir+m[1]] = true
	}
	if m := regexp.MustCompile(`for m in ([a-z_ ]+); do`).FindStringSubmatch(dockerfile); m != nil {
		for _, name := range strings.Fields(m[1]) {
			out[moduleDir+"lib"+name+".so"] = true
		}
	}
	return out
}

func modulePaths(t *testing.T) []string {
	data, _ := os.ReadFile("container/sluice.yaml")
	var out []string
	for _, m := range regexp.MustCompile(`module: (\S+)`).FindAllStringSubmatch(string(data), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatal("the image's config loads no module")
	}
	return out
}

// The image's config runs: the real binary on it (ports chosen by the
// kernel, the same C modules from the test build) serves the route and
// the module, and the HEALTHCHECK command reports it ready.
func TestImageConfigRuns(t *testing.T) {
	dir := t.TempDir()
	bin, err := sluicetest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile("container/sluice.yaml")
	yaml := strings.NewReplacer("0.0.0.0:10000", "127.0.0.1:0", "127.0.0.1:9901", "127.0.0.1:0").Replace(string(data))
	for _, m := range modulePaths(t) {
		name := strings.TrimSuffix(filepath.Base(m), ".so")
		yaml = strings.ReplaceAll(yaml, m, moduletest.Build(t, name))
	}
	p := sluicetest.Start(t, bin, yaml)
	resp, err := http.Get(p.URL("/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "hello from sluice\n" {
		t.Fatalf("GET /: %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest("GET", p.URL("/"), nil)
	req.Header.Set("cache-key", "existing")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "cached_response_body" || resp.Header.Get("cached") != "yes" {
		t.Fatalf("cached GET: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	out, err := exec.Command(bin, "ready", "-admin", p.AdminAddr()).CombinedOutput()
	if err != nil || string(out) != "LIVE\n" {
		t.Fatalf("HEALTHCHECK command: %v %q", err, out)
	}
}
