// Package server assembles a running sluice from a config: it starts the
// workers, compiles each listener's connection manager (routes, filters,
// modules, access logs), binds one SO_REUSEPORT socket per listener per
// worker, serves the admin endpoint, and drains gracefully on shutdown.
package server
