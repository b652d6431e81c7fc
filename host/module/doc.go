// Package module loads filter modules (.so files written against
// abi/sluice_abi.h) with purego and runs them as HTTP filters.
//
// Wiring, for the proxy:
//
//	host, err := module.NewHost(log, workers)              // once, before serving (NewHostWithOptions: drain budget)
//	m, err := host.Load(path, allowInsecurePermissions)    // main goroutine; same content -> same *Module,
//	                                                       // a changed file -> a new version beside the old
//	ff, err := m.NewFilterFactory(filterName, configJSON)  // main goroutine; ff is an hcm.FilterFactory
//	prc, err := ff.ParsePerRouteConfig(raw)                // main goroutine; store prc on the route
//	ff.DestroyPerRouteConfig(prc)                          // main goroutine, once no stream uses it
//	ff.Close()                                             // main goroutine; new streams then get a 500, and
//	                                                       // config_destroy runs after the last live one
//	host.ReleaseUnused()                                   // main goroutine: unload versions whose configs are all gone
//	host.Instances()                                       // any goroutine: loaded versions (hash, configs, live filters)
//	host.Stats()                                           // any goroutine: counters + module metrics (String() for /stats)
//	host.Close()                                           // after the workers stopped
//	info, err := module.Inspect(path, allowInsecure)       // `sluice module inspect FILE.so`
//
// Every load error is a *LoadError naming the file and one cause; a
// rejected config is a *ConfigError naming the file, the filter and the
// module's reason. Tests elsewhere get built test modules from
// moduletest.Build(t, "external_cache").
//
// Calls. The host API table is built once per process with
// purego.NewCallback, except scheduler_commit and scheduler_delete, which
// are assembly routines with the C calling convention (commit_amd64.s)
// that never enter the Go runtime. Hooks are called with purego.SyscallN
// on addresses resolved at load. Module objects are opaque to the host;
// host objects are opaque 64-bit handles (kind | domain | generation |
// index) into generation-checked tables whose generations never wrap, so
// a stale handle is detected, never followed.
//
// Memory lent to modules is C memory (anonymous mmap): header and body
// views are copied into a per-worker arena valid until the hook returns;
// the host table and the scheduler memory are never in the Go heap.
//
// Scheduling (sched.go, schedqueue.go). Each worker owns a scheduler
// domain: a table of schedulers in C memory, each with its own queue, a
// ready bitmap and an eventfd in the worker's epoll set. The domain knows
// nothing of HTTP: a scheduler delivers to a schedTarget (a filter today;
// network filters and config-level schedulers fit the same way). Commits
// through a stale handle are refused, events whose scheduler or stream is
// gone are dropped, both counted; a domain's memory is never unmapped, so
// a commit after Host.Close is refused, not a crash. The worker drains with
// a budget, schedulers taking turns. See RATIONALE.md for the choices and
// measurements.
//
// HTTP callouts (callout.go, callout_config.go; ABI 2.1). A filter's
// callout runs on its worker through cluster.StartCallout; the result is
// queued and delivered by a zero-delay worker timer, so the done hook never
// runs inside another hook or inside the pool's callbacks. Callout handles
// are generation-checked like the others; a filter's callouts are
// cancelled when it is destroyed, a config's when it is. Config callouts
// are sent from a worker (round robin) and answered on the control thread
// by message. Options.Clusters resolves cluster names; limits per filter,
// worker and config are Options too (the header documents the defaults).
//
// A module runs in the proxy's address space: a module that crashes or
// corrupts memory takes the process down; no in-process containment is
// possible. Containment covers what the ABI can see: invalid statuses,
// stale handles, late commits, commit storms, calls after the stream ended.
package module
