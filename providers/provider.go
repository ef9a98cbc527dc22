package providers

import (
	"context"
	"io"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// Machine is one node to boot with its rendered user-data.
type Machine struct {
	Node *plan.Node
	// UserData is the rendered user-data, uncompressed, exactly as `kisgen render` wrote it.
	UserData []byte
	Format   plan.Format
}

// Options are shared by every provider.
type Options struct {
	// StateDir is the plan's state directory; providers record what they created under
	// StateDir/providers/NAME.json so a later run (or --destroy) finds it again.
	StateDir string
	// Progress receives human-readable progress lines, one per event.
	Progress io.Writer
	// CacheDir is kisgen's per-user cache (internal/cachedir), where providers find the
	// images `kisgen image build` published (CACHE/images/OS). Empty: the default.
	CacheDir string
	// HostKeys are the SSH host keys kisgen generated for the nodes and put into their
	// user-data (host → authorized_keys line, from the state directory's PKI). No
	// provider can learn them from its API; Provision (this package's) records each with
	// its machine so that verify pins it.
	HostKeys map[string]string
	// FromTags makes Destroy remove everything that carries the cluster's tags (or names,
	// or markers), recorded or not: for a state directory that is gone. Without it,
	// tagged resources the record does not name are listed and left alone.
	FromTags bool
	// Replace makes Provision replace, one at a time (etcd members first, then masters,
	// then the other nodes), the machines whose user-data changed since they booted (the
	// record of intent's fingerprint against the rendered user-data).
	Replace bool
	// Prune makes Provision remove the machines of nodes no longer in the plan.
	Prune bool
	// Confirm, when set, is asked before Provision changes anything, with the machines
	// the run would replace and remove (only when there are some); an error stops the
	// run there and is returned as it is.
	Confirm func(Rollout) error
	// Cluster does the cluster's side of removing and replacing machines (drain, wait
	// for the new machine to join); nil: machines are removed without it.
	Cluster ClusterSteps
	// EtcdInitialCluster is the founding etcd membership the user-data was rendered
	// with; the record of intent keeps it from the first run on.
	EtcdInitialCluster string
	// PlanText is the plan file's content, kept in the record of intent as applied.
	PlanText []byte
}

// ClusterSteps are what happens in the running cluster around a machine that goes or
// comes: kisgen's implementation works through the Kubernetes API (cmd/clusterops.go).
type ClusterSteps interface {
	// Leave readies a node's machine to be removed: cordon and drain it (evictions that
	// respect PodDisruptionBudgets) and, unless it is replaced, delete its Node.
	Leave(ctx context.Context, host string, roles []string, replaced bool) error
	// Joined waits until the node's new machine has joined and the cluster is healthy.
	Joined(ctx context.Context, host string, roles []string) error
}

// Instance is one machine as the provider sees it after provisioning.
type Instance struct {
	Host      string `json:"host"`
	ID        string `json:"id"`
	State     string `json:"state"`
	PublicIP  string `json:"publicIp,omitempty"`
	PrivateIP string `json:"privateIp,omitempty"`
	// SSHAddr is where `kisgen verify` reaches the node's sshd (host:port): a qemu port
	// forward on loopback, the address a cloud reports (see SSHAddress), or the plan's
	// ip:ssh_port. Empty means the plan's.
	SSHAddr string `json:"sshAddr,omitempty"`
	// APIAddr is where the node's API server answers from this machine (host:port), for
	// masters whose plan address this machine cannot reach (qemu's port forward on
	// loopback); empty for the others.
	APIAddr string `json:"apiAddr,omitempty"`
	Created bool   `json:"created"`
}

// Provider boots a plan's machines with their user-data and removes them again. Provision
// is idempotent: machines are found by the cluster name and host, so a second run creates
// nothing and a run after a failure finishes the job.
type Provider interface {
	Name() string
	// Limits declares what the provider can boot for the plan: the user-data formats
	// and how much user-data one machine takes. Check and CheckUserData hold plans and
	// rendered user-data to them before anything is created.
	Limits(p *plan.Plan) Limits
	// Validate reports what in the plan the provider cannot boot, without creating or
	// changing anything (and without credentials): findings with the plan's YAML paths.
	Validate(p *plan.Plan, opts Options) []report.Finding
	// Inventory lists, without changing anything, the machines that exist for the plan's
	// cluster (found by the provider's tags or names) and whether kisgen's record names
	// them: what `provision --dry-run` compares with the plan.
	Inventory(ctx context.Context, p *plan.Plan, opts Options) ([]Found, error)
	Provision(ctx context.Context, p *plan.Plan, machines []Machine, opts Options) ([]Instance, error)
	Destroy(ctx context.Context, p *plan.Plan, opts Options) error
}

// Remover is a Provider that removes single machines: what `provision --replace` and
// `--prune` need. Remove deletes the machines kisgen created for hosts (the others of
// the cluster stay) and drops them from the provider's record.
type Remover interface {
	Remove(ctx context.Context, p *plan.Plan, hosts []string, opts Options) error
}
