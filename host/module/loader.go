package module

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/ebitengine/purego"
	"go.uber.org/zap"

	"github.com/sluiceproxy/sluice/abi"
)

// checkFile resolves a module path and applies the checks that come before
// anything is opened: the file exists, is a regular file, and — unless
// allowInsecure — is neither writable by group or others nor owned by
// another user than root or the one sluice runs as: whoever can write it
// runs code in the proxy. Load and Inspect share it.
func checkFile(path string, allowInsecure bool) (string, os.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, loadErr(path, "%v", err)
	}
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, loadErr(path, "file does not exist")
		}
		return "", nil, loadErr(path, "%v", err)
	}
	st, err := os.Stat(resolved)
	if err != nil {
		return "", nil, loadErr(path, "%v", err)
	}
	if !st.Mode().IsRegular() {
		return "", nil, loadErr(path, "not a regular file")
	}
	if allowInsecure {
		return resolved, st, nil
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return "", nil, loadErr(path, "file is writable by group or others (mode %#o); "+
			"remove that permission or set allow_insecure_permissions: true", perm)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		if me := uint32(os.Geteuid()); sys.Uid != 0 && sys.Uid != me {
			return "", nil, loadErr(path, "file is owned by uid %d, neither root nor the user sluice runs as (uid %d); "+
				"chown it or set allow_insecure_permissions: true", sys.Uid, me)
		}
	}
	return resolved, st, nil
}

// fileKey identifies a module file independent of the path naming it.
type fileKey struct{ dev, ino uint64 }

// hooks are the resolved addresses of a module's exported hooks; 0 means
// an optional hook is absent.
type hooks struct {
	configNew, configDestroy          uintptr
	perRouteNew, perRouteDestroy      uintptr
	filterNew, filterDestroy          uintptr
	requestHeaders, responseHeaders   uintptr
	requestBody, responseBody         uintptr
	requestTrailers, responseTrailers uintptr
	streamComplete, scheduled         uintptr
	timer, configScheduled            uintptr
	programShutdown                   uintptr
	calloutDone, configCalloutDone    uintptr // ABI 2.1
	// offersHTTP / offersNet: the module exports hooks of that filter kind.
	offersHTTP, offersNet bool
	net                   netHooks
}

// netHooks are a module's network filter hooks (ABI 2.1).
type netHooks struct {
	configNew, configDestroy, configScheduled uintptr
	filterNew, filterDestroy                  uintptr
	newConnection, read, write                uintptr
	event, watermark, scheduled, timer        uintptr
}

// library is a dlopen'ed, initialised module file. Libraries are
// process-wide: sluice_on_program_init runs once per file per process, and
// a library is never dlclose'd once initialised (module threads may run).
type library struct {
	path    string
	key     fileKey
	handle  uintptr
	version uint32
	hooks   hooks
	// unknown are exported sluice_on_* functions this host does not know
	// (warned about at load: misspelled, since a newer-minor module with
	// unknown hooks is refused).
	unknown []string
	// users counts the hosts that loaded the library since its last
	// program init (under libraries' lock); the last one to close runs
	// sluice_on_program_shutdown, and a later load runs init again.
	users int
}

var libraries = struct {
	sync.Mutex
	byKey map[fileKey]*library
}{byKey: map[fileKey]*library{}}

// Module is a loaded module file as seen by one Host.
type Module struct {
	host *Host
	lib  *library
}

// Path is the resolved path of the module file.
func (m *Module) Path() string { return m.lib.path }

// ABIVersion is the version the module reported (major<<16 | minor).
func (m *Module) ABIVersion() uint32 { return m.lib.version }

// Load loads the module file at path, or returns the already loaded one
// (several filters naming the same file share it; identity is the file's
// device and inode, so symlinks and relative paths dedupe too). A
// group- or world-writable file is refused unless allowInsecure: whoever
// can write it can run code in the proxy. Main goroutine.
func (h *Host) Load(path string, allowInsecure bool) (*Module, error) {
	resolved, st, err := checkFile(path, allowInsecure)
	if err != nil {
		return nil, err
	}
	sys := st.Sys().(*syscall.Stat_t)
	key := fileKey{dev: uint64(sys.Dev), ino: sys.Ino}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, loadErr(path, "module host is closed")
	}
	if m := h.modules[key]; m != nil {
		return m, nil
	}
	lib, err := openLibrary(path, resolved, key, h.ctl)
	if err != nil {
		return nil, err
	}
	m := &Module{host: h, lib: lib}
	h.modules[key] = m
	h.log.Info("module loaded", zap.String("path", lib.path), zap.String("abi", abi.FormatVersion(lib.version)))
	if _, minor := abi.SplitVersion(lib.version); minor > abi.VersionMinor {
		h.log.Warn("module built for a newer ABI minor; callbacks it may check for with SLUICE_HOST_API_HAS are absent",
			zap.String("path", lib.path), zap.String("module_abi", abi.FormatVersion(lib.version)),
			zap.String("host_abi", abi.VersionString()))
	}
	for _, name := range lib.unknown {
		h.log.Warn("module exports an unknown hook; it is never called", zap.String("path", lib.path),
			zap.String("symbol", unknownHookNote(name)))
	}
	return m, nil
}

// openLibrary returns the process-wide library of a file, opening and
// initialising it (on the loading host's control thread) when no host uses
// it.
func openLibrary(path, resolved string, key fileKey, ctl *control) (*library, error) {
	libraries.Lock()
	defer libraries.Unlock()
	if lib := libraries.byKey[key]; lib != nil {
		if lib.users == 0 {
			if err := lib.init(path, ctl); err != nil {
				return nil, err
			}
		}
		lib.users++
		return lib, nil
	}
	f, err := os.Open(resolved)
	if err != nil {
		return nil, loadErr(path, "%v", err)
	}
	cause := checkELF(f)
	f.Close()
	if cause != "" {
		return nil, loadErr(path, "%s", cause)
	}
	handle, err := purego.Dlopen(resolved, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		return nil, loadErr(path, "dlopen failed: %v", err)
	}
	// The dynamic loader accepted the file, so its symbol table reads.
	exported, _ := exportedSymbols(resolved)
	lib := &library{path: resolved, key: key, handle: handle, unknown: unknownHooks(exported)}
	if err := lib.resolve(path); err != nil {
		_ = purego.Dlclose(handle)
		return nil, err
	}
	if err := lib.init(path, ctl); err != nil {
		_ = purego.Dlclose(handle)
		return nil, err
	}
	lib.users = 1
	libraries.byKey[key] = lib
	return lib, nil
}

// init runs sluice_on_program_init on the control thread.
func (lib *library) init(path string, ctl *control) error {
	var r uintptr
	ctl.run(func() { r = ctl.call(lib.sym(abi.SymProgramInit), uintptr(hostAPIPtr())) })
	if r&0xff == 0 {
		return loadErr(path, "sluice_on_program_init returned false (the module failed to initialise)")
	}
	return nil
}

// release is a host's Close: the last user runs sluice_on_program_shutdown
// (if exported) on its control thread, so the module stops its threads.
// The library stays mapped (a thread may outlive the hook).
func (lib *library) release(ctl *control) {
	libraries.Lock()
	defer libraries.Unlock()
	lib.users--
	if lib.users == 0 && lib.hooks.programShutdown != 0 {
		ctl.run(func() { ctl.call(lib.hooks.programShutdown) })
	}
}

// exportsAny reports whether the library exports any of the symbols.
func (lib *library) exportsAny(lists ...[]string) bool {
	for _, list := range lists {
		for _, name := range list {
			if lib.sym(name) != 0 {
				return true
			}
		}
	}
	return false
}

func (lib *library) sym(name string) uintptr {
	p, err := purego.Dlsym(lib.handle, name)
	if err != nil {
		return 0
	}
	return p
}

// resolve checks the version and finds every hook; the first problem is
// the load error.
func (lib *library) resolve(path string) error {
	for _, name := range abi.RequiredProgramSymbols {
		if lib.sym(name) == 0 {
			return loadErr(path, "missing required symbol %s", name)
		}
	}
	r1, _, _ := purego.SyscallN(lib.sym(abi.SymABIVersion))
	lib.version = uint32(r1)
	major, minor := abi.SplitVersion(lib.version)
	if major != abi.VersionMajor {
		return loadErr(path, "module ABI version %d.%d is incompatible with this host's ABI %d.%d "+
			"(major versions must match); rebuild the module against abi/sluice_abi.h %d.x",
			major, minor, abi.VersionMajor, abi.VersionMinor, abi.VersionMajor)
	}
	// A newer-minor module may rely on hooks this host would silently never
	// call: refuse it rather than run it half-wired.
	if minor > abi.VersionMinor && len(lib.unknown) > 0 {
		return loadErr(path, "module ABI version %d.%d exports hooks this host (ABI %s) does not know: %s; "+
			"run it on a sluice with ABI %d.%d or later, or rebuild it against abi/sluice_abi.h %s",
			major, minor, abi.VersionString(), strings.Join(lib.unknown, ", "), major, minor, abi.VersionString())
	}
	h := &lib.hooks
	h.offersHTTP = lib.exportsAny(abi.RequiredHTTPSymbols, abi.OptionalHTTPSymbols)
	h.offersNet = lib.exportsAny(abi.RequiredNetworkSymbols, abi.OptionalNetworkSymbols)
	if !h.offersHTTP && !h.offersNet {
		return loadErr(path, "exports no filter hooks (no %s* or %s* symbols)", abi.HTTPFilterPrefix, abi.NetworkFilterPrefix)
	}
	if h.offersNet {
		for _, name := range abi.RequiredNetworkSymbols {
			if lib.sym(name) == 0 {
				return loadErr(path, "missing required symbol %s (it offers network filters)", name)
			}
		}
		n := &h.net
		n.configNew = lib.sym(abi.SymNetConfigNew)
		n.configDestroy = lib.sym(abi.SymNetConfigDestroy)
		n.configScheduled = lib.sym(abi.SymNetConfigScheduled)
		n.filterNew = lib.sym(abi.SymNetFilterNew)
		n.filterDestroy = lib.sym(abi.SymNetFilterDestroy)
		n.newConnection = lib.sym(abi.SymNetNewConnection)
		n.read = lib.sym(abi.SymNetRead)
		n.write = lib.sym(abi.SymNetWrite)
		n.event = lib.sym(abi.SymNetEvent)
		n.watermark = lib.sym(abi.SymNetWatermark)
		n.scheduled = lib.sym(abi.SymNetScheduled)
		n.timer = lib.sym(abi.SymNetTimer)
	}
	h.programShutdown = lib.sym(abi.SymProgramShutdown)
	if !h.offersHTTP {
		return nil
	}
	for _, name := range abi.RequiredHTTPSymbols {
		if lib.sym(name) == 0 {
			return loadErr(path, "missing required symbol %s", name)
		}
	}
	h.configNew = lib.sym(abi.SymHTTPConfigNew)
	h.configDestroy = lib.sym(abi.SymHTTPConfigDestroy)
	h.filterNew = lib.sym(abi.SymHTTPFilterNew)
	h.filterDestroy = lib.sym(abi.SymHTTPFilterDestroy)
	h.requestHeaders = lib.sym(abi.SymHTTPRequestHeaders)
	h.responseHeaders = lib.sym(abi.SymHTTPResponseHeaders)
	h.requestBody = lib.sym(abi.SymHTTPRequestBody)
	h.responseBody = lib.sym(abi.SymHTTPResponseBody)
	h.requestTrailers = lib.sym(abi.SymHTTPRequestTrailers)
	h.responseTrailers = lib.sym(abi.SymHTTPResponseTrailers)
	h.streamComplete = lib.sym(abi.SymHTTPStreamComplete)
	h.scheduled = lib.sym(abi.SymHTTPScheduled)
	h.timer = lib.sym(abi.SymHTTPTimer)
	h.configScheduled = lib.sym(abi.SymHTTPConfigScheduled)
	h.calloutDone = lib.sym(abi.SymHTTPCalloutDone)
	h.configCalloutDone = lib.sym(abi.SymHTTPConfigCalloutDone)
	h.perRouteNew = lib.sym(abi.SymHTTPPerRouteConfigNew)
	h.perRouteDestroy = lib.sym(abi.SymHTTPPerRouteConfigDestroy)
	if (h.perRouteNew == 0) != (h.perRouteDestroy == 0) {
		return loadErr(path, "%s and %s must be exported together",
			abi.SymHTTPPerRouteConfigNew, abi.SymHTTPPerRouteConfigDestroy)
	}
	return nil
}
