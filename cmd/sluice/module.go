package main

import (
	"fmt"
	"io"

	"github.com/sluiceproxy/sluice/host/module"
)

func cmdModule(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "inspect" {
		fmt.Fprintln(stderr, "usage: sluice module inspect FILE.so")
		return 2
	}
	return inspectModule(args[1], stdout, stderr)
}

// inspectModule prints a module's ABI version and hooks. It exits 1 when the
// module could not be loaded by this host (unreadable, not ELF, missing a
// required hook, incompatible ABI), so scripts can gate deployments on it.
func inspectModule(path string, stdout, stderr io.Writer) int {
	info, err := module.Inspect(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	fmt.Fprint(stdout, info.String())
	if !info.Loadable() {
		return 1
	}
	return 0
}
