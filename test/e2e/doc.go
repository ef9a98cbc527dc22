// Package e2e is kisgen's end-to-end proof: from an example plan, build the mirror and
// the VM image, render the user-data, boot one real qemu VM per node, let the nodes
// install themselves, and check the cluster over SSH with `kisgen verify` and the test's
// own checks (a pod from an image archive the test builds, Running on a worker).
//
// The tests carry the e2e build tag so `go test ./...` never boots VMs; run them with
// `make e2e` (KISGEN_E2E_PLANS=minimal,ha picks the example plans).
package e2e
