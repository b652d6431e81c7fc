//go:build race

package router

// The race detector adds allocations of its own; alloc counts are checked
// only in normal builds.
const raceEnabled = true
