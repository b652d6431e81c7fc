package module

import (
	"debug/elf"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/ebitengine/purego"

	"github.com/sluiceproxy/sluice/abi"
)

// Info describes a module file without loading it into a host: what
// `sluice module inspect FILE.so` prints.
type Info struct {
	Path string
	// ABIVersion is what sluice_module_abi_version returned (0 if absent).
	ABIVersion uint32
	// Compatible: the major version matches this host's.
	Compatible bool
	// Hooks are the exported sluice_* functions, sorted.
	Hooks []string
	// FilterKinds the module offers ("http").
	FilterKinds []string
	// MissingRequired lists required hooks the module lacks.
	MissingRequired []string
	// UnknownHooks are exported sluice_on_* functions this host does not
	// know (a misspelled optional hook, or one of a newer ABI minor).
	UnknownHooks []string
}

// Inspect reads a module's ELF symbols and asks it for its ABI version.
// It runs the module's ELF constructors (dlopen) but never its program
// init, so it applies Load's checks first: a group- or world-writable file
// is refused unless allowInsecure. The error is the same *LoadError Load
// would give for a missing, writable, unreadable or non-ELF file.
func Inspect(path string, allowInsecure bool) (Info, error) {
	info := Info{Path: path}
	abs, _, err := checkFile(path, allowInsecure)
	if err != nil {
		return info, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return info, loadErr(path, "%v", err)
	}
	defer f.Close()
	if cause := checkELF(f); cause != "" {
		return info, loadErr(path, "%s", cause)
	}
	ef, err := elf.NewFile(f)
	if err != nil {
		return info, loadErr(path, "reading ELF: %v", err)
	}
	syms, err := ef.DynamicSymbols()
	if err != nil {
		return info, loadErr(path, "reading dynamic symbols: %v", err)
	}
	exported := map[string]bool{}
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "sluice_") && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			exported[s.Name] = true
			info.Hooks = append(info.Hooks, s.Name)
		}
	}
	sort.Strings(info.Hooks)
	info.UnknownHooks = unknownHooks(info.Hooks)
	offersHTTP, offersNet := false, false
	for _, h := range info.Hooks {
		offersHTTP = offersHTTP || strings.HasPrefix(h, abi.HTTPFilterPrefix)
		offersNet = offersNet || strings.HasPrefix(h, abi.NetworkFilterPrefix)
	}
	required := append([]string{}, abi.RequiredProgramSymbols...)
	if offersHTTP {
		info.FilterKinds = append(info.FilterKinds, "http")
		required = append(required, abi.RequiredHTTPSymbols...)
	}
	if offersNet {
		info.FilterKinds = append(info.FilterKinds, "network")
		required = append(required, abi.RequiredNetworkSymbols...)
	}
	for _, r := range required {
		if !exported[r] {
			info.MissingRequired = append(info.MissingRequired, r)
		}
	}
	if exported[abi.SymABIVersion] {
		handle, err := purego.Dlopen(abs, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			return info, loadErr(path, "dlopen failed: %v", err)
		}
		if p, err := purego.Dlsym(handle, abi.SymABIVersion); err == nil {
			r, _, _ := purego.SyscallN(p)
			info.ABIVersion = uint32(r)
		}
		_ = purego.Dlclose(handle)
		major, _ := abi.SplitVersion(info.ABIVersion)
		info.Compatible = major == abi.VersionMajor
	}
	return info, nil
}

// Loadable reports whether Load would accept the module as far as its
// symbols and version tell (its init and configs may still fail).
func (i Info) Loadable() bool {
	_, minor := abi.SplitVersion(i.ABIVersion)
	return i.Compatible && len(i.MissingRequired) == 0 && !(minor > abi.VersionMinor && len(i.UnknownHooks) > 0)
}

func hookRole(name string) string {
	for _, list := range [][]string{abi.RequiredProgramSymbols, abi.RequiredHTTPSymbols, abi.RequiredNetworkSymbols} {
		if slices.Contains(list, name) {
			return "required"
		}
	}
	for _, list := range [][]string{abi.OptionalProgramSymbols, abi.OptionalHTTPSymbols, abi.OptionalNetworkSymbols} {
		if slices.Contains(list, name) {
			return "optional"
		}
	}
	return "unknown to this host"
}

// String is the human report.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "module: %s\n", i.Path)
	major, minor := abi.SplitVersion(i.ABIVersion)
	verdict := "compatible"
	if !i.Compatible {
		verdict = "INCOMPATIBLE: rebuild against abi/sluice_abi.h " + fmt.Sprint(abi.VersionMajor) + ".x"
	}
	if i.ABIVersion == 0 {
		fmt.Fprintf(&b, "ABI version: unknown (%s missing); host ABI %d.%d\n", abi.SymABIVersion, abi.VersionMajor, abi.VersionMinor)
	} else {
		fmt.Fprintf(&b, "ABI version: %d.%d (host %d.%d: %s)\n", major, minor, abi.VersionMajor, abi.VersionMinor, verdict)
	}
	kinds := "none"
	if len(i.FilterKinds) > 0 {
		kinds = strings.Join(i.FilterKinds, ", ")
	}
	fmt.Fprintf(&b, "filter kinds: %s\n", kinds)
	b.WriteString("hooks:\n")
	for _, h := range i.Hooks {
		fmt.Fprintf(&b, "  %s (%s)\n", h, hookRole(h))
	}
	if len(i.MissingRequired) == 0 {
		b.WriteString("missing required hooks: none\n")
	} else {
		fmt.Fprintf(&b, "missing required hooks: %s\n", strings.Join(i.MissingRequired, ", "))
	}
	for _, u := range i.UnknownHooks {
		fmt.Fprintf(&b, "warning: %s is never called: %s\n", u, unknownHookNote(u))
	}
	if _, minor := abi.SplitVersion(i.ABIVersion); i.Compatible && minor > abi.VersionMinor && len(i.UnknownHooks) > 0 {
		fmt.Fprintf(&b, "REFUSED: built for ABI %s with hooks this host does not know\n", abi.FormatVersion(i.ABIVersion))
	}
	return b.String()
}
