// Package providers boots a plan's machines with their rendered user-data. Each provider
// lives in its own subpackage behind the small Provider interface and is registered in
// one place (registry.go); SSH is never used to install anything. Provision and Destroy
// (provision.go) run a provider and keep the instances record (package
// providers/instances) that verify reads: the same for every provider, written in one place.
package providers
