//go:build amd64

package module

// schedCommit and schedDelete are the scheduler's C entry points, in
// assembly (commit_amd64.s). Modules call them through the host table with
// the C calling convention; Go never calls them directly.
func schedCommit()
func schedDelete()

// schedCommitAddr and schedDeleteAddr return the entry points' addresses.
func schedCommitAddr() uintptr
func schedDeleteAddr() uintptr
