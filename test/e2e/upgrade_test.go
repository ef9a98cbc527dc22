//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kisgen/kisgen/plan"
)

// Upgrade versions of TestDayTwo: the cluster boots at upgradeFrom and `kisgen upgrade`
// takes it to upgradeTo, two patch releases both built into the test's mirror
// (KISGEN_E2E_UPGRADE=off boots the default version and leaves the upgrade out).
var (
	upgradeFrom = envString("KISGEN_E2E_UPGRADE_FROM", "v1.36.1")
	upgradeTo   = envString("KISGEN_E2E_UPGRADE_TO", "v1.36.3")
	upgradeOn   = os.Getenv("KISGEN_E2E_UPGRADE") != "off"
)

func envString(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// upgradeNodePort is where the upgrade's Service answers on every Kubernetes node.
const upgradeNodePort = 30480

// upgradeWorkload is a Service of two httpd replicas on different nodes, a
// PodDisruptionBudget that keeps one available, a readiness probe, and a preStop pause
// so that a pod being evicted keeps answering while its endpoint leaves every node's
// kube-proxy rules (as any workload that must not drop requests does).
func upgradeWorkload() string {
	return `{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"upgrade-web","namespace":"default"},"spec":{
 "replicas":2,"selector":{"matchLabels":{"app":"upgrade-web"}},
 "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxUnavailable":0}},
 "template":{"metadata":{"labels":{"app":"upgrade-web"}},"spec":{
  "terminationGracePeriodSeconds":30,
  "affinity":{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{"topologyKey":"kubernetes.io/hostname","labelSelector":{"matchLabels":{"app":"upgrade-web"}}}}]}},
  "tolerations":[{"key":"node-role.kubernetes.io/control-plane","operator":"Exists","effect":"NoSchedule"}],
  "containers":[{"name":"httpd","image":"` + httpdRef + `","imagePullPolicy":"Never","ports":[{"containerPort":8080}],
   "readinessProbe":{"httpGet":{"path":"/","port":8080},"periodSeconds":2,"failureThreshold":1},
   "lifecycle":{"preStop":{"sleep":{"seconds":15}}}}]}}}},
{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"upgrade-web","namespace":"default"},"spec":{
 "minAvailable":1,"selector":{"matchLabels":{"app":"upgrade-web"}}}},
{"apiVersion":"v1","kind":"Service","metadata":{"name":"upgrade-web","namespace":"default"},"spec":{
 "type":"NodePort","selector":{"app":"upgrade-web"},"ports":[{"port":80,"targetPort":8080,"nodePort":` + strconv.Itoa(upgradeNodePort) + `}]}}]}`
}

// upgradeClient runs on a node the upgrade does not replace (an etcd-only member) and asks the
// Service twice a second through a node's NodePort, as a load balancer in front of the
// cluster would: a node is a target while the API lists it Ready and schedulable
// (TARGETS, kept current by the test: a node leaves it when it is cordoned for its drain)
// and its kube-proxy's /healthz answers (the check cloud load balancers make). Every
// request is logged: "TIME NODE CODE". It stops when STOP exists.
const upgradeClient = `targets=/tmp/kisgen-upgrade-targets log=/tmp/kisgen-upgrade-requests stop=/tmp/kisgen-upgrade-stop
rm -f "$log" "$stop"
i=0
while [ ! -e "$stop" ]; do
	mapfile -t nodes <"$targets"
	pick=-
	for ((k = 0; k < ${#nodes[@]}; k++)); do
		n=${nodes[(i + k) % ${#nodes[@]}]}
		if curl -fsS -m 2 -o /dev/null "http://$n:10256/healthz" 2>/dev/null; then
			pick=$n
			break
		fi
	done
	i=$((i + 1))
	code=000
	if [ "$pick" != - ]; then
		code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$pick:` + "NODEPORT" + `/" || true)
	fi
	echo "$(date +%s.%N) $pick $code" >>"$log"
	sleep 0.5
done
`

// upgrade is TestDayTwo's last step: build upgradeTo into the mirror, render, run
// `kisgen upgrade` while upgradeClient asks the Service, then check that every node runs
// upgradeTo and that no request failed.
func (r *e2eRun) upgrade(c *calicoCluster, mirrorArgs []string) {
	t := r.t
	c.apply(upgradeWorkload())
	waitFor(t, "upgrade-web's two replicas ready", podWait, func() error {
		out, err := c.kubectl("get deployment upgrade-web -o jsonpath={.status.readyReplicas}")
		if err != nil || strings.TrimSpace(out) != "2" {
			return fmt.Errorf("%v: ready %q", err, out)
		}
		return nil
	})
	client := ""
	for _, n := range c.p.NodesWith(plan.RoleEtcd) {
		if !n.IsKubernetesNode() && client == "" {
			client = n.Host
		}
	}
	if client == "" {
		t.Fatal("upgrade: the plan has no etcd-only node for the client")
	}
	var kube []string
	ipOf := map[string]string{}
	for _, n := range c.p.Nodes {
		if n.IsKubernetesNode() {
			kube = append(kube, n.Host)
			ipOf[n.Host] = n.InternalIP.String()
		}
	}

	// The targets: Ready and schedulable nodes, as the API says every 3 s (while the
	// API answers: during the single master's replacement the last list stays).
	writeTargets := func() (string, error) {
		out, err := c.kubectl(`get nodes -o jsonpath='{range .items[*]}{.metadata.name} {.spec.unschedulable} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}'`)
		if err != nil {
			return "", err
		}
		var ips []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			f := strings.Fields(line)
			if len(f) == 2 && f[1] == "True" && ipOf[f[0]] != "" {
				ips = append(ips, ipOf[f[0]])
			}
		}
		list := strings.Join(ips, "\n")
		_, err = c.on(client, "printf '%s\\n' "+shellQuote(list)+" >/tmp/kisgen-upgrade-targets.tmp && mv /tmp/kisgen-upgrade-targets.tmp /tmp/kisgen-upgrade-targets")
		return list, err
	}
	if _, err := writeTargets(); err != nil {
		t.Fatalf("upgrade: the client's targets: %v", err)
	}
	script := strings.ReplaceAll(upgradeClient, "NODEPORT", strconv.Itoa(upgradeNodePort))
	if out, err := c.on(client, "printf '%s' "+shellQuote(script)+" >/tmp/kisgen-upgrade-client && (setsid nohup bash /tmp/kisgen-upgrade-client >/dev/null 2>&1 &)"); err != nil {
		t.Fatalf("upgrade: start the client on %s: %v\n%s", client, err, out)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := ""
		for {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Second):
			}
			if list, err := writeTargets(); err == nil && list != last {
				t.Logf("upgrade: load balancer targets now [%s]", strings.ReplaceAll(list, "\n", " "))
				last = list
			}
		}
	}()

	doc := readDoc(t, r.planFile)
	doc["cluster"].(map[string]any)["version"] = upgradeTo
	writeDoc(t, r.planFile, doc)
	t0 := time.Now()
	r.kisgen(commandWait, append([]string{"mirror", "build", "-f", r.planFile, "--out", r.mirrorDir, "--cache", userCache(t)}, mirrorArgs...)...)
	r.ph.add("upgrade: mirror build "+upgradeTo, time.Since(t0))
	before := r.userdata()
	r.kisgen(commandWait, "render", "-f", r.planFile)
	after := r.userdata()
	for _, n := range c.p.NodesWith(plan.RoleEtcd) {
		if !n.IsKubernetesNode() && !bytes.Equal(before[n.Host], after[n.Host]) {
			t.Errorf("etcd node %s's user-data changed with the Kubernetes version", n.Host)
		}
	}
	t0 = time.Now()
	r.kisgen(3*verifyWait, "upgrade", "qemu", "-f", r.planFile)
	r.ph.add("upgrade: kisgen upgrade", time.Since(t0))
	r.refreshAddrs()
	// A last round after the upgrade: the new nodes are targets again.
	time.Sleep(20 * time.Second)
	close(stop)
	wg.Wait()
	if _, err := c.on(client, "touch /tmp/kisgen-upgrade-stop"); err != nil {
		t.Errorf("upgrade: stop the client: %v", err)
	}
	time.Sleep(3 * time.Second)
	out, err := c.on(client, "cat /tmp/kisgen-upgrade-requests")
	if err != nil {
		t.Fatalf("upgrade: the client's log: %v", err)
	}
	var total, failed int
	perNode := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		total++
		perNode[f[1]]++
		if f[2] != "200" {
			failed++
			t.Logf("upgrade: failed request: %s", line)
		}
	}
	t.Logf("upgrade %s -> %s: %d requests to the Service during the upgrade, %d failed (by node: %v)", upgradeFrom, upgradeTo, total, failed, perNode)
	if total == 0 || failed > 0 {
		t.Errorf("upgrade: %d of %d requests failed", failed, total)
	}
	versions, err := c.kubectl(`get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.nodeInfo.kubeletVersion} {end}'`)
	if err != nil {
		t.Fatalf("upgrade: node versions: %v\n%s", err, versions)
	}
	for _, host := range kube {
		if !strings.Contains(versions, host+"="+upgradeTo) {
			t.Errorf("upgrade: %s does not run kubelet %s: %s", host, upgradeTo, versions)
		}
	}
	server, err := c.kubectl("get --raw /version")
	if err != nil || !strings.Contains(server, `"gitVersion": "`+upgradeTo+`"`) {
		t.Errorf("upgrade: the API server is not %s: %v\n%s", upgradeTo, err, server)
	}
}
