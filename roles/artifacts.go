package roles

import (
	"fmt"
	"strings"

	"github.com/kisgen/kisgen/plan"
)

// Artifact kinds.
const (
	KindFile     = "file"
	KindTar      = "tar"
	KindDirTar   = "dirtar"
	KindManifest = "manifest"
)

// Component names: the keys of Expectations.Versions, of the status file's versions and
// of the image manifest.
const (
	CompEtcd           = "etcd"
	CompAPIServer      = "kube-apiserver"
	CompControllerMgr  = "kube-controller-manager"
	CompScheduler      = "kube-scheduler"
	CompKubelet        = "kubelet"
	CompKubeProxy      = "kube-proxy"
	CompKubectl        = "kubectl"
	CompContainerd     = "containerd"
	CompRunc           = "runc"
	CompCNIPlugins     = "cni-plugins"
	CompCalicoctl      = "calicoctl"
	CompCalicoManifest = "calico-manifest"
)

// bridgePlugins are the CNI plugins the bridge provider needs (and containerd's loopback).
var bridgePlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// officialArtifacts lists, for the plan's versions, every artifact a node may need, by
// name, with the official URL and where the site publishes its sums.
func officialArtifacts(p *plan.Plan) map[string]Artifact {
	v := p.Versions
	k8s := func(name string) Artifact {
		u := "https://dl.k8s.io/release/" + v.Kubernetes + "/bin/linux/amd64/" + name
		return Artifact{Name: name, Version: v.Kubernetes, Kind: KindFile, URL: u, SumsURL: u + ".sha256", Provides: []string{name}, Dest: BinDir}
	}
	etcdDir := "etcd-" + v.Etcd + "-linux-amd64"
	etcdBase := "https://github.com/etcd-io/etcd/releases/download/" + v.Etcd + "/"
	ctrd := strings.TrimPrefix(v.Containerd, "v")
	ctrdURL := "https://github.com/containerd/containerd/releases/download/" + v.Containerd + "/containerd-" + ctrd + "-linux-amd64.tar.gz"
	runcBase := "https://github.com/opencontainers/runc/releases/download/" + v.Runc + "/"
	cniURL := "https://github.com/containernetworking/plugins/releases/download/" + v.CNIPlugins + "/cni-plugins-linux-amd64-" + v.CNIPlugins + ".tgz"
	calicoBase := "https://github.com/projectcalico/calico/releases/download/" + v.Calico + "/"
	out := map[string]Artifact{
		CompEtcd: {Name: CompEtcd, Version: v.Etcd, Kind: KindTar, URL: etcdBase + etcdDir + ".tar.gz", SumsURL: etcdBase + "SHA256SUMS",
			Provides: []string{etcdDir + "/etcd=etcd", etcdDir + "/etcdctl=etcdctl"}, Dest: BinDir},
		CompContainerd: {Name: CompContainerd, Version: v.Containerd, Kind: KindTar, URL: ctrdURL, SumsURL: ctrdURL + ".sha256sum",
			Provides: []string{"bin/containerd=containerd", "bin/containerd-shim-runc-v2=containerd-shim-runc-v2", "bin/ctr=ctr"}, Dest: BinDir},
		CompRunc: {Name: CompRunc, Version: v.Runc, Kind: KindFile, URL: runcBase + "runc.amd64", SumsURL: runcBase + "runc.sha256sum",
			Provides: []string{"runc"}, Dest: BinDir},
		CompCNIPlugins: {Name: CompCNIPlugins, Version: v.CNIPlugins, Kind: KindDirTar, URL: cniURL, SumsURL: cniURL + ".sha256",
			Provides: bridgePlugins, Dest: CNIBinDir},
		CompCalicoctl: {Name: CompCalicoctl, Version: v.Calico, Kind: KindFile, URL: calicoBase + "calicoctl-linux-amd64", SumsURL: calicoBase + "SHA256SUMS",
			Provides: []string{"calicoctl"}, Dest: BinDir},
		// The Calico manifest is too big for user-data (CRDs); the site publishes no sum
		// for it: mirror.checksums pins it, or kisgen's own sum of the release's file
		// (KnownSHA256) when there is no mirror.
		CompCalicoManifest: {Name: CompCalicoManifest, Version: v.Calico, Kind: KindManifest,
			URL: "https://raw.githubusercontent.com/projectcalico/calico/" + v.Calico + "/manifests/calico.yaml", Dest: AddOnsDir + "/calico/calico.yaml"},
	}
	for _, c := range []string{CompAPIServer, CompControllerMgr, CompScheduler, CompKubelet, CompKubeProxy, CompKubectl} {
		out[c] = k8s(c)
	}
	return out
}

// artifactNames returns the artifacts a node needs, in install order.
func artifactNames(p *plan.Plan, n *plan.Node, firstMaster bool) []string {
	var out []string
	if n.Has(plan.RoleEtcd) {
		out = append(out, CompEtcd)
	}
	if n.IsKubernetesNode() {
		out = append(out, CompContainerd, CompRunc, CompCNIPlugins)
	}
	if n.Has(plan.RoleMaster) {
		out = append(out, CompAPIServer, CompControllerMgr, CompScheduler, CompKubectl)
	}
	if n.IsKubernetesNode() {
		out = append(out, CompKubelet, CompKubeProxy)
	}
	if n.Has(plan.RoleMaster) && calicoEnabled(p) {
		out = append(out, CompCalicoctl)
		if firstMaster {
			out = append(out, CompCalicoManifest)
		}
	}
	return out
}

// locate points an artifact at the plan's mirror (official layout under a first path
// segment naming the site) and pins its sum from mirror.checksums.
func locate(p *plan.Plan, a Artifact, sums map[string]string) Artifact {
	a.MirrorPath = strings.TrimPrefix(a.URL, "https://")
	if base := strings.TrimSuffix(p.Mirror.URL, "/"); base != "" {
		a.URL = base + "/" + a.MirrorPath
		if a.SumsURL != "" {
			a.SumsURL = base + "/" + strings.TrimPrefix(a.SumsURL, "https://")
		}
	}
	a.SHA256 = sums[a.MirrorPath]
	if a.SHA256 == "" {
		// Files whose site publishes no sum (the Calico manifest) may be known to kisgen.
		a.SHA256 = plan.KnownSHA256(a.MirrorPath)
	}
	a.Provides = append([]string(nil), a.Provides...)
	return a
}

// PlanArtifacts lists every artifact the plan's nodes download, each once, in install
// order, located on the plan's mirror: what `kisgen mirror build` must provide (at
// MirrorPath under the mirror root). Sums are not pinned here.
func PlanArtifacts(p *plan.Plan) []Artifact {
	all := officialArtifacts(p)
	seen := map[string]bool{}
	var out []Artifact
	masters := p.NodesWith(plan.RoleMaster)
	for _, n := range p.Nodes {
		first := len(masters) > 0 && n == masters[0]
		for _, name := range artifactNames(p, n, first) {
			if !seen[name] {
				seen[name] = true
				out = append(out, locate(p, all[name], nil))
			}
		}
	}
	return out
}

// artifactLine is the artifact as a line of ArtifactsPath: NAME VERSION KIND URL SHA256
// SUMS_URL OPTIONAL PROVIDES DEST, tab-separated, "-" for empty fields.
func artifactLine(a Artifact) (string, error) {
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	opt := "no"
	if a.Optional {
		opt = "yes"
	}
	fields := []string{a.Name, a.Version, a.Kind, a.URL, dash(a.SHA256), dash(a.SumsURL), opt, dash(strings.Join(a.Provides, ",")), a.Dest}
	for _, f := range fields {
		if f == "" || strings.ContainsAny(f, "\t\n\r ") {
			return "", fmt.Errorf("%w: artifact %s field %q is empty or has white space", ErrUnsupported, a.Name, f)
		}
	}
	return strings.Join(fields, "\t") + "\n", nil
}
