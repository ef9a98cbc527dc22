# kisgen's build and test entry points. CI runs .ci/run, which runs `make test`, then
# `make test-race` and `make e2e`. See docs/development.md.

GO       ?= go
# The source tarballs Calico and its BIRD are built from (the Go module proxy does not serve
# Calico): KISGEN_SOURCES, else ../shared/src beside the checkout when it is there.
KISGEN_SOURCES ?= $(wildcard $(abspath $(CURDIR)/../shared/src))
export KISGEN_SOURCES
FUZZTIME ?= 10m

.PHONY: build local-cluster local-cluster-down test test-deps test-race examples vet fmt-check fuzz-short fuzz bench generate e2e e2e-calico e2e-daytwo e2e-overlay e2e-conformance e2e-ha e2e-bridge e2e-baked clean

## build: the kisgen binary in bin/
build:
	$(GO) build -o bin/kisgen .

## local-cluster: install the host packages local VMs need (as root or with sudo -n; else it
##      prints the command and stops), then plan, render and boot a 3-node cluster in local VMs
##      and verify it; without apt-get it renders only. See scripts/local-cluster.sh
local-cluster:
	scripts/local-cluster.sh up

## local-cluster-down: stop the local cluster's VMs and mirror (files are kept in .cache/local)
local-cluster-down:
	scripts/local-cluster.sh down

## test: the host packages the tests run (test-deps), vet, formatting, every package's tests
##      (docs/plan.md staleness included), a short fuzz
test: test-deps vet fmt-check
	$(GO) test ./...
	$(MAKE) fuzz-short

## test-deps: install the tools the tests run for real (scripts/install-deps.sh test: as root or
##      with sudo -n; else it prints the one command and fails). Without apt-get the tests that
##      need a missing tool skip, saying so (internal/testtool)
test-deps:
	@scripts/install-deps.sh test || { rc=$$?; [ $$rc -eq 3 ] || exit $$rc; \
		echo "test-deps: tests that need a missing tool will be skipped (internal/testtool)"; }

## test-race: the packages that run goroutines (render, pki, verify, providers) under the race
##      detector (needs cgo: gcc); CI runs it after make test. providers/vsphere is left out:
##      its fake vCenter, govmomi's simulator, races with itself when VMs are cloned at once
##      (simulator/virtual_machine.go CloneVMTask against folder.go folderPutChild, v0.56.0)
RACE_PKGS ?= ./render/... ./pki/... ./verify/... $(filter-out %/providers/vsphere,$(shell $(GO) list ./providers/...))
test-race:
	$(GO) test -race $(RACE_PKGS)

## examples: the SSH key the example plans name (examples/kismaticuser.key, git-ignored), so
##      `kisgen validate -f examples/ha.yaml` works as the README says
examples:
	$(GO) run ./internal/examplekeys

vet:
	$(GO) vet ./...
	$(GO) vet -tags e2e ./...

fmt-check:
	@out="$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## fuzz-short: 20 seconds of the plan loader and validator fuzzer
fuzz-short:
	$(GO) test ./plan -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 20s

## fuzz: long fuzzing runs (FUZZTIME=30m make fuzz); failing inputs land in the package's testdata/fuzz/
fuzz:
	$(GO) test ./plan -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -timeout 0
	$(GO) test ./plan/wizard -run '^$$' -fuzz '^FuzzEncode$$' -fuzztime $(FUZZTIME) -timeout 0

## bench: every benchmark, with allocations, then the render table: 1,000 nodes warm and cold
##      (cloud-init), as Ignition and the ratio, 10,000 nodes to disk with its peak memory
##      (scripts/bench.sh; BENCH_ALL=0 for the table only); also kept in .cache/bench.txt
bench:
	GO=$(GO) scripts/bench.sh

## generate: docs/plan.md and the plan writer's field docs, from plan/v1alpha1/types.go
generate:
	$(GO) generate ./plan/...

## e2e: the PKI against a real kube-apiserver and kisgen's drain against one (with its
##      controller manager's disruption budgets), the qemu provider's VM test, a PXE netboot
##      through iPXE, then a cluster test: with KVM (or 4 host cores) e2e-calico, two VMs
##      (master1: etcd, master and worker; worker1) install Kubernetes with Calico routed
##      (BGP under the plan's AS) and CoreDNS from a mirror built from source, pass kisgen
##      verify, then BGP, pod to pod, a Service, DNS and NetworkPolicy are checked; on two
##      cores under TCG, where that master starves, e2e-bridge, with a warning
##      (test/e2e/choose-cluster.sh; KISGEN_E2E_CLUSTER=calico|bridge chooses; slow; see
##      test/e2e/README.md)
e2e:
	$(GO) test -tags e2e -count=1 -timeout 60m -v -run '^(TestAPIServer|TestDrainRespectsPodDisruptionBudgets)' ./test/
	KISGEN_VM_TESTS=1 $(GO) test -count=1 -timeout 30m -v -run '^TestProvisionBootsVMsOnPrivateNetwork$$' ./providers/qemu/
	$(GO) test -tags e2e -count=1 -timeout 60m -v ./providers/pxe/
	@cluster=$$(test/e2e/choose-cluster.sh) && $(MAKE) e2e-$$cluster

## e2e-calico: the cluster test of make e2e alone, Calico routed. e2e-overlay: the same with
##      IP-in-IP and network policy on (pods isolated, declared ports opened). Calico is
##      built from the source tarballs in KISGEN_SOURCES (test/e2e/calico_test.go).
##      KISGEN_E2E_CONFORMANCE=network (quick, certified) ends either with Kubernetes' own
##      e2e suite (kisgen conformance run); off by default: the suite, its build and its
##      images take hours under TCG, more than CI's time (docs/conformance.md)
## e2e-conformance: e2e-calico ending with the suite's network specs
##      (kisgen conformance run --mode network; KISGEN_E2E_CONFORMANCE_TIMEOUT, default 4h)
KISGEN_E2E_CONFORMANCE ?= off
export KISGEN_E2E_CONFORMANCE
e2e-calico:
	KISGEN_E2E_CALICO=routed $(GO) test -tags e2e -count=1 -timeout 120m -v -run '^TestCalicoCluster$$' ./test/e2e/

## e2e-daytwo: on a running cluster (3 etcd, a master, 2 workers): add a worker, remove it,
##      replace an etcd member with the quorum watched, upgrade under load; every step timed
##      (slow; KISGEN_E2E_DAYTWO_ETCD=1: one etcd-only member, no etcd replacement, for TCG)
e2e-daytwo:
	KISGEN_E2E_DAYTWO=1 $(GO) test -tags e2e -count=1 -timeout 240m -v -run '^TestDayTwo$$' ./test/e2e/

e2e-overlay:
	KISGEN_E2E_CALICO=overlay $(GO) test -tags e2e -count=1 -timeout 120m -v -run '^TestCalicoCluster$$' ./test/e2e/

e2e-conformance:
	KISGEN_E2E_CALICO=routed KISGEN_E2E_CONFORMANCE=network $(GO) test -tags e2e -count=1 -timeout 420m -v -run '^TestCalicoCluster$$' ./test/e2e/

## e2e-ha: examples/ha.yaml's topology on three VMs (3 etcd members, 2 masters behind the
##      virtual IP, Calico routed): the Calico cluster test's network checks, then power
##      off the master holding the address (prints "failover N s"), scale a Deployment,
##      power it back on, then an etcd member (test/e2e/ha_test.go)
e2e-ha:
	KISGEN_E2E_HA=1 $(GO) test -tags e2e -count=1 -timeout 240m -v -run '^TestHACluster$$' ./test/e2e/

## e2e-bridge: the example plans on the bridge pod network without cluster DNS
##      (E2E_PLANS=minimal,ha make e2e-bridge for both)
E2E_PLANS ?= minimal
e2e-bridge:
	KISGEN_E2E_PLANS=$(E2E_PLANS) $(GO) test -tags e2e -count=1 -timeout 170m -v -run '^TestClusterInstallsItself$$' ./test/e2e/

## e2e-baked: bake the qemu image with Packer from `kisgen packer`, then boot a cluster from it
##      with no mirror and downloads disabled, and verify it (slow; needs packer; docs/packer.md)
e2e-baked:
	KISGEN_E2E_BAKED=1 $(GO) test -tags e2e -count=1 -timeout 120m -v -run '^TestBakedImageInstallsOffline$$' ./test/e2e/

clean:
	rm -rf bin/
