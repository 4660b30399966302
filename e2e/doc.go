// Package e2e reads the lake the job writes with DuckDB, an engine nobody here
// wrote. It is a separate module because DuckDB's Go driver needs cgo and the
// product binary must stay CGO-free.
package e2e
