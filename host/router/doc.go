// Package router compiles a route configuration into an immutable Table
// that every worker reads without locks, and matches requests against it
// without allocating.
//
// Virtual hosts are chosen as Envoy does: exact domain, then the longest
// suffix wildcard ("*.example.com"), then the longest prefix wildcard
// ("api.*"), then "*". Within a virtual host routes are tried in order and
// the first match wins.
//
// CONNECT requests have no path: they match connect_matcher routes (with
// their header matchers) and no other kind, and a connect_matcher route
// matches nothing but CONNECT. A route's upgrade_configs are kept for the
// connection manager, which decides with UpgradeOverride whether a request
// may switch protocols on it.
//
// A route also carries what the router needs upstream: its hash_policy
// (Route.HashKey, allocation-free, combined as Envoy does), its retry
// policy (the route's, else its virtual host's; RetryPolicy decides which
// statuses and failures are retriable), the virtual host's attempt-count
// headers and the request buffer limit for retries.
package router
