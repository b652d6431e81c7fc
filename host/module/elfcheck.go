package module

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
)

// hostMachine is the ELF machine this binary runs on.
func hostMachine() elf.Machine {
	switch runtime.GOARCH {
	case "amd64":
		return elf.EM_X86_64
	case "arm64":
		return elf.EM_AARCH64
	case "386":
		return elf.EM_386
	case "arm":
		return elf.EM_ARM
	case "riscv64":
		return elf.EM_RISCV
	case "ppc64le", "ppc64":
		return elf.EM_PPC64
	case "s390x":
		return elf.EM_S390
	case "loong64":
		return elf.EM_LOONGARCH
	}
	return elf.EM_NONE
}

func hostClass() elf.Class {
	if ^uint(0)>>63 == 1 {
		return elf.ELFCLASS64
	}
	return elf.ELFCLASS32
}

// checkELF reads the ELF identification and header fields itself (not via
// debug/elf, which rejects or misparses foreign classes) so dlopen's
// terse "wrong ELF class" turns into a message saying what the file is and
// what the host needs. It returns the cause, or "" when the file can load.
func checkELF(f *os.File) string {
	var hdr [20]byte
	if n, err := io.ReadFull(f, hdr[:]); err != nil || n < 20 || string(hdr[:4]) != elf.ELFMAG {
		return "not an ELF shared object (bad magic number)"
	}
	class := elf.Class(hdr[elf.EI_CLASS])
	if class != hostClass() {
		return fmt.Sprintf("ELF class is %s but this host needs %s", class, hostClass())
	}
	var bo binary.ByteOrder = binary.LittleEndian
	switch elf.Data(hdr[elf.EI_DATA]) {
	case elf.ELFDATA2LSB:
	case elf.ELFDATA2MSB:
		bo = binary.BigEndian
	default:
		return fmt.Sprintf("ELF data encoding %s is invalid", elf.Data(hdr[elf.EI_DATA]))
	}
	typ := elf.Type(bo.Uint16(hdr[16:18]))
	machine := elf.Machine(bo.Uint16(hdr[18:20]))
	if machine != hostMachine() {
		return fmt.Sprintf("built for machine %s but this host is %s", machine, hostMachine())
	}
	if typ != elf.ET_DYN {
		return fmt.Sprintf("ELF type is %s, not a shared object (build with -shared -fPIC)", typ)
	}
	return ""
}
