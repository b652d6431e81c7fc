// Package module loads filter modules (.so files written against
// abi/sluice_abi.h) with purego and runs them as HTTP filters.
//
// Wiring, for the proxy:
//
//	host, err := module.NewHost(log, workers)              // once, before serving (NewHostWithOptions: ring size)
//	m, err := host.Load(path, allowInsecurePermissions)    // main goroutine; same file -> same *Module
//	ff, err := m.NewFilterFactory(filterName, configJSON)  // main goroutine; ff is an hcm.FilterFactory
//	prc, err := ff.ParsePerRouteConfig(raw)                // main goroutine; store prc on the route
//	ff.DestroyPerRouteConfig(prc)                          // main goroutine, once no stream uses it
//	ff.Close()                                             // main goroutine; new streams then get a 500, and
//	                                                       // config_destroy runs after the last live one
//	host.Stats()                                           // any goroutine: counters + module metrics (String() for /stats)
//	host.Close()                                           // after the workers stopped
//	info, err := module.Inspect(path)                      // `sluice module inspect FILE.so`
//
// Every load error is a *LoadError naming the file and one cause; a
// rejected config is a *ConfigError naming the file, the filter and the
// module's reason. Tests elsewhere get built test modules from
// moduletest.Build(t, "external_cache").
//
// Calls. The host API table is built once per process with
// purego.NewCallback; hooks are called with purego.SyscallN on addresses
// resolved at load. Module objects are opaque to the host; host objects
// are opaque 64-bit handles (kind | worker | generation | index) into
// generation-checked tables, so a stale handle is detected, not followed.
//
// Memory lent to modules is C memory (anonymous mmap): header and body
// views are copied into a per-worker arena valid until the hook returns;
// the host table, scheduler rings and scheduler structs are never in the
// Go heap.
//
// Scheduling. Each worker has a lock-free commit ring in C memory and an
// eventfd in its epoll set; the header's inline sluice_scheduler_commit
// enqueues and writes the eventfd only when the worker is not already
// being woken. The worker drains the ring and runs on_http_filter_scheduled
// for live filters in commit order; events for destroyed filters are
// dropped and counted. See RATIONALE.md for the choices and measurements.
//
// A module runs in the proxy's address space: a module that crashes or
// corrupts memory takes the process down; no in-process containment is
// possible. Containment covers what the ABI can see: invalid statuses,
// stale handles, late commits, commit storms, calls after the stream ended.
package module
