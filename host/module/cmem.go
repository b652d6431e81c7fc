package module

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// cAlloc maps n bytes of zeroed anonymous memory. Everything a module may
// keep a pointer to (the host table, scheduler rings and structs, lent
// views) lives in such memory: the Go GC neither moves nor frees it, so a
// module holding a pointer past a call cannot corrupt the Go heap.
func cAlloc(n int) ([]byte, error) {
	page := unix.Getpagesize()
	n = (n + page - 1) / page * page
	return unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
}

func cFree(b []byte) {
	if b != nil {
		_ = unix.Munmap(b)
	}
}

// cBytes views n bytes of module memory at p. The slice is only valid during
// the callback that received p.
func cBytes(p unsafe.Pointer, n uintptr) []byte {
	if p == nil || n == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

// cString copies module memory into a Go string.
func cString(p unsafe.Pointer, n uintptr) string { return string(cBytes(p, n)) }
