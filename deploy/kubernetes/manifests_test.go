// Package kubernetes holds sluice's Kubernetes manifests; its test checks,
// offline, the invariants between them, the sluice config they carry and
// the container image they run — what a schema validator cannot see.
package kubernetes

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sluiceproxy/sluice/host/config"
)

// Just the fields the checks read.
type object struct {
	APIVersion string            `yaml:"apiVersion"`
	Kind       string            `yaml:"kind"`
	Metadata   meta              `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	Spec       yaml.Node         `yaml:"spec"`
	Resources  []string          `yaml:"resources"` // Kustomization
	file       string
}

type meta struct {
	Name   string            `yaml:"name"`
	Labels map[string]string `yaml:"labels"`
}

type selector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deploymentSpec struct {
	Replicas int      `yaml:"replicas"`
	Selector selector `yaml:"selector"`
	Strategy struct {
		RollingUpdate struct {
			MaxUnavailable any `yaml:"maxUnavailable"`
		} `yaml:"rollingUpdate"`
	} `yaml:"strategy"`
	Template struct {
		Metadata meta    `yaml:"metadata"`
		Spec     podSpec `yaml:"spec"`
	} `yaml:"template"`
}

type podSpec struct {
	TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
		RunAsUser    int  `yaml:"runAsUser"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Exec struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet *struct {
		Path string    `yaml:"path"`
		Port yaml.Node `yaml:"port"`
	} `yaml:"httpGet"`
	TCPSocket *struct {
		Port yaml.Node `yaml:"port"`
	} `yaml:"tcpSocket"`
}

type serviceSpec struct {
	Selector map[string]string `yaml:"selector"`
	Ports    []struct {
		Name       string    `yaml:"name"`
		Port       int       `yaml:"port"`
		TargetPort yaml.Node `yaml:"targetPort"`
	} `yaml:"ports"`
}

type pdbSpec struct {
	MinAvailable   any      `yaml:"minAvailable"`
	MaxUnavailable any      `yaml:"maxUnavailable"`
	Selector       selector `yaml:"selector"`
}

// manifests reads every YAML document of this directory, keyed by kind.
func manifests(t *testing.T) map[string]*object {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	out := map[string]*object{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(false)
		for {
			o := &object{file: f}
			if err := dec.Decode(o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if _, dup := out[o.Kind]; dup {
				t.Fatalf("%s: a second %s", f, o.Kind)
			}
			out[o.Kind] = o
		}
	}
	for kind, api := range map[string]string{
		"ConfigMap":           "v1",
		"Deployment":          "apps/v1",
		"Service":             "v1",
		"PodDisruptionBudget": "policy/v1",
		"Kustomization":       "kustomize.config.k8s.io/v1beta1",
	} {
		o, ok := out[kind]
		if !ok {
			t.Fatalf("no %s manifest", kind)
		}
		if o.APIVersion != api {
			t.Fatalf("%s: %s apiVersion %q, want %q", o.file, kind, o.APIVersion, api)
		}
	}
	return out
}

func decodeSpec(t *testing.T, o *object, into any) {
	t.Helper()
	if err := o.Spec.Decode(into); err != nil {
		t.Fatalf("%s: spec: %v", o.file, err)
	}
}

// The manifests fit together: the Kustomization lists every file, the
// Deployment, Service and PodDisruptionBudget select the same pods, and
// the Service targets a port the container has.
func TestManifestsFitTogether(t *testing.T) {
	m := manifests(t)
	files, _ := filepath.Glob("*.yaml")
	listed := map[string]bool{}
	for _, r := range m["Kustomization"].Resources {
		listed[r] = true
	}
	for _, f := range files {
		if f != "kustomization.yaml" && !listed[f] {
			t.Errorf("kustomization.yaml does not list %s", f)
		}
	}
	var dep deploymentSpec
	decodeSpec(t, m["Deployment"], &dep)
	pod := dep.Template.Metadata.Labels
	if len(dep.Selector.MatchLabels) == 0 || !subset(dep.Selector.MatchLabels, pod) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", dep.Selector.MatchLabels, pod)
	}
	var svc serviceSpec
	decodeSpec(t, m["Service"], &svc)
	if len(svc.Selector) == 0 || !subset(svc.Selector, pod) {
		t.Errorf("Service selector %v does not match the pod labels %v", svc.Selector, pod)
	}
	var pdb pdbSpec
	decodeSpec(t, m["PodDisruptionBudget"], &pdb)
	if !equal(pdb.Selector.MatchLabels, dep.Selector.MatchLabels) {
		t.Errorf("PodDisruptionBudget selector %v, Deployment's %v", pdb.Selector.MatchLabels, dep.Selector.MatchLabels)
	}
	if (pdb.MinAvailable == nil) == (pdb.MaxUnavailable == nil) {
		t.Errorf("PodDisruptionBudget needs exactly one of minAvailable and maxUnavailable")
	}
	if n, ok := pdb.MinAvailable.(int); ok && n >= dep.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %d with %d replicas blocks every voluntary disruption", n, dep.Replicas)
	}
	if dep.Replicas < 2 {
		t.Errorf("%d replicas: a rolling update or node drain leaves no pod serving", dep.Replicas)
	}
	c := sluiceContainer(t, &dep)
	for _, p := range svc.Ports {
		if _, ok := containerPort(c, &p.TargetPort); !ok {
			t.Errorf("Service port %s targets %q, which the container does not expose", p.Name, p.TargetPort.Value)
		}
	}
	if m["ConfigMap"].Metadata.Name != dep.Template.Spec.Volumes[0].ConfigMap.Name {
		t.Errorf("the pod mounts ConfigMap %q, the manifest is %q", dep.Template.Spec.Volumes[0].ConfigMap.Name, m["ConfigMap"].Metadata.Name)
	}
}

// The config in the ConfigMap is valid and agrees with the pod: probes
// and preStop reach the admin endpoint, the listener is the container
// port, the grace period outlasts a drain, and the CPUs are the workers.
func TestConfigMatchesThePod(t *testing.T) {
	m := manifests(t)
	var dep deploymentSpec
	decodeSpec(t, m["Deployment"], &dep)
	c := sluiceContainer(t, &dep)

	// The config path: args, preStop and the mount agree.
	cfgPath := "/etc/sluice/sluice.yaml"
	if strings.Join(c.Args, " ") != "run -c "+cfgPath {
		t.Errorf("container args %q, want run -c %s", c.Args, cfgPath)
	}
	if len(c.VolumeMounts) == 0 || c.VolumeMounts[0].MountPath+"/sluice.yaml" != cfgPath {
		t.Errorf("the config volume is not mounted at %s", filepath.Dir(cfgPath))
	}
	text, ok := m["ConfigMap"].Data[filepath.Base(cfgPath)]
	if !ok {
		t.Fatalf("ConfigMap has no %s", filepath.Base(cfgPath))
	}
	cfg, err := config.Parse([]byte(text), "configmap.yaml: sluice.yaml")
	if err != nil {
		t.Fatalf("the ConfigMap's config is invalid:\n%v", err)
	}

	// Admin: every address (the kubelet probes the pod's), on the port
	// named admin; /ready for readiness, not for liveness (a drain fails
	// it on purpose).
	if cfg.Admin == nil || !cfg.Admin.Addr.Addr().IsUnspecified() {
		t.Fatalf("admin must listen on the wildcard address for probes and loopback: %+v", cfg.Admin)
	}
	adminPort, ok := portNamed(c, "admin")
	if !ok || adminPort != int(cfg.Admin.Addr.Port()) {
		t.Errorf("container port admin = %d, config admin.address %s", adminPort, cfg.Admin.Address)
	}
	rp := c.ReadinessProbe.HTTPGet
	if rp == nil || rp.Path != "/ready" {
		t.Fatalf("readiness probe is not GET /ready: %+v", c.ReadinessProbe)
	}
	if p, ok := containerPort(c, &rp.Port); !ok || p != adminPort {
		t.Errorf("readiness probe port %q is not the admin port %d", rp.Port.Value, adminPort)
	}
	if lp := c.LivenessProbe.HTTPGet; lp != nil && lp.Path == "/ready" {
		t.Errorf("liveness probe on /ready: the drain would get the pod killed")
	}

	// The listener is the port named http, which the Service targets.
	httpPort, _ := portNamed(c, "http")
	if len(cfg.Listeners) == 0 || int(cfg.Listeners[0].Addr.Port()) != httpPort {
		t.Errorf("container port http = %d, listener %s", httpPort, cfg.Listeners[0].Address)
	}

	// preStop drains through the admin endpoint on loopback and returns
	// when done; the grace period must cover it, with room to stop.
	want := []string{"/usr/local/bin/sluice", "drain", "-c", cfgPath}
	if got := c.Lifecycle.PreStop.Exec.Command; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("preStop %q, want %q", got, want)
	}
	grace := time.Duration(dep.Template.Spec.TerminationGracePeriodSeconds) * time.Second
	if need := cfg.DrainDelay + cfg.DrainTimeout + 5*time.Second; grace < need {
		t.Errorf("terminationGracePeriodSeconds %v < drain_delay %v + drain_timeout %v + 5s to stop", grace, cfg.DrainDelay, cfg.DrainTimeout)
	}
	if cfg.DrainDelay == 0 {
		t.Errorf("drain_delay 0: connections sent while the endpoint is being removed are refused")
	}

	// One worker per CPU, the CPUs guaranteed.
	req, lim := c.Resources.Requests, c.Resources.Limits
	cpuReq, err1 := cpuQuantity(req["cpu"])
	cpuLim, err2 := cpuQuantity(lim["cpu"])
	if err1 != nil || err2 != nil {
		t.Fatalf("cpu: %v %v", err1, err2)
	}
	if cpuReq != cpuLim || cpuLim != float64(cfg.Concurrency) {
		t.Errorf("concurrency %d, cpu request %v, limit %v: want all equal (one worker per CPU, guaranteed)", cfg.Concurrency, cpuReq, cpuLim)
	}
	memReq, err1 := byteQuantity(req["memory"])
	memLim, err2 := byteQuantity(lim["memory"])
	if err1 != nil || err2 != nil || memReq != memLim {
		t.Errorf("memory request %q, limit %q: want equal (%v %v)", req["memory"], lim["memory"], err1, err2)
	}
	goMem := int64(0)
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" {
			goMem, err = byteQuantity(strings.TrimSuffix(e.Value, "B"))
			if err != nil {
				t.Fatalf("GOMEMLIMIT %q: %v", e.Value, err)
			}
		}
	}
	if goMem <= 0 || goMem >= memLim {
		t.Errorf("GOMEMLIMIT %d must be set below the memory limit %d", goMem, memLim)
	}
}

// The pod runs as the image's non-root user, with nothing it does not
// need.
func TestPodSecurity(t *testing.T) {
	m := manifests(t)
	var dep deploymentSpec
	decodeSpec(t, m["Deployment"], &dep)
	sc := dep.Template.Spec.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == 0 {
		t.Errorf("pod securityContext runs as root: %+v", sc)
	}
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if user := lastInstruction(string(df), "USER"); user != fmt.Sprintf("%d:%d", sc.RunAsUser, sc.RunAsUser) {
		t.Errorf("image USER %q, pod runAsUser %d", user, sc.RunAsUser)
	}
	c := sluiceContainer(t, &dep)
	if c.SecurityContext.AllowPrivilegeEscalation == nil || *c.SecurityContext.AllowPrivilegeEscalation || !c.SecurityContext.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext: %+v", c.SecurityContext)
	}
}

func sluiceContainer(t *testing.T, dep *deploymentSpec) *container {
	t.Helper()
	for i := range dep.Template.Spec.Containers {
		if dep.Template.Spec.Containers[i].Name == "sluice" {
			return &dep.Template.Spec.Containers[i]
		}
	}
	t.Fatal("no container named sluice")
	return nil
}

func portNamed(c *container, name string) (int, bool) {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort, true
		}
	}
	return 0, false
}

// containerPort resolves a port reference (a name or a number) against
// the container's ports.
func containerPort(c *container, ref *yaml.Node) (int, bool) {
	if n, err := strconv.Atoi(ref.Value); err == nil {
		for _, p := range c.Ports {
			if p.ContainerPort == n {
				return n, true
			}
		}
		return 0, false
	}
	return portNamed(c, ref.Value)
}

func subset(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func equal(a, b map[string]string) bool { return len(a) == len(b) && subset(a, b) }

// cpuQuantity reads "2", "1.5" or "500m".
func cpuQuantity(q string) (float64, error) {
	if m, ok := strings.CutSuffix(q, "m"); ok {
		n, err := strconv.ParseFloat(m, 64)
		return n / 1000, err
	}
	return strconv.ParseFloat(q, 64)
}

// byteQuantity reads "512Mi", "1Gi", "450Mi", "1000k" or plain bytes.
func byteQuantity(q string) (int64, error) {
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}} {
		if n, ok := strings.CutSuffix(q, u.suffix); ok {
			v, err := strconv.ParseInt(n, 10, 64)
			return v * u.mult, err
		}
	}
	return strconv.ParseInt(q, 10, 64)
}

// lastInstruction is the argument of the last Dockerfile instruction
// named name (the runtime stage's, for USER).
func lastInstruction(dockerfile, name string) string {
	last := ""
	for _, line := range strings.Split(dockerfile, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == name {
			last = strings.Join(f[1:], " ")
		}
	}
	return last
}

