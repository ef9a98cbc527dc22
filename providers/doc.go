// Package providers boots a plan's machines with their rendered user-data. Each provider
// lives in its own subpackage behind the small Provider interface and is registered in
// one place (registry.go); SSH is never used to install anything.
package providers
