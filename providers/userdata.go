package providers

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kisgen/kisgen/plan"
)

// UserDataFile is the file `kisgen render` writes for a node: HOST.yaml for cloud-init,
// HOST.ign for Ignition.
func UserDataFile(n *plan.Node, format plan.Format) string {
	if format == plan.FormatIgnition {
		return n.Host + ".ign"
	}
	return n.Host + ".yaml"
}

// LoadMachines reads every node's rendered user-data from dir (the output of
// `kisgen render --out dir`). A missing file is an error naming the node and the fix.
func LoadMachines(p *plan.Plan, dir string) ([]Machine, error) {
	var out []Machine
	var errs []error
	for _, n := range p.Nodes {
		format := n.Group.Format
		data, err := os.ReadFile(filepath.Join(dir, UserDataFile(n, format)))
		if errors.Is(err, os.ErrNotExist) {
			// --format may have overridden the group's format at render time.
			other := plan.FormatIgnition
			if format == plan.FormatIgnition {
				other = plan.FormatCloudInit
			}
			if d, err2 := os.ReadFile(filepath.Join(dir, UserDataFile(n, other))); err2 == nil {
				data, format, err = d, other, nil
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w for %s in %s: %v (run `kisgen render --out %s` first)", ErrNoUserData, n.Host, dir, err, dir))
			continue
		}
		out = append(out, Machine{Node: n, UserData: data, Format: format})
	}
	return out, errors.Join(errs...)
}
