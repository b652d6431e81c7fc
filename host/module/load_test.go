package module

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/hcm"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

// copyModule copies a built module to a temp file with the given mode and
// lets patch edit its bytes (to forge ELF headers).
func copyModule(t *testing.T, name string, mode os.FileMode, patch func(b []byte)) string {
	t.Helper()
	b, err := os.ReadFile(moduletest.Build(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if patch != nil {
		patch(b)
	}
	p := filepath.Join(t.TempDir(), name+".so")
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
	return p
}

func wantLoadError(t *testing.T, e *env, path string, allowInsecure bool, want string) {
	t.Helper()
	m, err := e.host.Load(path, allowInsecure)
	if err == nil {
		t.Fatalf("Load(%s) = %v, want error %q", path, m, want)
	}
	var le *LoadError
	if !errors.As(err, &le) || le.Path != path {
		t.Fatalf("error %T %v is not a *LoadError for %s", err, err, path)
	}
	if err.Error() != want {
		t.Fatalf("Load(%s) error\n got: %s\nwant: %s", path, err, want)
	}
}

func TestLoadErrors(t *testing.T) {
	e := newEnv(t, 1, Options{})
	text := filepath.Join(t.TempDir(), "notes.so")
	if err := os.WriteFile(text, []byte("this is not a shared object at all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongClass := copyModule(t, "passthrough", 0o755, func(b []byte) { b[4] = 1 })
	wrongMachine := copyModule(t, "passthrough", 0o755, func(b []byte) { b[18], b[19] = 183, 0 })
	executable := copyModule(t, "passthrough", 0o755, func(b []byte) { b[16], b[17] = 2, 0 })
	worldWritable := copyModule(t, "passthrough", 0o666, nil)
	groupWritable := copyModule(t, "passthrough", 0o775, nil)

	cases := []struct{ path, want string }{
		{"/nonexistent/dir/missing.so", `load module "/nonexistent/dir/missing.so": file does not exist`},
		{t.TempDir(), `load module "` + "DIR" + `": not a regular file`},
		{text, `load module "` + text + `": not an ELF shared object (bad magic number)`},
		{wrongClass, `load module "` + wrongClass + `": ELF class is ELFCLASS32 but this host needs ELFCLASS64`},
		{wrongMachine, `load module "` + wrongMachine + `": built for machine EM_AARCH64 but this host is EM_X86_64`},
		{executable, `load module "` + executable + `": ELF type is ET_EXEC, not a shared object (build with -shared -fPIC)`},
		{worldWritable, `load module "` + worldWritable + `": file is writable by group or others (mode 0666); ` +
			`remove that permission or set allow_insecure_permissions: true`},
		{groupWritable, `load module "` + groupWritable + `": file is writable by group or others (mode 0775); ` +
			`remove that permission or set allow_insecure_permissions: true`},
	}
	for _, c := range cases {
		want := c.want
		if want == `load module "DIR": not a regular file` {
			want = `load module "` + c.path + `": not a regular file`
		}
		wantLoadError(t, e, c.path, false, want)
	}
	if m, err := e.host.Load(worldWritable, true); err != nil || m == nil {
		t.Fatalf("allow_insecure_permissions: Load = %v, %v", m, err)
	}
}

// A module file owned by someone else than root or the user sluice runs
// as is refused (that user could replace the code sluice runs), unless
// allow_insecure_permissions; one owned by the running user loads.
func TestLoadRefusesForeignOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another user needs root")
	}
	e := newEnv(t, 1, Options{})
	foreign := copyModule(t, "passthrough", 0o755, nil)
	if err := os.Chown(foreign, 4321, 4321); err != nil {
		t.Fatal(err)
	}
	wantLoadError(t, e, foreign, false, `load module "`+foreign+`": file is owned by uid 4321, neither root nor the user sluice runs as (uid 0); `+
		`chown it or set allow_insecure_permissions: true`)
	if m, err := e.host.Load(foreign, true); err != nil || m == nil {
		t.Fatalf("allow_insecure_permissions: Load = %v, %v", m, err)
	}
}

func TestLoadMissingRequiredSymbols(t *testing.T) {
	e := newEnv(t, 1, Options{})
	for _, sym := range []string{
		"sluice_module_abi_version", "sluice_on_program_init",
		"sluice_on_http_filter_config_new", "sluice_on_http_filter_config_destroy",
		"sluice_on_http_filter_new", "sluice_on_http_filter_destroy",
		"sluice_on_http_filter_request_headers", "sluice_on_http_filter_response_headers",
	} {
		name := "no_" + sym[len("sluice_on_"):]
		if sym == "sluice_module_abi_version" {
			name = "no_module_abi_version"
		}
		p := moduletest.Build(t, name)
		wantLoadError(t, e, p, false, `load module "`+p+`": missing required symbol `+sym)
	}
}

// A module built against ABI 1 (the inline commit protocol, untyped
// handles) is refused before any of its code runs, with the rebuild hint.
func TestABI1ModuleIsRefused(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := moduletest.Build(t, "abi_v1")
	wantLoadError(t, e, p, false, `load module "`+p+`": module ABI version 1.0 is incompatible with this host's ABI `+abi.VersionString()+` `+
		`(major versions must match); rebuild the module against abi/sluice_abi.h 2.x`)
}

// A module built for a newer minor that exports a hook this host does not
// know would have that hook silently never called: it is refused.
func TestNewerMinorWithUnknownHookIsRefused(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := moduletest.Build(t, "newer_minor")
	wantLoadError(t, e, p, false, `load module "`+p+`": module ABI version 2.9 exports hooks this host (ABI `+abi.VersionString()+`) does not know: `+
		`sluice_on_http_filter_from_the_future; run it on a sluice with ABI 2.9 or later, or rebuild it against abi/sluice_abi.h `+abi.VersionString())
	info, err := Inspect(p, false)
	if err != nil || info.Loadable() || !strings.Contains(info.String(), "REFUSED: built for ABI 2.9 with hooks this host does not know\n") {
		t.Fatalf("inspect: %v\n%s", err, info)
	}
}

// A newer-minor module using only known hooks loads; the host says once
// that it is newer. A misspelled optional hook loads too, with a warning
// naming the hook it probably meant.
func TestNewerMinorAndMisspelledHooksAreLogged(t *testing.T) {
	e, logs := newObservedEnv(t, 1, Options{})
	if _, err := e.host.Load(moduletest.Build(t, "newer_minor_plain"), false); err != nil {
		t.Fatal(err)
	}
	newer := logs.FilterMessage("module built for a newer ABI minor; callbacks it may check for with SLUICE_HOST_API_HAS are absent").All()
	if len(newer) != 1 || newer[0].ContextMap()["module_abi"] != "2.9" || newer[0].ContextMap()["host_abi"] != abi.VersionString() {
		t.Fatalf("newer-minor log: %+v", newer)
	}
	p := moduletest.Build(t, "misspelled_hook")
	if _, err := e.host.Load(p, false); err != nil {
		t.Fatal(err)
	}
	warned := logs.FilterMessage("module exports an unknown hook; it is never called").All()
	want := "sluice_on_http_filter_respone_body (not a hook of ABI " + abi.VersionString() + "; did you mean sluice_on_http_filter_response_body?)"
	if len(warned) != 1 || warned[0].ContextMap()["symbol"] != want {
		t.Fatalf("misspelled-hook warning: %+v", warned)
	}
	info, err := Inspect(p, false)
	if err != nil || !info.Loadable() || !strings.Contains(info.String(), "warning: sluice_on_http_filter_respone_body is never called: "+want+"\n") {
		t.Fatalf("inspect: %v\n%s", err, info)
	}
}

// A module built for an older minor of the same major (2.0: no network
// filters, no callouts) loads without a warning, and its filters run.
func TestOlderMinorModuleLoads(t *testing.T) {
	e, logs := newObservedEnv(t, 1, Options{})
	p := moduletest.Build(t, "older_minor")
	m, err := e.host.Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.ABIVersion() != 2<<16 {
		t.Fatalf("ABIVersion = %#x, want 2.0", m.ABIVersion())
	}
	if n := logs.FilterMessage("module built for a newer ABI minor; callbacks it may check for with SLUICE_HOST_API_HAS are absent").Len(); n != 0 {
		t.Fatalf("an older-minor module was logged as newer (%d lines)", n)
	}
	info, err := Inspect(p, false)
	if err != nil || !info.Loadable() || !strings.Contains(info.String(), "ABI version: 2.0 (host "+abi.VersionString()+": compatible)\n") {
		t.Fatalf("inspect: %v\n%s", err, info)
	}
	ff := e.factory("older_minor", "old", `{}`)
	cb := newFakeCallbacks(0, ":method", "GET")
	e.on(0, func() {
		f := ff.NewFilter(cb)
		if st := f.DecodeHeaders(cb.req, true); st != hcm.HeadersContinue {
			t.Errorf("request_headers of a 2.0 module: %d", st)
		}
		endStream(cb, f)
	})
}

func TestLoadVersionAndInitFailures(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := moduletest.Build(t, "abi_major_mismatch")
	wantLoadError(t, e, p, false, `load module "`+p+`": module ABI version 3.1 is incompatible with this host's ABI `+abi.VersionString()+` `+
		`(major versions must match); rebuild the module against abi/sluice_abi.h 2.x`)
	p = moduletest.Build(t, "init_failure")
	wantLoadError(t, e, p, false, `load module "`+p+`": sluice_on_program_init returned false (the module failed to initialise)`)
	// A truncated but well-formed ELF header passes the checks and fails in
	// the dynamic loader, whose message is passed through.
	trunc := copyModule(t, "passthrough", 0o755, nil)
	b, _ := os.ReadFile(trunc)
	if err := os.WriteFile(trunc, b[:200], 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := e.host.Load(trunc, false)
	if err == nil || len(err.Error()) <= len(`load module "`+trunc+`": dlopen failed: `) ||
		err.Error()[:len(`load module "`+trunc+`": dlopen failed: `)] != `load module "`+trunc+`": dlopen failed: ` {
		t.Fatalf("truncated module: %v", err)
	}
}

func TestLoadOncePerFile(t *testing.T) {
	e := newEnv(t, 1, Options{})
	p := moduletest.Build(t, "passthrough")
	m1, err := e.host.Load(p, false)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "alias.so")
	if err := os.Symlink(p, link); err != nil {
		t.Fatal(err)
	}
	m2, err := e.host.Load(link, false)
	if err != nil {
		t.Fatal(err)
	}
	if m1 != m2 {
		t.Fatal("the same file through a symlink loaded twice")
	}
	if got := e.host.Stats().ModulesLoaded; got != 1 {
		t.Fatalf("ModulesLoaded = %d, want 1", got)
	}
	if m1.ABIVersion() != abi.Version {
		t.Fatalf("ABIVersion = %#x", m1.ABIVersion())
	}
}

func TestConfigRejected(t *testing.T) {
	e := newEnv(t, 1, Options{})
	m := e.load("config_rejected")
	_, err := m.NewFilterFactory("strict", []byte(`{"ok":false}`))
	want := `module "` + m.Path() + `", filter "strict": config rejected by the module: field "ok" must be true`
	var ce *ConfigError
	if err == nil || !errors.As(err, &ce) || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
	ff, err := m.NewFilterFactory("strict", []byte(`{"ok":true}`))
	if err != nil {
		t.Fatal(err)
	}
	ff.Close()

	hm := e.load("header_mutator")
	_, err = hm.NewFilterFactory("mut", []byte(`{"request_set": {"a": "b"}, "colour": 1}`))
	want = `module "` + hm.Path() + `", filter "mut": config rejected by the module: unknown field "colour"`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
	if got := e.host.Stats().FilterConfigs; got != 0 {
		t.Fatalf("FilterConfigs = %d after rejects and close", got)
	}
}
