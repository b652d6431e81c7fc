// Package integration runs the Rust SDK's example modules inside the real
// sluice binary: the tests build cmd/sluice and the modules
// (make -C sdk-rust), start `sluice run -c FILE` with the modules in the
// HTTP filter chain in front of a local backend, and assert exact results
// over sockets. It has only tests; this file exists for the package doc.
package integration
