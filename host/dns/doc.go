// Package dns is a small stub resolver for DNS discovery (strict_dns and
// logical_dns clusters): it asks recursive servers for A and AAAA records
// and returns the addresses with their TTL, which Go's resolver does not
// expose and respect_dns_ttl needs.
//
// Servers are the cluster's dns_resolution_config resolvers, or the
// system's: /etc/resolv.conf (nameserver, search, options ndots, timeout,
// attempts) and /etc/hosts, read once when the Resolver is made. Queries
// go over UDP with a random ID, and over TCP when the answer is truncated.
// A name with fewer dots than ndots tries the search domains first, as
// the C library does.
//
// It runs on ordinary goroutines, never on a worker: a lookup blocks up to
// timeout × attempts × servers.
//
// # Results
//
// NXDOMAIN and an answer without addresses are not errors: the name has
// no address now (a strict_dns cluster then drops its hosts). Timeouts,
// SERVFAIL, REFUSED and malformed answers are errors (the cluster keeps
// what it had and retries with back-off).
package dns
