// Package test holds integration tests that run kisgen's output against the real
// programs that consume it on loopback, without VMs: the PKI against a three-member etcd
// cluster (pki_etcd_test.go, part of `make test`; it builds etcd from the Go module
// proxy into the per-user cache, ~/.cache/kisgen/bin, on first use, about 2.5 minutes) and against kube-apiserver
// (pki_apiserver_test.go, build tag e2e: building Kubernetes takes about 10 minutes
// cold). The VM end-to-end tests live in test/e2e.
package test
