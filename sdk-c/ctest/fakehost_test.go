package ctest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// The SDK examples' unit tests, built with the fake host: C modules are
// testable without the proxy.
func TestFakeHostRunsTheExamples(t *testing.T) {
	root := sluicetest.RepoRoot()
	for _, name := range []string{"api_key", "ext_authz"} {
		t.Run(name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), name+"_test")
			examples := filepath.Join(root, "sdk-c", "examples")
			build := exec.Command("gcc", "-std=c11", "-Wall", "-Werror", "-pthread",
				"-I", filepath.Join(root, "abi"), "-I", filepath.Join(root, "sdk-c"), "-I", filepath.Join(root, "sdk-c", "fakehost"),
				"-o", bin, filepath.Join(examples, name+".c"), filepath.Join(examples, name+"_test.c"),
				filepath.Join(root, "sdk-c", "fakehost", "sluice_fake_host.c"))
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("building: %v\n%s", err, out)
			}
			out, err := exec.Command(bin).CombinedOutput()
			if err != nil || string(out) != name+": ok\n" {
				t.Fatalf("%s_test: %v\n%s", name, err, out)
			}
		})
	}
}
