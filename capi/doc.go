// Command capi is BuildNet's C API. Built with
//
//	go build -buildmode=c-shared -o libbuildnet.so ./capi
//
// it gives libbuildnet.so, whose functions are declared by the hand-written
// header buildnet.h in this directory (scripts/ffi.sh builds both, with a
// pkg-config file). The package holds no build logic: each export decodes
// its JSON arguments, calls the [buildnet.Engine] and encodes the result.
//
// # Handles
//
// Engines and subscriptions reach C as uint64_t handles from one
// mutex-guarded table (handles.go). Values come from a counter and are
// never reused, so a stale, doubly closed or forged handle is reported as
// BN_ERR_INVALID_HANDLE. No Go pointer is ever given to C.
//
// # Process-wide state
//
// The handle table is the package's one piece of package-level mutable
// state: a C library has no other place to keep what its handles refer to.
//
// # Panics
//
// A Go panic in a c-shared library aborts the host process, so every
// export and every goroutine the package starts recovers, and an export
// reports a recovered panic as BN_ERR_PANIC.
//
// See docs/embedding.md for the reference and the ownership rules.
package main
