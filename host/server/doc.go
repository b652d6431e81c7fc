// Package server assembles a running sluice from a config: it starts the
// workers, compiles each listener's connection manager (routes, filters,
// modules, access logs), binds one SO_REUSEPORT socket per listener per
// worker, serves the admin endpoint, drains gracefully on shutdown, and
// reloads the config in place (reload.go): each loaded config is a
// generation (generation.go) that lives until its last connection ends.
// RATIONALE.md says why it is built this way.
package server
