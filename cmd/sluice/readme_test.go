package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// TestReadmeConfigsValidate: every YAML config in the README validates
// with its modules loaded, as the tour promises. The tour saves them in
// the repository root and names modules as build/modules/NAME.so; the
// test builds those and puts them at that path beside its copy.
func TestReadmeConfigsValidate(t *testing.T) {
	root := sluicetest.RepoRoot()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(readme, -1)
	if len(blocks) < 2 {
		t.Fatalf("found %d yaml blocks in README.md; the tour has at least 2", len(blocks))
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "build", "modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`build/modules/(\w+)\.so`).FindAllSubmatch(readme, -1) {
		link := filepath.Join(dir, "build", "modules", string(m[1])+".so")
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(moduletest.Build(t, string(m[1])), link); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range blocks {
		cfg := filepath.Join(dir, "my.yaml")
		writeConfig(t, cfg, string(b[1]))
		out, err := exec.Command(sluiceBin, "validate", "-c", cfg).CombinedOutput()
		if err != nil || string(out) != cfg+": ok\n" {
			t.Errorf("README yaml block %d: %v\n%s\n%s", i+1, err, out, b[1])
		}
	}
}
