package module

import (
	"testing"

	"github.com/sluiceproxy/sluice/abi"
	"github.com/sluiceproxy/sluice/host/module/moduletest"
)

func TestInspect(t *testing.T) {
	p := moduletest.Build(t, "external_cache")
	info, err := Inspect(p, false)
	if err != nil {
		t.Fatal(err)
	}
	want := "module: " + p + "\n" +
		"ABI version: " + abi.VersionString() + " (host " + abi.VersionString() + ": compatible)\n" +
		"filter kinds: http\n" +
		"hooks:\n" +
		"  sluice_module_abi_version (required)\n" +
		"  sluice_on_http_filter_config_destroy (required)\n" +
		"  sluice_on_http_filter_config_new (required)\n" +
		"  sluice_on_http_filter_destroy (required)\n" +
		"  sluice_on_http_filter_new (required)\n" +
		"  sluice_on_http_filter_request_headers (required)\n" +
		"  sluice_on_http_filter_response_headers (required)\n" +
		"  sluice_on_http_filter_scheduled (optional)\n" +
		"  sluice_on_program_init (required)\n" +
		"missing required hooks: none\n"
	if got := info.String(); got != want {
		t.Fatalf("report\n got:\n%s\nwant:\n%s", got, want)
	}

	info, err = Inspect(moduletest.Build(t, "no_http_filter_new"), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.MissingRequired) != 1 || info.MissingRequired[0] != "sluice_on_http_filter_new" {
		t.Fatalf("missing %v", info.MissingRequired)
	}

	info, err = Inspect(moduletest.Build(t, "abi_major_mismatch"), false)
	if err != nil || info.Compatible || info.ABIVersion != 3<<16|1 {
		t.Fatalf("mismatch: %+v, %v", info, err)
	}

	_, err = Inspect("/nonexistent.so", false)
	if err == nil || err.Error() != `load module "/nonexistent.so": file does not exist` {
		t.Fatalf("missing file: %v", err)
	}
}

// Inspect dlopens the file (running its constructors), so it refuses a
// group- or world-writable module as Load does, unless told otherwise.
func TestInspectAppliesThePermissionCheck(t *testing.T) {
	p := copyModule(t, "passthrough", 0o666, nil)
	_, err := Inspect(p, false)
	want := `load module "` + p + `": file is writable by group or others (mode 0666); remove that permission or set allow_insecure_permissions: true`
	if err == nil || err.Error() != want {
		t.Fatalf("error\n got: %v\nwant: %s", err, want)
	}
	if info, err := Inspect(p, true); err != nil || !info.Loadable() {
		t.Fatalf("allowed: %v %+v", err, info)
	}
}
