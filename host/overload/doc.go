// Package overload is sluice's overload manager, after Envoy's: a goroutine
// of its own samples the Go heap every refresh interval and, when it passes
// max_heap_bytes, switches the configured actions on — stop accepting
// connections, disable keep-alive, shed new streams with 503 — and off
// again once the heap is below release_heap_bytes (hysteresis, so the
// actions do not flap around one value). It also owns the process-wide
// bound on downstream connections (global_downstream_max_connections),
// which every listener's accept path checks.
//
// # Threads
//
// The manager never touches a worker's state from its goroutine: a change
// is posted to every worker as a message, which updates that worker's
// State (read by the connection manager on the same thread, so no lock or
// atomic is needed on the data path) and pauses or resumes its listeners.
// The sampler waits for every worker to apply a switch before it
// publishes it (the admin endpoint's active flag, the stats, the log
// line), so what they show holds on every worker; the wait is on the
// sampler's goroutine, never on a worker's. What the admin endpoint shows
// is read from atomics.
//
// # Measuring the heap
//
// The reading is runtime/metrics' /memory/classes/heap/objects:bytes: the
// Go heap's objects, live ones and garbage not yet collected. Garbage is
// memory too until a collection frees it, but it should not trip the
// actions (or hold them on): a reading at or above the threshold that
// matters is confirmed after a collection (runtime.GC), so a collection
// runs at most once per refresh interval, and only while the heap is
// above release_heap_bytes. Memory outside the Go heap — what modules
// allocate with malloc, thread stacks — is not seen; bound it with the
// container's memory limit.
package overload
