package moduletest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var built struct {
	once sync.Once
	dir  string
	err  error
}

// RepoRoot is the repository root (found from this source file's path).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Build returns the path of testdata/modules' NAME.so, building every test
// module once per test binary with make into a private temp directory (so
// parallel test binaries never race on one output). It fails the test when
// gcc/make are missing or the build or the module does not exist.
func Build(t testing.TB, name string) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-modules-")
		if err != nil {
			built.err = err
			return
		}
		cmd := exec.Command("make", "-s", "-j2", "-C", filepath.Join(RepoRoot(), "testdata", "modules"), "OUT="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("building test modules: %v\n%s", err, out)
			return
		}
		built.dir = dir
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	p := filepath.Join(built.dir, name+".so")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("test module %q: %v", name, err)
	}
	return p
}

// Dir is the directory Build wrote the modules to ("" before the first
// Build).
func Dir() string { return built.dir }
