// Package ctest runs the C SDK's own tests with go test: a module's unit
// test against the fake host (sdk-c/fakehost), and the C authoring guide
// (docs/authoring-c.md) executed as written.
package ctest
