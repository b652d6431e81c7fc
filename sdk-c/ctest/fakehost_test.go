package ctest

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// The SDK example's unit test, built with the fake host: C modules are
// testable without the proxy.
func TestFakeHostRunsTheAPIKeyExample(t *testing.T) {
	root := sluicetest.RepoRoot()
	bin := filepath.Join(t.TempDir(), "api_key_test")
	build := exec.Command("gcc", "-std=c11", "-Wall", "-Werror", "-pthread",
		"-I", filepath.Join(root, "abi"), "-I", filepath.Join(root, "sdk-c"), "-I", filepath.Join(root, "sdk-c", "fakehost"),
		"-o", bin, filepath.Join(root, "sdk-c", "examples", "api_key.c"), filepath.Join(root, "sdk-c", "examples", "api_key_test.c"),
		filepath.Join(root, "sdk-c", "fakehost", "sluice_fake_host.c"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil || string(out) != "api_key: ok\n" {
		t.Fatalf("api_key_test: %v\n%s", err, out)
	}
}
