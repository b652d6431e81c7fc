// Package abi mirrors abi/sluice_abi.h, the C header that is the sluice
// module ABI: version numbers, result codes, status and kind enums, hook
// symbol names, and the memory layouts the host shares with modules (the
// host API table, buffers, headers and handles).
//
// The header is the source of truth. abi_test.go compiles a C program
// against it with gcc and fails when any constant, field offset or struct
// size here differs, so the Go mirror cannot drift silently.
package abi
