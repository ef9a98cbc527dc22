package pki

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/plan"
)

// clusterFile, at the top of the state directory, binds it to the cluster that created
// it. Two plans in one directory share the default state directory (generated/): without
// the binding, rendering the second plan reissued its certificates under the first
// cluster's CA. Each plan keeps the shared default, and a plan of another cluster is
// refused with the way out (--state): giving each plan its own default directory instead
// would silently move the state of every existing single-plan checkout.
const clusterFile = "cluster.json"

// Binding is STATE/cluster.json: the cluster a state directory belongs to.
type Binding struct {
	// Cluster is the plan's cluster name.
	Cluster string `json:"cluster"`
	// ID is random, made when the state directory was bound: it tells apart two
	// clusters of the same name (a copied plan), e.g. in the output's marker.
	ID string `json:"id"`
}

// ReadBinding reads stateDir's binding; nil without an error when it has none yet.
func ReadBinding(stateDir string) (*Binding, error) {
	path := filepath.Join(stateDir, clusterFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b Binding
	if err := json.Unmarshal(data, &b); err != nil || b.Cluster == "" || b.ID == "" {
		return nil, fmt.Errorf("%w: %s does not name a cluster and its id: restore it from a backup, or write {\"cluster\": \"NAME\", \"id\": \"ANY-HEX\"} with this state directory's cluster name", ErrCorrupt, path)
	}
	return &b, nil
}

// CheckCluster says whether stateDir belongs to p's cluster, without changing anything
// (for commands that only read the state). A state directory not bound yet passes
// unless its admin kubeconfig names another cluster.
func CheckCluster(stateDir string, p *plan.Plan) error {
	b, err := ReadBinding(stateDir)
	if err != nil {
		return err
	}
	if b == nil {
		return checkUnbound(stateDir, p)
	}
	return checkBinding(stateDir, b, p)
}

// bindCluster checks stateDir's binding against p, or binds it to p when it has none
// (a new state directory, or one made before bindings existed: the migration). The
// caller holds the state lock.
func bindCluster(stateDir string, p *plan.Plan) (*Binding, error) {
	b, err := ReadBinding(stateDir)
	if err != nil {
		return nil, err
	}
	if b != nil {
		return b, checkBinding(stateDir, b, p)
	}
	if err := checkUnbound(stateDir, p); err != nil {
		return nil, err
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	b = &Binding{Cluster: p.Name, ID: hex.EncodeToString(id)}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.CreateExclusive(filepath.Join(stateDir, clusterFile), append(data, '\n'), publicPerm); err != nil {
		return nil, err
	}
	return b, nil
}

func checkBinding(stateDir string, b *Binding, p *plan.Plan) error {
	if b.Cluster == p.Name {
		return nil
	}
	return otherCluster(stateDir, p, fmt.Sprintf("belongs to cluster %q (%s, id %s)", b.Cluster, filepath.Join(stateDir, clusterFile), b.ID),
		fmt.Sprintf("; if you renamed the cluster, set \"cluster\" in %s to %q", filepath.Join(stateDir, clusterFile), p.Name))
}

// checkUnbound catches the case the binding exists for: a state directory of another
// cluster made before bindings. kisgen's admin kubeconfig names the cluster that issued
// it (a CA brought by the user may carry any CN, so the CA is no evidence).
func checkUnbound(stateDir string, p *plan.Plan) error {
	path := filepath.Join(stateDir, kubeconfigDir, Admin+kubeconfigSuffix)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	k, err := ParseKubeconfig(data)
	if err != nil || len(k.Clusters) != 1 || k.Clusters[0].Name == p.Name {
		return nil
	}
	return otherCluster(stateDir, p, fmt.Sprintf("holds the PKI of cluster %q (%s names it)", k.Clusters[0].Name, path), "")
}

func otherCluster(stateDir string, p *plan.Plan, whose, renamed string) error {
	what := "this plan"
	if p.File != "" {
		what = p.File
	}
	return fmt.Errorf("%w: %s %s, and %s is cluster %q: using it would issue %s's certificates under the other cluster's CA: give this plan its own state directory with --state (e.g. --state %s)%s",
		ErrOtherCluster, stateDir, whose, what, p.Name, p.Name, filepath.Join(filepath.Dir(stateDir), plan.DefaultStateDirName+"-"+p.Name), renamed)
}
