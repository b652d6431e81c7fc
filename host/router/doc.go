// Package router compiles a route configuration into an immutable Table
// that every worker reads without locks, and matches requests against it
// without allocating.
//
// Virtual hosts are chosen as Envoy does: exact domain, then the longest
// suffix wildcard ("*.example.com"), then the longest prefix wildcard
// ("api.*"), then "*". Within a virtual host routes are tried in order and
// the first match wins.
package router
