package roles

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/plan"
)

// kubeAPIServerPort is kube-apiserver's --secure-port.
const kubeAPIServerPort = 6443

// apiServerURL is where this master's own kube-apiserver answers, for the bootstrap's
// health check (KISGEN_APISERVER_URL). With the virtual IP, HAProxy holds the port on
// 127.0.0.1 and the API server binds the master's own address (--bind-address below);
// HAProxy only starts once the API server is ready, so asking 127.0.0.1 there would wait
// for ever.
func apiServerURL(p *plan.Plan, n *plan.Node) string {
	host := "127.0.0.1"
	if virtualIPEnabled(p) {
		host = n.InternalIP.String()
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(kubeAPIServerPort))
}

// ServiceAccountIssuer is the issuer of service account tokens.
const ServiceAccountIssuer = "https://kubernetes.default.svc." + pki.ClusterDomain

// master: kube-apiserver, kube-controller-manager and kube-scheduler, with the CA key
// (the controller manager signs CSRs) and the service-account key pair. Every master
// also gets the admin credential so that `kisgen verify` can use kubectl there.
func (b *builder) master() error {
	n := b.n
	if !n.Has(plan.RoleMaster) {
		return nil
	}
	for _, c := range []struct{ name, cert, key string }{
		{pki.CA, CACert, CAKey},
		{pki.APIServer(n.Host), APIServerCert, APIServerKey},
		{pki.EtcdCA, EtcdCACert, ""},
		{pki.EtcdAPIServerClient, APIServerEtcdCert, APIServerEtcdKey},
		{pki.APIServerKubeletClient, APIServerKubeletCert, APIServerKubeletKey},
		{pki.FrontProxyCA, FrontProxyCACert, ""},
		{pki.FrontProxyClient, FrontProxyClientCert, FrontProxyClientKey},
		{pki.Admin, AdminCert, AdminKey},
		{pki.ControllerManager, ControllerMgrCert, ControllerMgrKey},
		{pki.Scheduler, SchedulerCert, SchedulerKey},
	} {
		if err := b.pair(c.name, c.cert, c.key); err != nil {
			return err
		}
	}
	sa, ok := b.c.sec.Get(pki.ServiceAccount)
	if !ok || len(sa.KeyPEM) == 0 || len(sa.PublicKeyPEM) == 0 {
		return missing(pki.ServiceAccount)
	}
	if err := b.add(File{Path: ServiceAccountKey, Mode: 0o600, Content: string(sa.KeyPEM), Secret: true, What: "private key " + pki.ServiceAccount}); err != nil {
		return err
	}
	if err := b.file(ServiceAccountPub, 0o644, "public key "+pki.ServiceAccount, string(sa.PublicKeyPEM)); err != nil {
		return err
	}
	for _, k := range []struct{ path, user, cert, key string }{
		{AdminKubeconfig, pki.AdminUser, AdminCert, AdminKey},
		{ControllerManagerKubeconfig, pki.ControllerManagerUser, ControllerMgrCert, ControllerMgrKey},
		{SchedulerKubeconfig, pki.SchedulerUser, SchedulerCert, SchedulerKey},
	} {
		if err := b.kubeconfig(k.path, k.user, k.cert, k.key); err != nil {
			return err
		}
	}

	p := b.p
	api := map[string]string{
		"advertise-address":                  n.InternalIP.String(),
		"allow-privileged":                   "true",
		"authorization-mode":                 "Node,RBAC",
		"client-ca-file":                     CACert,
		"enable-admission-plugins":           "NodeRestriction",
		"etcd-cafile":                        EtcdCACert,
		"etcd-certfile":                      APIServerEtcdCert,
		"etcd-keyfile":                       APIServerEtcdKey,
		"etcd-servers":                       strings.Join(p.EtcdEndpoints(), ","),
		"kubelet-certificate-authority":      CACert,
		"kubelet-client-certificate":         APIServerKubeletCert,
		"kubelet-client-key":                 APIServerKubeletKey,
		"kubelet-preferred-address-types":    "InternalIP,Hostname,ExternalIP",
		"profiling":                          "false",
		"proxy-client-cert-file":             FrontProxyClientCert,
		"proxy-client-key-file":              FrontProxyClientKey,
		"requestheader-allowed-names":        pki.FrontProxyClientUser,
		"requestheader-client-ca-file":       FrontProxyCACert,
		"requestheader-extra-headers-prefix": "X-Remote-Extra-",
		"requestheader-group-headers":        "X-Remote-Group",
		"requestheader-username-headers":     "X-Remote-User",
		"secure-port":                        strconv.Itoa(kubeAPIServerPort),
		"service-account-issuer":             ServiceAccountIssuer,
		"service-account-key-file":           ServiceAccountPub,
		"service-account-signing-key-file":   ServiceAccountKey,
		"service-cluster-ip-range":           p.Network.ServiceCIDR.String(),
		"tls-cert-file":                      APIServerCert,
		"tls-private-key-file":               APIServerKey,
	}
	if virtualIPEnabled(p) {
		// HAProxy serves the load balancer's port on the virtual IP and on 127.0.0.1
		// (roles/ha.go): the API server keeps to the master's own address.
		api["bind-address"] = n.InternalIP.String()
	}
	allocate := !bridgeEnabled(p)
	cm := map[string]string{
		"allocate-node-cidrs":              strconv.FormatBool(allocate),
		"authentication-kubeconfig":        ControllerManagerKubeconfig,
		"authorization-kubeconfig":         ControllerManagerKubeconfig,
		"bind-address":                     "127.0.0.1",
		"cluster-cidr":                     p.Network.PodCIDR.String(),
		"cluster-name":                     p.Name,
		"cluster-signing-cert-file":        CACert,
		"cluster-signing-key-file":         CAKey,
		"kubeconfig":                       ControllerManagerKubeconfig,
		"leader-elect":                     "true",
		"leader-elect-lease-duration":      leaderLease,
		"leader-elect-renew-deadline":      leaderRenew,
		"leader-elect-retry-period":        leaderRetry,
		"profiling":                        "false",
		"root-ca-file":                     CACert,
		"service-account-private-key-file": ServiceAccountKey,
		"service-cluster-ip-range":         p.Network.ServiceCIDR.String(),
		"use-service-account-credentials":  "true",
	}
	if allocate {
		cm["node-cidr-mask-size"] = strconv.Itoa(NodeMaskBits(p))
	}
	sched := map[string]string{
		"authentication-kubeconfig":   SchedulerKubeconfig,
		"authorization-kubeconfig":    SchedulerKubeconfig,
		"bind-address":                "127.0.0.1",
		"kubeconfig":                  SchedulerKubeconfig,
		"leader-elect":                "true",
		"leader-elect-lease-duration": leaderLease,
		"leader-elect-renew-deadline": leaderRenew,
		"leader-elect-retry-period":   leaderRetry,
		"profiling":                   "false",
	}
	units := []struct {
		name, what string
		flags      map[string]string
		comp       plan.Component
		after      []string
	}{
		{"kube-apiserver.service", "Kubernetes API server", api, plan.KubeAPIServer, nil},
		{"kube-controller-manager.service", "Kubernetes controller manager", cm, plan.KubeControllerManager, []string{"kube-apiserver.service"}},
		{"kube-scheduler.service", "Kubernetes scheduler", sched, plan.KubeScheduler, []string{"kube-apiserver.service"}},
	}
	for _, u := range units {
		bin := strings.TrimSuffix(u.name, ".service")
		data := b.unitData(u.what+" (kisgen)", command(BinDir+"/"+bin, u.flags, p.Overrides[u.comp]), u.after...)
		if err := b.unit(u.name, u.what, u.name, data, true); err != nil {
			return err
		}
		b.wait = append(b.wait, u.name)
	}
	b.listen(kubeAPIServerPort, "", "kube-apiserver.service")
	b.listen(10257, "127.0.0.1", "kube-controller-manager.service")
	b.listen(10259, "127.0.0.1", "kube-scheduler.service")
	for _, a := range []string{CompAPIServer, CompControllerMgr, CompScheduler, CompKubectl} {
		b.artifact(a)
	}
	return nil
}

// The controller manager's and the scheduler's leader election: a lease of 60 s renewed
// within 40 s, tried every 10 s (upstream: 15 s, 10 s, 2 s). A leader that cannot renew in
// time exits, and both restart from scratch, which loads a busy control plane further: on
// small or emulated masters the API server can take over 10 s to answer while Calico's
// CRDs are applied, and the upstream timing turns that into a restart loop. The cost is a
// slower handover when a master dies (up to a minute for the controllers; the API
// servers are not affected). Plan overrides can set other values.
const (
	leaderLease = "60s"
	leaderRenew = "40s"
	leaderRetry = "10s"
)

func missing(name string) error {
	return fmt.Errorf("%w: %s (run `kisgen render` or `kisgen certs issue` to issue it)", ErrMissingSecret, name)
}
