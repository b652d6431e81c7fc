package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/cmd/sluice/sluicetest"
)

// The authoring guide, executed as written: its setup commands in an
// empty directory (crates, code, cargo test, builds, YAML), then each
// sluice the guide runs (a `run` block stops the one before it; `run DIR`
// runs in crate DIR, plain `run` in the first crate, greeter), each
// followed by its curl commands with their documented output. The only
// change: the guide's ports 10080 and 19901 become free ports.
func TestAuthoringGuideWorksAsWritten(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(sluicetest.RepoRoot(), "docs", "authoring-rust.md"))
	if err != nil {
		t.Fatal(err)
	}
	port, admin := sluicetest.FreePort(t), sluicetest.FreePort(t)
	doc := strings.NewReplacer("10080", port, "19901", admin).Replace(string(raw))
	blocks := sluicetest.DocBlocks(t, doc)
	var setup strings.Builder
	type exchange struct{ cmd, want string }
	type server struct {
		crate, run string
		curls      []exchange
	}
	var servers []*server
	for i, b := range blocks {
		kind, crate, _ := strings.Cut(b.Kind, " ")
		switch kind {
		case "setup":
			setup.WriteString(b.Text)
		case "run":
			if crate == "" {
				crate = "greeter"
			}
			servers = append(servers, &server{crate: crate, run: b.Text})
		case "curl":
			if i+1 >= len(blocks) || blocks[i+1].Kind != "expect" {
				t.Fatalf("curl block %q has no expect block after it", b.Text)
			}
			if len(servers) == 0 {
				t.Fatalf("curl block %q before any run block", b.Text)
			}
			s := servers[len(servers)-1]
			s.curls = append(s.curls, exchange{b.Text, blocks[i+1].Text})
		case "expect":
		default:
			t.Fatalf("unknown doc-test kind %q", b.Kind)
		}
	}
	// The greeter and the network filter guard.
	if setup.Len() == 0 || len(servers) != 2 {
		t.Fatalf("guide lost its doc-test blocks: setup=%d servers=%d", setup.Len(), len(servers))
	}

	dir := t.TempDir()
	env := append(os.Environ(), "SLUICE="+sluicetest.RepoRoot())
	script := "set -eu\n" + setup.String()
	cmd := sluicetest.StepCommand(t, script)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setup steps failed: %v\n%s", err, out)
	}

	for _, s := range servers {
		if len(s.curls) == 0 {
			t.Fatalf("run block %q has no curl block after it", s.run)
		}
		crate := filepath.Join(dir, s.crate)
		srv := sluicetest.StartGuideServer(t, crate, env, s.run, "127.0.0.1:"+port)
		for _, c := range s.curls {
			sluicetest.CheckGuideOutput(t, crate, env, c.cmd, c.want)
		}
		srv.Stop()
	}
}
