package module

import (
	"crypto/sha256"
	"encoding/hex"
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

// contentHash identifies a module by what it is, not where it lies: a file
// replaced at the same path is another module (a new version), and two
// paths holding the same bytes are one.
type contentHash [sha256.Size]byte

func (h contentHash) String() string { return hex.EncodeToString(h[:]) }

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

// library is a dlopen'ed, initialised module version. Libraries are
// process-wide: sluice_on_program_init runs once per version per process
// (again after a shutdown), and a library is never dlclose'd once
// initialised: a thread the module started may still run its code after
// sluice_on_program_shutdown returned, and a Go callback frame of a
// purego call may still be on such a thread's stack; unmapping the code
// under it would crash the process. An unloaded version costs its mapped
// pages until exit.
type library struct {
	path string // the configured file, resolved
	// private is the content-addressed copy that was dlopen'ed: dlopen
	// caches by path and inode, so a new version at the same path would
	// get the old one's handle; the copy also keeps an in-place overwrite
	// of the configured file from changing code that is running.
	private string
	key     contentHash
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
	byKey map[contentHash]*library
	// dir holds the private copies (0700, under $XDG_RUNTIME_DIR or the
	// temporary directory); removed when no host uses a library.
	dir string
}{byKey: map[contentHash]*library{}}

// Module is a loaded module version as seen by one Host.
type Module struct {
	host *Host
	lib  *library
	// open are the filter configs created from this version and not yet
	// destroyed (under host.mu); the version is unloaded (ReleaseUnused)
	// when none is left.
	open map[*FilterFactory]struct{}
}

// Path is the resolved path of the module file.
func (m *Module) Path() string { return m.lib.path }

// Hash is the SHA-256 of the module file's content, in hex: the version's
// identity.
func (m *Module) Hash() string { return m.lib.key.String() }

// ABIVersion is the version the module reported (major<<16 | minor).
func (m *Module) ABIVersion() uint32 { return m.lib.version }

// Load loads the module file at path, or returns the already loaded one
// (several filters naming the same content share it, whatever the paths;
// a changed file at a known path is a new version, loaded beside the old
// one, which keeps serving what it created). A group- or world-writable
// file is refused unless allowInsecure: whoever can write it can run code
// in the proxy. Main goroutine.
func (h *Host) Load(path string, allowInsecure bool) (*Module, error) {
	resolved, _, err := checkFile(path, allowInsecure)
	if err != nil {
		return nil, err
	}
	content, err := os.ReadFile(resolved)
	if err != nil {
		return nil, loadErr(path, "%v", err)
	}
	key := contentHash(sha256.Sum256(content))

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, loadErr(path, "module host is closed")
	}
	if m := h.modules[key]; m != nil {
		return m, nil
	}
	lib, err := openLibrary(path, resolved, content, key, h.ctl)
	if err != nil {
		return nil, err
	}
	m := &Module{host: h, lib: lib, open: map[*FilterFactory]struct{}{}}
	h.modules[key] = m
	h.log.Info("module loaded", zap.String("path", lib.path), zap.String("sha256", key.String()),
		zap.String("abi", abi.FormatVersion(lib.version)))
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

// openLibrary returns the process-wide library of a module version,
// opening its private copy and initialising it (on the loading host's
// control thread) when no host uses it.
func openLibrary(path, resolved string, content []byte, key contentHash, ctl *control) (*library, error) {
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
	private, err := privateCopy(resolved, content, key)
	if err != nil {
		return nil, loadErr(path, "copying the module to a private path: %v", err)
	}
	f, err := os.Open(private)
	if err != nil {
		return nil, loadErr(path, "%v", err)
	}
	cause := checkELF(f)
	f.Close()
	if cause != "" {
		os.Remove(private)
		return nil, loadErr(path, "%s", cause)
	}
	// RTLD_LOCAL: two versions of one module export the same symbols;
	// each resolves its own.
	handle, err := purego.Dlopen(private, purego.RTLD_NOW|purego.RTLD_LOCAL)
	if err != nil {
		os.Remove(private)
		return nil, loadErr(path, "dlopen failed: %v", err)
	}
	// The dynamic loader accepted the file, so its symbol table reads.
	exported, _ := exportedSymbols(private)
	lib := &library{path: resolved, private: private, key: key, handle: handle, unknown: unknownHooks(exported)}
	if err := lib.resolve(path); err != nil {
		_ = purego.Dlclose(handle)
		os.Remove(private)
		return nil, err
	}
	if err := lib.init(path, ctl); err != nil {
		_ = purego.Dlclose(handle)
		os.Remove(private)
		return nil, err
	}
	lib.users = 1
	libraries.byKey[key] = lib
	return lib, nil
}

// privateCopy writes a module version's content to its content-addressed
// path in the private directory (created 0700 on first use) and returns
// that path. Under libraries' lock.
func privateCopy(resolved string, content []byte, key contentHash) (string, error) {
	if libraries.dir == "" {
		base := os.Getenv("XDG_RUNTIME_DIR")
		if st, err := os.Stat(base); base == "" || err != nil || !st.IsDir() {
			base = os.TempDir()
		}
		dir, err := os.MkdirTemp(base, "sluice-modules-") // 0700
		if err != nil {
			return "", err
		}
		libraries.dir = dir
	}
	name := strings.TrimSuffix(filepath.Base(resolved), ".so") + "-" + key.String()[:16] + ".so"
	private := filepath.Join(libraries.dir, name)
	if err := os.WriteFile(private, content, 0o500); err != nil {
		return "", err
	}
	return private, nil
}

// removePrivateCopies deletes the private directory once no host uses any
// library: the copies stay mapped, and a version loaded again is found by
// its hash without its file.
func removePrivateCopies() {
	libraries.Lock()
	defer libraries.Unlock()
	for _, lib := range libraries.byKey {
		if lib.users > 0 {
			return
		}
	}
	if libraries.dir != "" {
		os.RemoveAll(libraries.dir)
		libraries.dir = ""
	}
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
