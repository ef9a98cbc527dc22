// Package testtool holds what kisgen's tests share about the real tools they run: finding
// a tool the way CI expects (skip where it is missing, fail in CI where it must be there)
// and collecting a child's or a server's output safely from several goroutines.
package testtool
