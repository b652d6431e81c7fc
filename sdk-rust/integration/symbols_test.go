package integration

import (
	"debug/elf"
	"sort"
	"testing"

	"github.com/sluiceproxy/sluice/abi"
)

// Every HTTP example exports exactly the program and HTTP hook symbols the
// header declares (the SDK's macro exports them all; Rust keeps everything
// else hidden, and network hooks come only with network filters).
func TestModulesExportEveryHook(t *testing.T) {
	var want []string // the version function and every program and HTTP hook
	for _, list := range [][]string{abi.RequiredProgramSymbols, abi.OptionalProgramSymbols, abi.RequiredHTTPSymbols, abi.OptionalHTTPSymbols} {
		want = append(want, list...)
	}
	sort.Strings(want)
	for _, name := range []string{"external_cache", "header_metadata", "body_rewriter", "slow_work", "panicker", "ext_authz", "passthrough"} {
		f, err := elf.Open(modulePath(name))
		if err != nil {
			t.Fatal(err)
		}
		syms, err := f.DynamicSymbols()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range syms {
			if s.Section != elf.SHN_UNDEF && elf.ST_TYPE(s.Info) == elf.STT_FUNC && len(s.Name) > 7 && s.Name[:7] == "sluice_" {
				got = append(got, s.Name)
			}
		}
		sort.Strings(got)
		if len(got) != len(want) {
			t.Fatalf("%s exports %v, want %v", name, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("%s exports %v, want %v", name, got, want)
			}
		}
	}
}
