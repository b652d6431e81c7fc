// Command sluice is the sluice proxy.
//
//	sluice run [-c FILE]         serve (the built-in default config without -c)
//	sluice validate [--no-modules] -c FILE   check a config (every error with its YAML path) and load its modules
//	sluice drain -c FILE         drain the sluice running that config (a preStop hook)
//	sluice ready -c FILE         exit 0 when the sluice running that config is ready
//	sluice module inspect [--allow-insecure-permissions] FILE   show a module's ABI version and exported hooks
//	sluice version               print the version and ABI version
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage:
  sluice run [-c FILE]         serve (built-in default config without -c)
  sluice validate [--no-modules] -c FILE
                               check a config (every error with its YAML path),
                               then load its modules with their configs
  sluice drain -c FILE         drain the sluice running that config and wait
                               (or -admin IP:port; a Kubernetes preStop hook)
  sluice ready -c FILE         exit 0 if it answers /ready with 200 (or -admin)
  sluice module inspect [--allow-insecure-permissions] FILE
                               show a module's ABI version and exported hooks
  sluice version               print version information
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "drain":
		return cmdDrain(args[1:], stdout, stderr)
	case "ready":
		return cmdReady(args[1:], stdout, stderr)
	case "module":
		return cmdModule(args[1:], stdout, stderr)
	case "version", "-v", "--version":
		return cmdVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sluice: unknown command %q\n%s", args[0], usage)
		return 2
	}
}
