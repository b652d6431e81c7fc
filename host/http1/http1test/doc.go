// Package http1test holds HTTP/1.1 test material shared by the codec's unit
// tests and the proxy's integration tests: a table of request-smuggling and
// malformed-request cases with the exact answer each must get.
package http1test
