package cluster

import "net/netip"

// apply installs a host set the control side published, on the worker's
// own thread, between two events: nothing is half-updated when the next
// request picks. removed are hosts that left the cluster: their idle
// connections close now, busy ones finish their exchange and then close,
// so no request in flight is dropped by a membership change.
func (wp *workerPool) apply(set *hostSet, removed []*Host) {
	if old := wp.set; old != nil {
		for _, h := range old.hosts {
			h.slot(wp).eligible = false
		}
	}
	wp.set = set
	for i := range set.levels {
		for _, h := range set.levels[i].pick {
			h.slot(wp).eligible = true
		}
	}
	wp.picker.reset(set, wp.index)
	for _, h := range removed {
		sl := h.slot(wp)
		sl.gone = true
		sl.eligible = false
		for n := len(sl.idle); n > 0; n = len(sl.idle) {
			sl.idle[n-1].closeLocal()
		}
		for _, cc := range append([]*h2Conn(nil), sl.h2...) {
			cc.retire()
		}
	}
}

// dialAddr is where a new connection to h goes: its address, or for a
// logical_dns cluster the address its name resolved to last.
func (wp *workerPool) dialAddr(h *Host) netip.AddrPort {
	if a := wp.set.logical; a.IsValid() {
		return a
	}
	return h.addr
}
