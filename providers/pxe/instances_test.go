package pxe

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/providers/instances"
	"github.com/kisgen/kisgen/verify/sshdtest"
)

// TestProvisionRecordsWhereVerifyReachesEachMachine runs the provider through
// providers.Provision, as `kisgen provision pxe` does, and reads the record back the way
// verify does. PXE machines have not booted yet: each is recorded by its boot MAC at its
// plan ip (its DHCP reservation) with the host key kisgen pinned for it.
func TestProvisionRecordsWhereVerifyReachesEachMachine(t *testing.T) {
	p := examplePlan(t)
	opts := assets(t)
	state := t.TempDir()
	keys := sshdtest.HostKeyLines(t, "etcd1", "master1", "worker1", "worker2")
	x := &PXE{Options: Options{Images: opts.Images, IPXEDir: opts.IPXEDir, NoInstall: true}}
	if _, err := providers.Provision(context.Background(), x, p, machinesOf(p), providers.Options{StateDir: state, HostKeys: keys}); err != nil {
		t.Fatal(err)
	}
	rec, err := instances.LoadFor(state, "rack1", Name)
	if err != nil {
		t.Fatal(err)
	}
	var want []instances.Instance
	for _, n := range p.Nodes {
		want = append(want, instances.Instance{Node: n.Host, Machine: n.MAC, SSHAddress: n.IP.String() + ":22", HostKey: keys[n.Host]})
	}
	if d := cmp.Diff(want, rec.Instances, cmpopts.IgnoreFields(instances.Instance{}, "RecordedAt")); d != "" {
		t.Errorf("instances record (-want +got)\n%s", d)
	}
}
