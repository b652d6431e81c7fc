//go:build !amd64

package module

import "github.com/ebitengine/purego"

// Without the assembly entry points (commit_amd64.s) the table points at
// the Go implementation through purego callbacks: the same protocol, but a
// module thread's commit enters the Go runtime (~12 us instead of well
// under one).
var schedEntryPoints = struct{ commit, del uintptr }{
	commit: purego.NewCallback(func(h, ev uint64) uintptr {
		if schedCommitGo(h, ev) {
			return 1
		}
		return 0
	}),
	del: purego.NewCallback(func(h uint64) { schedDeleteGo(h) }),
}

func schedCommitAddr() uintptr { return schedEntryPoints.commit }
func schedDeleteAddr() uintptr { return schedEntryPoints.del }
