// Package tlscontext compiles Envoy's DownstreamTlsContext (a filter
// chain's TLS termination) and UpstreamTlsContext (a cluster's TLS to its
// endpoints) into crypto/tls configs, and reloads them when their
// certificate, key or CA files change.
//
// A Context's Config is read once per connection (StartTLS, DialTLS):
// a reload swaps in a new tls.Config, so new connections use the new
// certificates while established ones keep theirs and are never dropped.
// A reload that cannot load the new files (a key that does not match its
// certificate yet, half a file) keeps the current config; Watcher waits
// for file events to settle (100 ms) before it reloads, so a rotation
// that writes the certificate and then the key is seen once, whole.
// Session tickets issued before a reload are not accepted after it (the
// new config has new ticket keys): those clients do a full handshake.
//
// Verification of endpoints (client side): certificates must chain to
// the configured CA, or to the system's roots when none is given; when
// an SNI is configured the certificate must also be valid for that name
// (without one, only the chain is checked). ACCEPT_UNTRUSTED turns the
// check off. Client certificates (server side) are asked for when the
// context has a CA, and required with require_client_certificate.
//
// Threads: building and reloading run off the workers (the main
// goroutine, the watcher's goroutine); Config is an atomic load, safe
// from a worker.
package tlscontext
