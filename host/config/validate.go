package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// validator checks a decoded Config and fills its derived fields (parsed
// addresses, resolved module paths).
type validator struct {
	p   *problems
	bad []string // paths the decoder already reported
	dir string   // config file directory for relative module paths

	clusters map[string]bool
}

func (v *validator) fail(path, msg string) {
	if !covers(v.bad, path) {
		v.p.add(path, msg)
	}
}

func (v *validator) failf(path, format string, args ...any) {
	v.fail(path, fmt.Sprintf(format, args...))
}

func (v *validator) config(c *Config) {
	if c.Concurrency < 1 || c.Concurrency > maxConcurrency {
		v.fail("concurrency", "must be between 1 and 256")
	}
	v.nonNegative("drain_delay", c.DrainDelay)
	v.nonNegative("drain_timeout", c.DrainTimeout)
	v.oneOf("io_uring", c.IOUring, IOUringAuto, IOUringOff)
	v.positiveDuration("watchdog.miss_timeout", c.Watchdog.MissTimeout)
	v.positiveDuration("watchdog.megamiss_timeout", c.Watchdog.MegamissTimeout)
	v.nonNegative("watchdog.kill_timeout", c.Watchdog.KillTimeout)
	if w := c.Watchdog; w.MissTimeout > 0 && w.MegamissTimeout > 0 && w.MegamissTimeout < w.MissTimeout {
		v.fail("watchdog.megamiss_timeout", "must not be shorter than miss_timeout")
	}
	if w := c.Watchdog; w.KillTimeout > 0 && w.KillTimeout < w.MegamissTimeout {
		v.fail("watchdog.kill_timeout", "must not be shorter than megamiss_timeout (or 0 to disable)")
	}
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "console", "json")
	if c.Admin != nil {
		c.Admin.Addr = v.address("admin.address", c.Admin.Address, true)
	}
	if c.HotRestart != nil && c.HotRestart.Socket == "" {
		v.fail("hot_restart.socket", "required")
	}
	if c.Overload != nil {
		v.overload(c.Overload)
	}

	// Clusters first: routes refer to them.
	v.clusters = make(map[string]bool)
	names := newNameSet(v)
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		path := index("clusters", i)
		if names.add(path+".name", cl.Name) {
			v.clusters[cl.Name] = true
		}
		v.cluster(path, cl)
	}

	if len(c.Listeners) == 0 {
		v.fail("listeners", "required")
	}
	names = newNameSet(v)
	addrs := make(map[netip.AddrPort]string)
	for i := range c.Listeners {
		l := &c.Listeners[i]
		path := index("listeners", i)
		names.add(path+".name", l.Name)
		l.Addr = v.address(path+".address", l.Address, true)
		if l.Addr.IsValid() && l.Addr.Port() != 0 {
			if first, dup := addrs[l.Addr]; dup {
				v.failf(path+".address", "address %s already used by %s", l.Address, first)
			} else {
				addrs[l.Addr] = path
			}
		}
		v.positive(path+".per_connection_buffer_limit_bytes", l.PerConnectionBufferLimitBytes)
		v.nonNegative(path+".network_filters_timeout", l.NetworkFiltersTimeout)
		if l.MaxConnections < 0 {
			v.fail(path+".max_connections", "must not be negative")
		}
		v.listener(path, l)
	}
}

func (v *validator) tcpProxy(path string, t *TCPProxy) {
	if t.Cluster == "" {
		v.fail(path+".cluster", "required")
	} else if !v.clusters[t.Cluster] {
		v.failf(path+".cluster", "unknown cluster %q", t.Cluster)
	}
	v.nonNegative(path+".idle_timeout", t.IdleTimeout)
	v.nonNegative(path+".max_downstream_connection_duration", t.MaxDownstreamConnectionDuration)
	v.accessLogs(path+".access_log", t.AccessLog)
}

func (v *validator) clientIPAllow(path string, c *ClientIPAllow) {
	if len(c.Allow) == 0 {
		v.fail(path+".allow", "required: at least one CIDR")
	}
	for i, s := range c.Allow {
		if !validCIDR(s) {
			v.failf(index(path+".allow", i), "invalid CIDR %q: want address/prefix-length or an address", s)
		}
	}
}

func (v *validator) accessLogs(path string, list []AccessLog) {
	for i := range list {
		al := &list[i]
		alPath := index(path, i)
		if al.Path == "" {
			v.fail(alPath+".path", "required")
		}
		v.oneOf(alPath+".format", al.Format, "json", "text")
	}
}

// validCIDR accepts what client_ip_allow parses: a prefix or an address.
func validCIDR(s string) bool {
	if strings.Contains(s, "/") {
		_, err := netip.ParsePrefix(s)
		return err == nil
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// resolveModule makes a relative path (a module, a certificate, an EDS
// file) relative to the config file.
func (v *validator) resolveModule(p string) string {
	if p == "" || filepath.IsAbs(p) || v.dir == "" {
		return p
	}
	return filepath.Join(v.dir, p)
}

// address parses "IP:port"; DNS names are refused because listeners bind
// before any resolver runs.
func (v *validator) address(path, s string, portZeroOK bool) netip.AddrPort {
	if s == "" {
		v.fail(path, "required")
		return netip.AddrPort{}
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		v.failf(path, "invalid address %q: want IP:port (no DNS names)", s)
		return netip.AddrPort{}
	}
	if ap.Port() == 0 && !portZeroOK {
		v.failf(path, "invalid address %q: port must not be 0", s)
	}
	return ap
}

func (v *validator) ip(path, s string) (netip.Addr, bool) {
	if s == "" {
		v.fail(path, "required")
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		v.failf(path, "invalid IP address %q (no DNS names)", s)
		return netip.Addr{}, false
	}
	return ip, true
}

func (v *validator) oneOf(path, got string, allowed ...string) {
	for _, a := range allowed {
		if got == a {
			return
		}
	}
	if got == "" {
		v.fail(path, "required")
		return
	}
	v.failf(path, "invalid value %q: want %s", got, strings.Join(allowed, "|"))
}

func (v *validator) positive(path string, n int) {
	if n < 1 {
		v.fail(path, "must be positive")
	}
}

func (v *validator) intRange(path string, n, lo, hi int) {
	if n < lo || n > hi {
		v.fail(path, "must be between "+strconv.Itoa(lo)+" and "+strconv.Itoa(hi))
	}
}

func (v *validator) nonNegative(path string, d time.Duration) {
	if d < 0 {
		v.fail(path, "must not be negative")
	}
}

func (v *validator) positiveDuration(path string, d time.Duration) {
	if d <= 0 {
		v.fail(path, "must be positive")
	}
}

// nameSet enforces required, unique names within one list.
type nameSet struct {
	v     *validator
	first map[string]string
}

func newNameSet(v *validator) *nameSet { return &nameSet{v: v, first: make(map[string]string)} }

// add reports whether name was new (and non-empty).
func (n *nameSet) add(path, name string) bool {
	if name == "" {
		n.v.fail(path, "required")
		return false
	}
	if first, dup := n.first[name]; dup {
		n.v.failf(path, "duplicate name %q (first at %s)", name, first)
		return false
	}
	n.first[name] = path
	return true
}

func (v *validator) overload(o *Overload) {
	v.positiveDuration("overload.refresh_interval", o.RefreshInterval)
	if o.GlobalDownstreamMaxConnections < 0 {
		v.fail("overload.global_downstream_max_connections", "must not be negative")
	}
	switch {
	case o.MaxHeapBytes < 0:
		v.fail("overload.max_heap_bytes", "must not be negative")
	case o.ReleaseHeapBytes < 0:
		v.fail("overload.release_heap_bytes", "must not be negative")
	case o.MaxHeapBytes == 0 && o.ReleaseHeapBytes > 0:
		v.fail("overload.release_heap_bytes", "needs max_heap_bytes")
	case o.MaxHeapBytes > 0 && o.ReleaseHeapBytes >= o.MaxHeapBytes:
		v.failf("overload.release_heap_bytes", "must be below max_heap_bytes (%d)", o.MaxHeapBytes)
	case o.MaxHeapBytes > 0 && o.ReleaseHeapBytes == 0:
		o.ReleaseHeapBytes = o.MaxHeapBytes / 10 * 9
	}
	seen := map[string]bool{}
	for i, a := range o.Actions {
		p := index("overload.actions", i)
		v.oneOf(p, a, ActionStopAcceptingConnections, ActionDisableKeepalive, ActionShedNewStreams)
		if seen[a] {
			v.failf(p, "%s listed twice", a)
		}
		seen[a] = true
	}
	if len(o.Actions) > 0 && o.MaxHeapBytes == 0 {
		v.fail("overload.actions", "need max_heap_bytes to trigger them")
	}
}
