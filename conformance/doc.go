// Package conformance runs Kubernetes' own end-to-end suite (the e2e.test of the
// cluster's Kubernetes version, what Sonobuoy and the CNCF conformance program run)
// against a cluster kisgen booted: it picks the specs of a mode (quick, network,
// certified) as ginkgo focus and skip expressions, copies e2e.test to a master over SSH
// and runs it there with the admin kubeconfig, reads its output as it comes (specs done
// of total, each failure as it happens), then reads its JUnit report into a Summary that
// it keeps, with the report and the suite's output, in the state directory.
//
// It runs on a master because that reaches what the specs reach on every provider: the
// API server, every node's address and NodePorts, with the admin kubeconfig and kubectl
// already there; local qemu VMs' API is not reachable from the host at all.
package conformance
