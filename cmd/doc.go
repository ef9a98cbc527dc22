// Package cmd holds kisgen's cobra commands. Commands only parse flags, call the library
// packages (plan, pki, render, providers, verify…) and print; the work happens there.
// Each command is built by a newXCmd function, with no package-level flag variables, so
// tests can build a fresh tree and drive it with SetArgs.
package cmd
