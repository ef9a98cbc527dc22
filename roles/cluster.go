package roles

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

// Cluster holds what every node's model shares, computed once per render: the rendered
// scripts, the managed hosts block, the bridge subnets, the first master's add-ons.
// Building 10,000 nodes therefore costs 10,000 times a node's own work, not more (the
// hosts block is one shared string; each node's user-data still carries a copy of it).
// A Cluster is read-only after NewCluster, so Node may be called concurrently.
type Cluster struct {
	p   *plan.Plan
	sec Secrets
	in  Inputs

	artifacts   map[string]Artifact
	scripts     []File // the scripts and shell library, identical on every node
	hostsBlock  string // the block verify expects; "" when the plan does not manage hosts files
	lbEntry     *hostsEntry
	proxyEnv    string // "" without a proxy
	common      []File // files identical on every Kubernetes node
	firstMaster *plan.Node
	addons      []File // the first master's add-on files
	addonList   string // KISGEN_ADDONS
	fetcher     File   // FetchScript, for nodes that download shared files
	nodeMask    int    // per-node pod subnet size (bits)
	subnets     map[string]netip.Prefix
	routes      []bridgeRoute
	warnings    []string
	memos       sync.Map // key → memoResult: documents many nodes share, marshalled once
}

type memoResult struct {
	text string
	err  error
}

// memo returns f's result for key, computing it once per Cluster (f must depend only on
// the key and the plan). Nodes share the same string.
func (c *Cluster) memo(key string, f func() (string, error)) (string, error) {
	if r, ok := c.memos.Load(key); ok {
		return r.(memoResult).text, r.(memoResult).err
	}
	text, err := f()
	r, _ := c.memos.LoadOrStore(key, memoResult{text, err})
	return r.(memoResult).text, r.(memoResult).err
}

type bridgeRoute struct {
	subnet netip.Prefix
	via    netip.Addr
	host   string
}

// Build is NewCluster and Cluster.Node for one node, reading the plan's inputs (SSH key,
// checksums) from beside the plan. Use NewCluster to build many nodes.
func Build(p *plan.Plan, s Secrets, n *plan.Node) (*Node, error) {
	in, err := LoadInputs(p)
	if err != nil {
		return nil, err
	}
	c, err := NewCluster(p, s, in)
	if err != nil {
		return nil, err
	}
	return c.Node(n)
}

// NewCluster prepares the shared part of every node's model. It does not modify p.
func NewCluster(p *plan.Plan, s Secrets, in Inputs) (*Cluster, error) {
	if in.SSHAuthorizedKey == "" {
		return nil, fmt.Errorf("%w: no SSH public key for the plan's user %s", ErrInput, p.SSH.User)
	}
	return newCluster(p, s, in)
}

// newCluster is NewCluster without the inputs only nodes need (SharedFiles has no SSH
// key and no PKI).
func newCluster(p *plan.Plan, s Secrets, in Inputs) (*Cluster, error) {
	c := &Cluster{p: p, sec: s, in: in, subnets: map[string]netip.Prefix{}}
	c.artifacts = officialArtifacts(p)
	for name, a := range c.artifacts {
		c.artifacts[name] = locate(p, a, in.Checksums)
	}
	if masters := p.NodesWith(plan.RoleMaster); len(masters) > 0 {
		c.firstMaster = masters[0]
	}
	steps := []func() error{c.renderScripts, c.renderHostsBlock, c.renderProxyEnv, c.renderCommon, c.carveSubnets, c.renderAddOns, c.renderFetcher}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	// Shared files are hashed once here rather than once per node (finish keeps a sum
	// that is set).
	for _, set := range [][]File{c.scripts, c.common, c.addons} {
		for i := range set {
			set[i].SHA256 = sha256Hex(set[i].Content)
		}
	}
	if err := c.markFetched(); err != nil {
		return nil, err
	}
	return c, nil
}

// Warnings are findings about the whole plan's user-data (each node's Warnings repeat
// those that concern it).
func (c *Cluster) Warnings() []string { return append([]string(nil), c.warnings...) }

// scriptData is what the script and unit templates read: the on-node layout.
type scriptData struct {
	StatusPath, AddOnsStatusPath, StateDir, LibPath, NodeEnv, BinDir, CNIBinDir, CacheDir    string
	ArtifactsFile, ImageManifest, HostsBlock, PKIDir, EtcdPKIDir, AdminKubeconfig, FetchList string
	AddOnsDir, KubeletDetectedEnv, ContainerdConfig, ContainerdSocket, RoutesFile            string
	CACert, EtcdCACert, APIServerEtcdCert, APIServerEtcdKey, HostsReaderCert                 string
	HostsReaderKey, HostsSynced, HostsReaderRBAC, HostsConfigMap, EtcdEnv, EtcdDataDir       string
	EtcdHealthcheckCert, EtcdHealthcheckKey, EtcdRemoveConfigMap, AdminCert, AdminKey        string
	SystemPath, Path, ProxyEnv, PodCIDR, SysctlConf, ImageFilesDir                           string
	PhasePending, PhasePreflight, PhaseInstall, PhaseConfigure, PhaseDone, PhaseFailed       string
}

func (c *Cluster) layout() scriptData { return nodeLayout(c.p.Network.PodCIDR.String()) }

// nodeLayout is the on-node layout; podCIDR is the one plan setting a template reads
// (the bridge routes script: no script a baked image holds uses it).
func nodeLayout(podCIDR string) scriptData {
	return scriptData{
		StatusPath: StatusPath, AddOnsStatusPath: AddOnsStatusPath, StateDir: NodeStateDir, LibPath: LibPath,
		NodeEnv: NodeEnvPath, BinDir: BinDir, CNIBinDir: CNIBinDir, CacheDir: CacheDir, ArtifactsFile: ArtifactsPath, FetchList: FetchListPath,
		ImageManifest: ImageManifestPath, HostsBlock: HostsBlockPath, PKIDir: PKIDir, EtcdPKIDir: EtcdPKIDir,
		AdminKubeconfig: AdminKubeconfig, AddOnsDir: AddOnsDir, KubeletDetectedEnv: KubeletDetectedEnvPath,
		ContainerdConfig: ContainerdConfigPath, ContainerdSocket: ContainerdSocket, RoutesFile: BridgeRoutesPath,
		CACert: CACert, EtcdCACert: EtcdCACert, APIServerEtcdCert: APIServerEtcdCert, APIServerEtcdKey: APIServerEtcdKey,
		HostsReaderCert: HostsReaderCert, HostsReaderKey: HostsReaderKey, HostsSynced: HostsSyncedPath,
		HostsReaderRBAC: HostsReaderRBACPath, HostsConfigMap: HostsConfigMap, EtcdEnv: EtcdEnvPath, EtcdDataDir: EtcdDataDir,
		EtcdHealthcheckCert: EtcdHealthcheckCert, EtcdHealthcheckKey: EtcdHealthcheckKey, EtcdRemoveConfigMap: EtcdRemoveConfigMap,
		AdminCert: AdminCert, AdminKey: AdminKey,
		SystemPath: SystemPath, Path: UnitPath, ProxyEnv: ProxyEnvPath, PodCIDR: podCIDR, SysctlConf: SysctlPath, ImageFilesDir: ImageFilesDir,
		PhasePending: PhasePending, PhasePreflight: PhasePreflight, PhaseInstall: PhaseInstall,
		PhaseConfigure: PhaseConfigure, PhaseDone: PhaseDone, PhaseFailed: PhaseFailed,
	}
}

// Scripts lists the node scripts: path on the node, template, and whether a baked image
// holds it (the script reads nothing of a plan: see ImageFiles).
var scripts = []struct {
	path, template, what string
	baked                bool
}{
	{LibPath, "kisgen-lib.sh", "kisgen shell library (logging, status file)", true},
	{BinDir + "/kisgen-bootstrap", "kisgen-bootstrap", "kisgen bootstrap script", true},
	{BinDir + "/kisgen-preflight", "kisgen-preflight", "kisgen pre-flight checks", true},
	{BinDir + "/kisgen-addons", "kisgen-addons", "kisgen add-ons script", true},
	{BinDir + "/kisgen-bridge-routes", "kisgen-bridge-routes", "kisgen bridge routes script", false},
	{BinDir + "/kisgen-sync", "kisgen-sync", "kisgen sync script (the hosts list from the cluster)", true},
	{BinDir + "/kisgen-publish", "kisgen-publish", "kisgen publish script, masters (role labels, hosts list, etcd removals)", true},
	{BinDir + "/kisgen-etcd-join", "kisgen-etcd-join", "kisgen etcd membership script (start the cluster, or join it)", true},
}

func (c *Cluster) renderScripts() error {
	var err error
	c.scripts, err = renderScripts(c.layout(), false)
	return err
}

// renderScripts renders the node scripts (only those a baked image holds if bakedOnly).
func renderScripts(d scriptData, bakedOnly bool) ([]File, error) {
	var out []File
	for _, s := range scripts {
		if bakedOnly && !s.baked {
			continue
		}
		text, err := templates.Execute(s.template, d)
		if err != nil {
			return nil, err
		}
		text = templates.CompactScript(text)
		mode := fs.FileMode(0o755)
		if s.path == LibPath {
			mode = 0o644
		}
		out = append(out, File{Path: s.path, Mode: mode, Content: text, What: s.what})
	}
	return out, nil
}

// Hosts block markers: the bootstrap replaces what lies between them.
const (
	HostsBlockBegin = "# BEGIN kisgen managed block (do not edit: rewritten at every boot)"
	HostsBlockEnd   = "# END kisgen managed block"
)

// hostsEntry is one line of the managed hosts block.
type hostsEntry struct {
	IP   string
	Host string
}

// renderHostsBlock works out the block every node's hosts file should hold once the
// cluster runs: every node by host name, then the API servers' name. It is what `kisgen
// verify` expects, never what the user-data carries: nodes learn the others from the
// cluster (kisgen-sync), so that adding or removing a node changes no other node's
// user-data. The user-data carries a seed (seedHostsBlock) for the first boot.
func (c *Cluster) renderHostsBlock() error {
	if !c.p.Network.UpdateHostsFiles {
		return nil
	}
	entries := make([]hostsEntry, 0, len(c.p.Nodes)+1)
	for _, n := range c.p.Nodes {
		entries = append(entries, hostsEntry{n.InternalIP.String(), n.Host})
	}
	// kisgen-sync writes the nodes sorted by name: so does the expectation.
	sort.Slice(entries, func(i, j int) bool { return entries[i].Host < entries[j].Host })
	// The API servers' address by name: kubelets and kube-proxy dial it, and no DNS
	// answers for it where the plan manages hosts files.
	if name, addr, ok := c.p.LoadBalancerHostsEntry(); ok {
		c.lbEntry = &hostsEntry{addr.String(), name}
		entries = append(entries, *c.lbEntry)
	}
	text, err := hostsBlock(entries)
	if err != nil {
		return err
	}
	c.hostsBlock = text
	return nil
}

func hostsBlock(entries []hostsEntry) (string, error) {
	return templates.Execute("hosts.block", map[string]any{"Begin": HostsBlockBegin, "End": HostsBlockEnd, "Entries": entries})
}

// seedHostsBlock is the block a node's user-data carries: the node itself and the API
// servers' name, nothing that changes when other nodes come or go. kisgen-sync replaces
// it with the cluster's list once the API server answers.
func (c *Cluster) seedHostsBlock(n *plan.Node) (string, error) {
	entries := []hostsEntry{{n.InternalIP.String(), n.Host}}
	if c.lbEntry != nil {
		entries = append(entries, *c.lbEntry)
	}
	return hostsBlock(entries)
}

type envLine struct{ Name, Value string }

func renderEnv(comment string, vars []envLine) (string, error) {
	return templates.Execute("env", map[string]any{"Comment": comment, "Vars": vars})
}

func (c *Cluster) renderProxyEnv() error {
	px := c.p.Network.Proxy
	if !px.Enabled() {
		return nil
	}
	var vars []envLine
	for _, v := range []struct{ name, value string }{{"HTTP_PROXY", px.HTTP}, {"HTTPS_PROXY", px.HTTPS}, {"NO_PROXY", px.NoProxy}} {
		if v.value != "" {
			vars = append(vars, envLine{v.name, v.value}, envLine{strings.ToLower(v.name), v.value})
		}
	}
	text, err := renderEnv("Proxy settings of the plan, for the bootstrap downloads, containerd and every kisgen unit.", vars)
	if err != nil {
		return fmt.Errorf("%w: proxy settings: %v", ErrUnsupported, err)
	}
	c.proxyEnv = text
	return nil
}

// registryUpstreams are the registries the plan's registry mirror stands in for.
var registryUpstreams = []struct{ host, server string }{
	{"docker.io", "https://registry-1.docker.io"},
	{"ghcr.io", "https://ghcr.io"},
	{"quay.io", "https://quay.io"},
	{"registry.k8s.io", "https://registry.k8s.io"},
}

func (c *Cluster) renderCommon() error {
	add := func(path string, mode fs.FileMode, what, tmpl string, data any) error {
		text, err := templates.Execute(tmpl, data)
		if err != nil {
			return err
		}
		c.common = append(c.common, File{Path: path, Mode: mode, Content: text, What: what})
		return nil
	}
	sysctl := SysctlPath
	if err := add(sysctl, 0o644, "kernel settings for Kubernetes", "sysctl.conf", nil); err != nil {
		return err
	}
	if err := add(ModulesLoadPath, 0o644, "kernel modules for Kubernetes", "modules-load.conf", map[string]string{"Sysctl": sysctl}); err != nil {
		return err
	}
	cfg := map[string]string{"SandboxImage": PauseImage(c.p), "RuncBinary": BinDir + "/runc", "CNIBinDir": CNIBinDir, "CNIConfDir": CNIConfDir, "CertsDir": ContainerdCertsDir}
	if err := add(ContainerdConfigPath, 0o644, "containerd configuration", "containerd-config.toml", cfg); err != nil {
		return err
	}
	if reg := c.p.Mirror.Registry; reg != "" {
		for _, u := range registryUpstreams {
			data := map[string]string{"Upstream": u.host, "Server": u.server, "Mirror": "https://" + reg}
			if err := add(ContainerdCertsDir+"/"+u.host+"/hosts.toml", 0o644, "registry mirror for "+u.host, "containerd-hosts.toml", data); err != nil {
				return err
			}
		}
	}
	return nil
}

// kubernetesNodes are the plan's nodes that run a kubelet, in plan order.
func kubernetesNodes(p *plan.Plan) []*plan.Node {
	var out []*plan.Node
	for _, n := range p.Nodes {
		if n.IsKubernetesNode() {
			out = append(out, n)
		}
	}
	return out
}

// NodeMaskBits is the size of each Kubernetes node's pod subnet: a /24 when the pod
// range has room for one per node, otherwise the smallest that fits (the plan's
// validator guarantees at least 64 addresses per node).
func NodeMaskBits(p *plan.Plan) int {
	n := len(kubernetesNodes(p))
	bits := p.Network.PodCIDR.Bits()
	need := 0
	for 1<<need < n {
		need++
	}
	mask := bits + need
	if mask < 24 {
		mask = 24
	}
	if mask > 26 && bits+need <= 26 {
		mask = 26
	}
	if mask < bits {
		mask = bits
	}
	return mask
}

// carveSubnets gives each Kubernetes node, in plan order, its pod subnet of the pod
// range (bridge provider: host-local IPAM and static routes use them).
func (c *Cluster) carveSubnets() error {
	if !bridgeEnabled(c.p) {
		return nil
	}
	c.nodeMask = NodeMaskBits(c.p)
	base := c.p.Network.PodCIDR.Masked().Addr().As4()
	start := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	size := uint32(1) << (32 - c.nodeMask)
	nodes := kubernetesNodes(c.p)
	if uint64(len(nodes))*uint64(size) > uint64(1)<<(32-c.p.Network.PodCIDR.Bits()) {
		return fmt.Errorf("%w: the pod range %s has no room for %d node subnets of /%d", ErrUnsupported, c.p.Network.PodCIDR, len(nodes), c.nodeMask)
	}
	for i, n := range nodes {
		a := start + uint32(i)*size
		pfx := netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}), c.nodeMask)
		c.subnets[n.Host] = pfx
		c.routes = append(c.routes, bridgeRoute{subnet: pfx, via: n.InternalIP, host: n.Host})
	}
	return nil
}

func calicoEnabled(p *plan.Plan) bool {
	return !p.Network.CNIDisabled && p.Network.CNIProvider == "calico"
}

func bridgeEnabled(p *plan.Plan) bool {
	return !p.Network.CNIDisabled && p.Network.CNIProvider == "bridge"
}

// Node builds one node's model. It fails with ErrMissingSecret when the PKI lacks
// something the node needs.
func (c *Cluster) Node(n *plan.Node) (*Node, error) {
	if n == nil || n.Index < 0 || n.Index >= len(c.p.Nodes) || c.p.Nodes[n.Index] != n {
		return nil, fmt.Errorf("%w: %v", ErrNotInPlan, n)
	}
	b := &builder{c: c, p: c.p, n: n, files: map[string]File{}, versions: map[string]string{}}
	for _, step := range []func() error{b.base, b.etcd, b.master, b.virtualIP, b.kubernetesNode, b.network, b.sync, b.firstMasterAddOns, b.install} {
		if err := step(); err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Host, err)
		}
	}
	return b.finish()
}

// builder accumulates one node's model.
type builder struct {
	c *Cluster
	p *plan.Plan
	n *plan.Node

	files     map[string]File
	units     []Unit
	artifacts []Artifact
	versions  map[string]string
	ports     []Port
	preflight []Port // ports that must be free (includes ingress ports nothing of kisgen's opens)
	start     []string
	wait      []string
	hostKey   string
	warnings  []string
	exec      []string
}

// add adds a file; the same file added twice (a CA certificate a node needs for two
// roles) is kept once, two different files at one path are an error.
func (b *builder) add(f File) error {
	if have, dup := b.files[f.Path]; dup {
		if have.Content == f.Content && have.Mode == f.Mode {
			return nil
		}
		return fmt.Errorf("two different files at %s (%s, %s)", f.Path, have.What, f.What)
	}
	b.files[f.Path] = f
	return nil
}

func (b *builder) file(path string, mode fs.FileMode, what, content string) error {
	return b.add(File{Path: path, Mode: mode, Content: content, What: what})
}

// pair writes a certificate and, when keyPath is not "", its key (0600).
func (b *builder) pair(name, certPath, keyPath string) error {
	pr, ok := b.c.sec.Get(name)
	if !ok {
		return fmt.Errorf("%w: certificate %s (run `kisgen render` or `kisgen certs issue` to issue it)", ErrMissingSecret, name)
	}
	if certPath != "" {
		if len(pr.CertPEM) == 0 {
			return fmt.Errorf("%w: %s has no certificate", ErrMissingSecret, name)
		}
		if err := b.add(File{Path: certPath, Mode: 0o644, Content: string(pr.CertPEM), What: "certificate " + name}); err != nil {
			return err
		}
	}
	if keyPath != "" {
		if len(pr.KeyPEM) == 0 {
			return fmt.Errorf("%w: %s has no private key", ErrMissingSecret, name)
		}
		if err := b.add(File{Path: keyPath, Mode: 0o600, Content: string(pr.KeyPEM), Secret: true, What: "private key " + name}); err != nil {
			return err
		}
	}
	return nil
}

func (b *builder) unit(name, what, tmpl string, data any, start bool) error {
	text, err := templates.Execute(tmpl, data)
	if err != nil {
		return err
	}
	b.units = append(b.units, Unit{Name: name, Content: text, Start: start, What: what})
	if start {
		b.start = append(b.start, name)
	}
	return nil
}

func (b *builder) artifact(name string) {
	a := b.c.artifacts[name]
	a.Provides = append([]string(nil), a.Provides...)
	b.artifacts = append(b.artifacts, a)
	b.versions[name] = a.Version
	if a.SHA256 == "" && a.SumsURL == "" {
		b.warnings = append(b.warnings, fmt.Sprintf("%s %s is fetched from %s without a sha256 to check it against: list %s in mirror.checksums", name, a.Version, a.URL, a.MirrorPath))
	}
}

// unitData is the data every component unit template reads.
type unitData struct {
	Cluster, Host, Description, ProxyEnv, DetectedEnv, Path, BinDir, Config string
	EtcdEnv                                                                 string
	StatusPath, AddOnsStatusPath                                            string
	// Fetch is run before the bootstrap (kisgen-install.service); "" for none.
	Fetch string
	After []string
	Exec  []string
}

func (b *builder) unitData(description string, exec []string, after ...string) unitData {
	return unitData{Cluster: b.p.Name, Host: b.n.Host, Description: description, ProxyEnv: ProxyEnvPath, EtcdEnv: EtcdEnvPath,
		DetectedEnv: KubeletDetectedEnvPath, Path: UnitPath, BinDir: BinDir, Config: ContainerdConfigPath,
		StatusPath: StatusPath, AddOnsStatusPath: AddOnsStatusPath, After: after, Exec: exec}
}

// command returns bin followed by --flag=value for every flag, sorted by name, after
// applying the plan's overrides (overrides replace kisgen's values or add flags; the
// plan's validator refuses overrides of the flags kisgen must own).
func command(bin string, flags map[string]string, overrides map[string]string) []string {
	merged := make(map[string]string, len(flags)+len(overrides))
	for k, v := range flags {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]string, 0, len(keys)+1)
	out = append(out, bin)
	for _, k := range keys {
		out = append(out, "--"+k+"="+merged[k])
	}
	return out
}

func (b *builder) kubeconfig(path, user, certPath, keyPath string) error {
	build := func() (string, error) {
		return marshalYAML(newKubeconfig(b.p.Name, b.p.APIServerURL(), user, certPath, keyPath))
	}
	var text string
	var err error
	if strings.HasPrefix(user, pki.NodeUserPrefix) {
		// A kubelet's own user: no other node shares it, so keeping it would only hold
		// one string per node for the whole render.
		text, err = build()
	} else {
		text, err = b.c.memo("kubeconfig "+user+" "+certPath+" "+keyPath, build)
	}
	if err != nil {
		return err
	}
	return b.add(File{Path: path, Mode: 0o600, Content: text, Secret: false, What: "kubeconfig " + user})
}

func roleNames(n *plan.Node) []string {
	out := make([]string, len(n.Roles))
	for i, r := range n.Roles {
		out[i] = string(r)
	}
	return out
}

// finish sorts the model, computes its digest, writes node.env and the expectations.
func (b *builder) finish() (*Node, error) {
	n := b.n
	node := &Node{Host: n.Host, Roles: append([]plan.Role(nil), n.Roles...), Artifacts: b.artifacts, Warnings: b.warnings}
	if pfx, ok := b.c.subnets[n.Host]; ok {
		node.PodSubnet = pfx
	}
	node.Users = []User{{Name: b.p.SSH.User, SSHAuthorizedKeys: []string{b.c.in.SSHAuthorizedKey}, Shell: "/bin/bash"}}
	sort.Slice(b.units, func(i, j int) bool { return b.units[i].Name < b.units[j].Name })
	node.Units = b.units

	// The digest covers everything but node.env, which carries it.
	files := make([]File, 0, len(b.files)+1)
	for _, f := range b.files {
		if f.SHA256 == "" {
			f.SHA256 = sha256Hex(f.Content)
		}
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	for i := range node.Units {
		node.Units[i].SHA256 = sha256Hex(node.Units[i].Content)
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "file %s %o %s\n", f.Path, f.Mode, f.SHA256)
	}
	for _, u := range node.Units {
		fmt.Fprintf(h, "unit %s %t %t %s\n", u.Name, u.Enable, u.Start, u.SHA256)
	}
	for _, usr := range node.Users {
		fmt.Fprintf(h, "user %s %s %q\n", usr.Name, usr.Shell, usr.SSHAuthorizedKeys)
	}
	node.ConfigSHA256 = hex.EncodeToString(h.Sum(nil))

	env, err := b.nodeEnv(node.ConfigSHA256)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Host, err)
	}
	files = append(files, File{Path: NodeEnvPath, Mode: 0o644, Content: env, What: "node settings for the kisgen scripts", SHA256: sha256Hex(env)})
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	node.Files = files

	node.Expect = b.expectations(node)
	return node, nil
}

// Role minimums from the Kismatic guide: advisory, so the pre-flight warns.
var advised = map[plan.Role]struct{ cpus, memoryMB, diskGB int }{
	plan.RoleEtcd:    {1, 1024, 50},
	plan.RoleMaster:  {2, 2048, 50},
	plan.RoleWorker:  {1, 1024, 200},
	plan.RoleIngress: {1, 1024, 200},
	plan.RoleStorage: {1, 1024, 200},
}

// MinDiskFreeMB is the free space on / below which the pre-flight stops the install:
// room for the binaries, the image archives and the first etcd data.
const MinDiskFreeMB = 512

func (b *builder) nodeEnv(digest string) (string, error) {
	n := b.n
	cpus, mem, disk := 0, 0, 0
	for _, r := range n.Roles {
		a := advised[r]
		cpus, mem, disk = max(cpus, a.cpus), max(mem, a.memoryMB), max(disk, a.diskGB)
	}
	var ports []string
	for _, pt := range b.preflight {
		ports = append(ports, strconv.Itoa(pt.Port)+":"+strings.TrimSuffix(pt.Unit, ".service"))
	}
	var archives []string
	for _, a := range b.p.Mirror.ImageArchives {
		if !n.IsKubernetesNode() {
			break // an etcd-only node runs no containerd: nothing would import them
		}
		if strings.ContainsAny(a, " |\t") {
			return "", fmt.Errorf("%w: image archive path %q has a space or '|'", ErrUnsupported, a)
		}
		sha := b.c.in.Checksums[a]
		if sha == "" {
			sha = "-"
			b.warnings = append(b.warnings, fmt.Sprintf("image archive %s is imported without a sha256 to check it against: list it in mirror.checksums", a))
		}
		archives = append(archives, strings.TrimSuffix(b.p.Mirror.URL, "/")+"/"+a+"|"+sha+"|"+a)
	}
	apiURL := ""
	if n.Has(plan.RoleMaster) {
		apiURL = apiServerURL(b.p, n)
	}
	advisedExec := ""
	if n.IsKubernetesNode() {
		advisedExec = "conntrack"
	}
	etcdInitial, etcdJoin := b.etcdMembership()
	etcdPeer := ""
	if n.Has(plan.RoleEtcd) {
		etcdPeer = EtcdPeerURL(n)
	}
	vars := []envLine{
		{"KISGEN_HOST", n.Host},
		{"KISGEN_ROLES", strings.Join(roleNames(n), " ")},
		{"KISGEN_CLUSTER", b.p.Name},
		{"KISGEN_CONFIG_SHA256", digest},
		{"KISGEN_KUBERNETES_NODE", strconv.FormatBool(n.IsKubernetesNode())},
		{"KISGEN_NEEDS_DEFAULT_ROUTE", strconv.FormatBool(n.IsKubernetesNode() && !b.p.Network.CNIDisabled && b.p.Network.CNIProvider == "calico")},
		{"KISGEN_PACKAGE_INSTALLATION", strconv.FormatBool(b.p.PackageInstallation)},
		{"KISGEN_EXECUTABLES", strings.Join(b.exec, " ")},
		{"KISGEN_EXECUTABLES_ADVISED", advisedExec},
		{"KISGEN_PORTS", strings.Join(ports, " ")},
		{"KISGEN_MIN_DISK_FREE_MB", strconv.Itoa(MinDiskFreeMB)},
		{"KISGEN_ADVISED_DISK_GB", strconv.Itoa(disk)},
		{"KISGEN_ADVISED_CPUS", strconv.Itoa(cpus)},
		{"KISGEN_ADVISED_MEMORY_MB", strconv.Itoa(mem)},
		{"KISGEN_UNITS", strings.Join(b.start, " ")},
		{"KISGEN_WAIT_UNITS", strings.Join(b.wait, " ")},
		{"KISGEN_APISERVER_URL", apiURL},
		{"KISGEN_IMAGE_ARCHIVES", strings.Join(archives, " ")},
		{"KISGEN_ADDONS", b.addonList()},
		{"KISGEN_API_SERVER", b.p.APIServerURL()},
		{"KISGEN_MANAGE_HOSTS", strconv.FormatBool(b.p.Network.UpdateHostsFiles)},
		{"KISGEN_HOSTS_LB", b.c.lbLine()},
		{"KISGEN_ETCD_ENDPOINTS", b.etcdEndpoints()},
		{"KISGEN_ETCD_PEER_URL", etcdPeer},
		{"KISGEN_ETCD_INITIAL_CLUSTER", etcdInitial},
		{"KISGEN_ETCD_JOIN_ENDPOINTS", etcdJoin},
	}
	return renderEnv("Settings of node "+n.Host+" for the kisgen scripts (see roles.NodeEnvPath).", vars)
}

func (b *builder) addonList() string {
	if b.n == b.c.firstMaster {
		return b.c.addonList
	}
	return ""
}

func (b *builder) expectations(node *Node) Expectations {
	n := b.n
	e := Expectations{
		Units:          append([]string(nil), b.start...),
		Ports:          append([]Port(nil), b.ports...),
		KubernetesNode: n.IsKubernetesNode(),
		HostsBlock:     b.c.hostsBlock,
		SSHHostKey:     b.hostKey,
		Versions:       b.versions,
		StatusPath:     StatusPath,
		ConfigSHA256:   node.ConfigSHA256,
	}
	if n == b.c.firstMaster {
		e.AddOnsStatusPath = AddOnsStatusPath
	}
	for _, f := range node.Files {
		e.Files = append(e.Files, ExpectedFile{Path: f.Path, Mode: f.Mode, SHA256: f.SHA256})
	}
	for _, u := range node.Units {
		e.Files = append(e.Files, ExpectedFile{Path: UnitDir + "/" + u.Name, Mode: 0o644, SHA256: u.SHA256})
	}
	sort.Slice(e.Files, func(i, j int) bool { return e.Files[i].Path < e.Files[j].Path })
	if n.IsKubernetesNode() {
		e.Labels = nodeLabels(n)
		e.Taints = nodeTaints(n)
	}
	return e
}

func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// ControlPlaneTaint is put on masters that are not also workers, ingress or storage
// nodes, so that only control-plane pods (and DaemonSets) run there.
var ControlPlaneTaint = plan.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: "NoSchedule"}

func dedicatedMaster(n *plan.Node) bool {
	return n.Has(plan.RoleMaster) && !n.Has(plan.RoleWorker) && !n.Has(plan.RoleIngress) && !n.Has(plan.RoleStorage)
}

// nodeTaints are the taints the kubelet registers with.
func nodeTaints(n *plan.Node) []plan.Taint {
	out := append([]plan.Taint(nil), n.Taints...)
	if dedicatedMaster(n) {
		out = append(out, ControlPlaneTaint)
	}
	return out
}

// roleLabels are the node-role.kubernetes.io labels the first master applies.
func roleLabels(n *plan.Node) []string {
	var out []string
	for _, r := range n.Roles {
		switch r {
		case plan.RoleEtcd:
		case plan.RoleMaster:
			out = append(out, "node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")
		default:
			out = append(out, "node-role.kubernetes.io/"+string(r))
		}
	}
	return out
}

func nodeLabels(n *plan.Node) map[string]string {
	out := map[string]string{}
	for k, v := range n.Labels {
		out[k] = v
	}
	for _, l := range roleLabels(n) {
		out[l] = ""
	}
	for _, r := range n.Roles {
		out[RoleLabel(r)] = "true"
	}
	return out
}

// RoleLabel is the label a kubelet registers its node with for each of its roles
// (kisgen.io/role-worker=true). Kubelets may not set node-role.kubernetes.io labels
// themselves (NodeRestriction); the masters' kisgen-publish copies these to them, for
// nodes that join at any time.
func RoleLabel(r plan.Role) string { return "kisgen.io/role-" + string(r) }
