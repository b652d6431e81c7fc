package module

import (
	"debug/elf"
	"os"
	"sort"
	"strings"

	"github.com/sluiceproxy/sluice/abi"
)

// exportedSymbols lists the sluice_* functions a module file defines, from
// its dynamic symbol table (read without running anything).
func exportedSymbols(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ef, err := elf.NewFile(f)
	if err != nil {
		return nil, err
	}
	syms, err := ef.DynamicSymbols()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "sluice_") && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			out = append(out, s.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}

// unknownHooks are exported sluice_on_* functions this host does not know:
// misspelled hooks, or hooks of a newer ABI minor.
func unknownHooks(exported []string) []string {
	var out []string
	for _, name := range exported {
		if strings.HasPrefix(name, abi.HookPrefix) && !abi.KnownHook(name) {
			out = append(out, name)
		}
	}
	return out
}

// suggestHook returns the known hook closest to a misspelled one, or "".
func suggestHook(name string) string {
	best, bestDist := "", 4 // more than 3 edits away is no suggestion
	for _, h := range abi.KnownHooks() {
		if d := editDistance(name, h); d < bestDist {
			best, bestDist = h, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of two short strings.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// unknownHookNote describes one unknown hook for a warning or a report.
func unknownHookNote(name string) string {
	if s := suggestHook(name); s != "" {
		return name + " (not a hook of ABI " + abi.VersionString() + "; did you mean " + s + "?)"
	}
	return name + " (not a hook of ABI " + abi.VersionString() + ")"
}
