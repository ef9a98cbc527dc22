package roles

import (
	"strings"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
)

// sync: kisgen-sync.timer runs kisgen-sync every 2 to 3 minutes (and it, on masters,
// kisgen-publish), so that running nodes learn of nodes that join or leave from the
// cluster itself, never from new user-data:
//   - on masters it labels nodes with their node-role.kubernetes.io labels (from the
//     kisgen.io/role-ROLE labels their kubelets register with) and, where the plan
//     manages hosts files, publishes the hosts block (the Kubernetes nodes and the etcd
//     members, by name) in the HostsConfigMap;
//   - on every node where the plan manages hosts files, it merges that block into
//     /etc/hosts (masters read it with the admin credential, other nodes with the shared
//     HostsReader certificate, which may read that ConfigMap and nothing else).
//
// Nothing of it names another node, so a node's user-data stays byte-identical when
// nodes are added or removed (`kisgen diff` then lists only the new nodes).
func (b *builder) sync() error {
	master := b.n.Has(plan.RoleMaster)
	hosts := b.p.Network.UpdateHostsFiles
	if !master && !hosts {
		return nil
	}
	if hosts && !master {
		if err := b.pair(pki.CA, CACert, ""); err != nil {
			return err
		}
		if err := b.pair(pki.HostsReader, HostsReaderCert, HostsReaderKey); err != nil {
			return err
		}
	}
	if hosts && master {
		text, err := b.c.memo("hosts-reader-rbac", hostsReaderRBAC)
		if err != nil {
			return err
		}
		if err := b.file(HostsReaderRBACPath, 0o644, "RBAC: the hosts reader may read the "+HostsConfigMap+" ConfigMap", text); err != nil {
			return err
		}
	}
	if err := b.unit("kisgen-sync.service", "kisgen sync (role labels, hosts list)", "kisgen-sync.service", b.unitData("", nil), false); err != nil {
		return err
	}
	return b.unit("kisgen-sync.timer", "kisgen sync every 2 to 3 minutes", "kisgen-sync.timer", b.unitData("", nil), true)
}

// hostsReaderRBAC lets the HostsReader certificate get the HostsConfigMap, nothing more.
func hostsReaderRBAC() (string, error) {
	ns := "kube-system"
	name := "kisgen:hosts-reader"
	// A Role and a RoleBinding have the fields of their cluster-wide kinds, and a namespace.
	r := clusterRole{typeMeta: typeMeta{"rbac.authorization.k8s.io/v1", "Role"}, Metadata: objectMeta{Name: name, Namespace: ns, Labels: managedLabels()},
		Rules: []policyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{HostsConfigMap}, Verbs: []string{"get"}}}}
	rb := clusterRoleBinding{typeMeta: typeMeta{"rbac.authorization.k8s.io/v1", "RoleBinding"}, Metadata: objectMeta{Name: name, Namespace: ns, Labels: managedLabels()},
		RoleRef:  roleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: name},
		Subjects: []subject{{APIGroup: "rbac.authorization.k8s.io", Kind: "User", Name: pki.HostsReaderUser}}}
	return marshalYAMLDocs(r, rb)
}

// lbLine is the API servers' hosts entry ("IP NAME"), "" when the plan has none.
func (c *Cluster) lbLine() string {
	if c.lbEntry == nil {
		return ""
	}
	return c.lbEntry.IP + " " + c.lbEntry.Host
}

// etcdEndpoints are, on masters, where kisgen-sync lists the etcd members (the API
// servers' --etcd-servers); "" elsewhere.
func (b *builder) etcdEndpoints() string {
	if !b.n.Has(plan.RoleMaster) {
		return ""
	}
	return strings.Join(b.p.EtcdEndpoints(), ",")
}
