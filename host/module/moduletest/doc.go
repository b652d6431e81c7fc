// Package moduletest builds the C test modules of testdata/modules for
// tests in any package: Build(t, "external_cache") returns the path of
// external_cache.so, compiling all modules once per test binary.
package moduletest
