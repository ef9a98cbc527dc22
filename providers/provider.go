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
