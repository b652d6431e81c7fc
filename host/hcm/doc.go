// Package hcm is the HTTP connection manager: the terminal network filter
// that turns a downstream connection's bytes into streams (through a codec),
// runs each stream through its HTTP filter chain on the owning worker, and
// writes the responses back. Built-in Go filters and module filters share the
// StreamFilter interface and Envoy's continue/stop semantics.
package hcm
