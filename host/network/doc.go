// Package network runs a downstream connection through its network filter
// chain, Envoy's L4 model: the listener accepts a connection, builds one
// filter instance per configured filter, and the last (terminal) filter —
// tcp_proxy or the HTTP connection manager — moves the bytes on.
//
// # Read path
//
// Bytes read from the socket are appended to the connection's read buffer
// (the socket's unconsumed input: no copy). Each read runs the read
// filters in chain order, each getting the whole buffer, until one returns
// StopIteration. A filter drains what it consumes (the terminal filter
// drains everything it forwards); what nobody drained stays, so a later
// pass shows the same bytes again. StopIteration stops only the current
// pass: the next read iterates again from the first filter, and a filter
// that must hold the connection keeps returning StopIteration until it calls
// ContinueReading. A filter that has not seen OnNewConnection yet (because
// one before it stopped) gets it before its first OnData. The read buffer
// is bounded by the listener's per_connection_buffer_limit_bytes: at the
// limit sluice stops reading the socket, and the kernel pushes back on the
// client.
//
// Because sluice keeps reading (up to that bound) while a filter stops, and
// ContinueReading resumes the pass without waiting for new bytes, a
// gatekeeper that returns StopIteration from OnNewConnection and decides
// later never deadlocks the chain — the stalemate Envoy's docs warn about
// with tcp_proxy cannot happen; and tcp_proxy, which connects upstream in
// its OnNewConnection, does not connect before the gatekeeper let the
// connection through. Options.FiltersTimeout bounds how long filters may
// keep the terminal filter from starting.
//
// # Write path
//
// Connection.Write passes each chunk through the write filters from the
// last filter of the chain to the first (toward the socket). StopIteration
// keeps the chunk from going further (it is not buffered: a filter that
// wants to delay it keeps a copy and injects it later with
// InjectWriteData). Output waiting for the socket has high/low watermarks
// (per_connection_buffer_limit_bytes and half of it); filters implementing
// WatermarkHandler are told when it crosses them, which is how tcp_proxy
// and the HTTP connection manager stop reading their upstreams.
//
// # Events and close
//
// Connected (cleartext: right after the chain was set up; TLS: once the
// handshake finished, with the TLS facts in Attributes, as in Envoy, so a
// filter that needs them waits for it; a failed handshake is LocalClose
// without Connected), RemoteClose (the
// peer closed or reset; without half-close a FIN also closes, after the
// filters saw it as end of stream) and LocalClose (Close). With
// EnableHalfClose (tcp_proxy) a FIN is an end of stream for the read path
// while writes go on; the connection closes when both directions ended.
// After the closing event every filter is destroyed (Destroyer), once no
// hook is on the stack.
//
// # Threads
//
// A Connection and its filters live on the worker that accepted the
// socket; every hook runs there, and every method is loop-thread only.
package network
