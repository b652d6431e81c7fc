package main

import (
	"fmt"
	"io"
)

func cmdModule(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "inspect" {
		fmt.Fprintln(stderr, "usage: sluice module inspect FILE.so")
		return 2
	}
	return inspectModule(args[1], stdout, stderr)
}

func inspectModule(path string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "sluice module inspect: the module host is not in this build")
	return 1
}
