package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse: any input either parses or yields a non-empty *Errors whose
// entries all have a message; nothing panics.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimalYAML))
	f.Add(DefaultYAML)
	if full, err := os.ReadFile("testdata/full.yaml"); err == nil {
		f.Add(full)
	}
	f.Add([]byte("listeners: [{name: a, address: '[::1]:0', filter_chains: [{filters: [{name: x}]}]}]"))
	// Every sample config of the repository, and what its documentation
	// shows, seeds the search too.
	samples, _ := filepath.Glob("../../testdata/configs/*.yaml")
	for _, p := range samples {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err == nil {
			if c == nil || len(c.Listeners) == 0 {
				t.Fatalf("valid config without listeners: %+v", c)
			}
			return
		}
		var errs *Errors
		if !errors.As(err, &errs) || len(errs.List) == 0 || c != nil {
			t.Fatalf("err %T %v, config %v", err, err, c)
		}
		if errs.Source != "fuzz.yaml" || !strings.HasPrefix(err.Error(), "fuzz.yaml: ") {
			t.Fatalf("error does not name its file: %q", err)
		}
		for _, e := range errs.List {
			if e.Msg == "" {
				t.Fatalf("empty message at %q", e.Path)
			}
		}
	})
}
