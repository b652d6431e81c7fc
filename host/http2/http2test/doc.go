// Package http2test runs the HTTP/2 codec on a real worker behind a minimal
// connection manager, for tests and for h2spec: an app that echoes request
// bodies, sends sized responses with backpressure, and sends trailers. It is
// test tooling, not the proxy's connection manager (host/hcm).
package http2test
