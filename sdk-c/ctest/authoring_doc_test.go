package ctest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// The C authoring guide, executed as written in an empty directory: its
// setup steps (sluice, hello.c, the fake-host unit test, the Makefile, the
// configs), each `sluice run` it shows, and every command whose output it
// documents. The only change: its ports become free ports.
func TestCAuthoringGuideWorksAsWritten(t *testing.T) {
	for _, tool := range []string{"gcc", "make", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	raw, err := os.ReadFile(filepath.Join(sluicetest.RepoRoot(), "docs", "authoring-c.md"))
	if err != nil {
		t.Fatal(err)
	}
	port, admin := sluicetest.FreePort(t), sluicetest.FreePort(t)
	doc := strings.NewReplacer("10080", port, "19901", admin).Replace(string(raw))
	blocks := sluicetest.DocBlocks(t, doc)
	dir := t.TempDir()
	env := append(os.Environ(), "SLUICE="+sluicetest.RepoRoot())
	workdir := func() string {
		if _, err := os.Stat(filepath.Join(dir, "hello-filter")); err == nil {
			return filepath.Join(dir, "hello-filter")
		}
		return dir
	}
	var srv *sluicetest.GuideServer
	runs, curls := 0, 0
	for i := 0; i < len(blocks); i++ {
		b := blocks[i]
		switch b.Kind {
		case "setup":
			cmd := sluicetest.StepCommand(t, "set -eu\n"+b.Text)
			cmd.Dir, cmd.Env = workdir(), env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("setup step failed: %v\n%s\n--- step:\n%s", err, out, b.Text)
			}
		case "run":
			if srv != nil {
				srv.Stop() // the guide's `kill %1; wait`
			}
			var line string
			for _, l := range strings.Split(strings.TrimSpace(b.Text), "\n") {
				if !strings.HasPrefix(l, "kill ") {
					line = strings.TrimSuffix(strings.TrimSpace(l), " &")
				}
			}
			srv = sluicetest.StartGuideServer(t, workdir(), env, line, "127.0.0.1:"+port)
			runs++
		case "curl":
			if i+1 >= len(blocks) || blocks[i+1].Kind != "expect" {
				t.Fatalf("curl block %q has no expect block after it", b.Text)
			}
			sluicetest.CheckGuideOutput(t, workdir(), env, b.Text, blocks[i+1].Text)
			curls++
			i++
		default:
			t.Fatalf("unknown or stray doc-test kind %q", b.Kind)
		}
	}
	if runs < 2 || curls < 8 {
		t.Fatalf("guide lost doc-test blocks: %d runs, %d checked outputs", runs, curls)
	}
}
