package module

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCheckELF: any file content gives a cause or loads as an ELF header of
// this host's shape; the checker never panics and never accepts a file
// shorter than an ELF identification.
func FuzzCheckELF(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03\x00\x3e\x00"))
	f.Add([]byte("\x7fELF\x01\x01\x01"))
	f.Add([]byte("#!/bin/sh\n"))
	f.Add([]byte{})
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "x.so")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		fh, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		defer fh.Close()
		cause := checkELF(fh)
		if len(b) < 20 && cause == "" {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if cause == "" && (elf.Class(b[4]) != hostClass() || b[16] != byte(elf.ET_DYN) ||
			elf.Machine(binary.LittleEndian.Uint16(b[18:20])) != hostMachine()) {
			t.Fatalf("accepted a foreign header % x", b[:20])
		}
	})
}
