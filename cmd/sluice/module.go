package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sluiceproxy/sluice/host/module"
)

const moduleUsage = "usage: sluice module inspect [--allow-insecure-permissions] FILE.so"

func cmdModule(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "inspect" {
		fmt.Fprintln(stderr, moduleUsage)
		return 2
	}
	fs := flag.NewFlagSet("module inspect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowInsecure := fs.Bool("allow-insecure-permissions", false,
		"inspect a module file that is writable by group or others (as allow_insecure_permissions: true)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, moduleUsage)
		return 2
	}
	return inspectModule(fs.Arg(0), *allowInsecure, stdout, stderr)
}

// inspectModule prints a module's ABI version and hooks. It exits 1 when the
// module could not be loaded by this host (missing, writable by others,
// unreadable, not ELF, missing a required hook, incompatible ABI), so
// scripts can gate deployments on it.
func inspectModule(path string, allowInsecure bool, stdout, stderr io.Writer) int {
	info, err := module.Inspect(path, allowInsecure)
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
