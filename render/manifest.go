package render

import (
	"encoding/json"

	"github.com/kisgen/kisgen/plan"
)

// ManifestFile is the manifest's name in the output directory.
const ManifestFile = "manifest.json"

// Manifest is userdata/manifest.json: what was rendered for each node.
type Manifest struct {
	Cluster  string         `json:"cluster"`
	Provider string         `json:"provider"`
	Nodes    []ManifestNode `json:"nodes"`
}

// ManifestNode is one node's entry.
type ManifestNode struct {
	Host   string   `json:"host"`
	Roles  []string `json:"roles"`
	Format string   `json:"format"`
	File   string   `json:"file"`
	Sizes  Sizes    `json:"sizes"`
	// Budget is the provider's user-data limit for this node's format, when it has one.
	Budget *Budget `json:"budget,omitempty"`
	// OverBudget is set when the node's user-data exceeds the provider's budget.
	OverBudget bool   `json:"overBudget,omitempty"`
	SHA256     string `json:"sha256"`
	// ConfigSHA256 is what the node's status file reports as configSha256.
	ConfigSHA256 string `json:"configSha256"`
}

func newManifest(p *plan.Plan, nodes []NodeResult) Manifest {
	m := Manifest{Cluster: p.Name, Provider: p.Provider.Name, Nodes: make([]ManifestNode, 0, len(nodes))}
	for _, n := range nodes {
		roles := make([]string, len(n.Roles))
		for i, r := range n.Roles {
			roles[i] = string(r)
		}
		e := ManifestNode{Host: n.Host, Roles: roles, Format: string(n.Format), File: n.File, Sizes: n.Sizes, SHA256: n.SHA256, ConfigSHA256: n.ConfigSHA256}
		if b, ok := BudgetFor(p, n.Format); ok {
			e.Budget = &b
			e.OverBudget = b.Measured(n.Sizes) > b.Bytes
		}
		m.Nodes = append(m.Nodes, e)
	}
	return m
}

// Marshal writes the manifest as indented JSON with a final newline.
func (m Manifest) Marshal() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
