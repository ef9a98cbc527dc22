//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/mirror"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// TestCalicoCluster boots 1 etcd, 1 master and 2 workers with Calico in the mode
// KISGEN_E2E_CALICO names (routed or overlay; unset skips the test), everything from the
// loopback mirror `kisgen mirror build` made from source (KISGEN_SOURCES, default
// ../shared/src), and checks over SSH and the API, independently of verify's code: BGP
// Established between every pair of Calico nodes under the plan's AS, a pod on one
// worker reaching a pod on the other (routed: a BGP route, no tunnel; overlay: through
// tunl0), a ClusterIP Service answering from a node and a pod, CoreDNS resolving it
// (when the mirror has CoreDNS), and a NetworkPolicy that denies a client and one that
// lets it through. The workload is a tiny HTTP server the test builds itself. Then
// Kubernetes' own e2e suite runs (kisgen conformance run, KISGEN_E2E_CONFORMANCE's mode,
// network by default) and every spec must pass.
func TestCalicoCluster(t *testing.T) {
	mode := os.Getenv("KISGEN_E2E_CALICO")
	if mode == "" {
		t.Skip("KISGEN_E2E_CALICO is not set (routed or overlay)")
	}
	if mode != string(plan.ModeRouted) && mode != string(plan.ModeOverlay) {
		t.Fatalf("KISGEN_E2E_CALICO=%q: want routed or overlay", mode)
	}
	base := 2800
	if b, err := strconv.Atoi(os.Getenv("KISGEN_E2E_SSH_BASE")); err == nil {
		base = b
	}
	runCalicoCluster(t, plan.CalicoMode(mode), base)
}

// httpdSource is the workload: `httpd` serves "hello from HOSTNAME" on :8080;
// `httpd get URL` prints what URL answers (exit 1 after 5 s without an answer);
// `httpd sleep` waits, as a client pod to exec into.
const httpdSource = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "get" {
		c := http.Client{Timeout: 5 * time.Second}
		r, err := c.Get(os.Args[2])
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Print(string(b))
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		// Until the pod is deleted (a bare select {} is a deadlock the runtime kills).
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
		<-stop
		return
	}
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s\n", host) })
	fmt.Println(http.ListenAndServe(":8080", nil))
	os.Exit(1)
}
`

const httpdRef = "kisgen.local/e2e-httpd:1"

// writeHTTPDArchive builds the workload statically and packs it as an image archive.
func writeHTTPDArchive(t *testing.T, work, dst string) {
	t.Helper()
	src := filepath.Join(work, "httpd-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"go.mod": "module kisgen.local/httpd\n\ngo 1.22\n", "main.go": httpdSource} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "httpd", ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the workload: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(src, "httpd"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := mirror.WriteImageArchive(&buf, mirror.ImageSpec{Ref: httpdRef, Entrypoint: []string{"/httpd"},
		Files: []mirror.ArchiveFile{{Name: "httpd", Mode: 0o755, Data: bin}}}); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCalicoPlan is the minimal example on two VMs, as small as the pass criteria allow
// (at least one etcd node, one master and two workers): master1 holds etcd, the master
// and a worker, as Kismatic allowed (emulated VMs on two host cores cannot run more
// without starving the API server), and worker1 is the second worker. Calico in mode,
// network policy on in overlay mode (so that both settings run), CoreDNS on, the
// loopback mirror and every image archive the cluster needs: the workload and each
// add-on image (roles.ClusterImages, with `--image-archives cluster`'s logic).
func writeCalicoPlan(t *testing.T, dst string, mode plan.CalicoMode, mirrorPort, sshBase int, imageDir string) {
	t.Helper()
	doc := readExample(t, "minimal")
	doc["cluster"].(map[string]any)["name"] = "e2e-calico-" + string(mode)
	master := doc["master"].(map[string]any)["nodes"].([]any)[0].(map[string]any)
	self := map[string]any{"host": master["host"], "ip": master["ip"]}
	// master1 gets the largest size of its groups: the master default's two vCPUs, and
	// memory, set by none, the sum of the defaults. Two, not three: on two host cores the
	// provider weighs each VM's share by its vCPUs (3:1 left worker1 40 % of a core, too
	// little for its kubelet and calico-node, whose exec readiness probe then timed out),
	// and 2:1 gives master1 about 1.3 cores and worker1 0.7 when both are busy.
	doc["etcd"] = map[string]any{"expected_count": 1, "nodes": []any{self}}
	w := doc["worker"].(map[string]any)
	w["expected_count"] = 2
	w["nodes"] = append([]any{self}, w["nodes"].([]any)...)
	calico := map[string]any{"mode": string(mode), "as_number": 64600, "network_policy": mode == plan.ModeOverlay}
	// And the images of the e2e suite's specs that the test runs last.
	suite := conformanceMode(t)
	finishPlan(t, doc, dst, calico, mirrorPort, sshBase, imageDir, func(p *plan.Plan) []string { return conformanceArchives(p, suite) })
}

// readExample reads examples/NAME.yaml as a document to edit.
func readExample(t *testing.T, name string) map[string]any {
	t.Helper()
	return readDoc(t, filepath.Join(repoRoot(), "examples", name+".yaml"))
}

// finishPlan completes doc, an example plan whose nodes the test has set, as the Calico
// cluster tests run it: Calico with the settings calico, CoreDNS on and no other add-on,
// the Calico release kisgen builds from source, the loopback mirror and the qemu
// provider; then it writes the plan to dst with the image archives the nodes import:
// the workload's, every add-on image of the plan (roles.ClusterImages, with `--image-archives
// cluster`'s logic) and more's (nil for none). The archives depend on the plan itself
// (its versions, its add-ons), so it is written, loaded, and written again.
func finishPlan(t *testing.T, doc map[string]any, dst string, calico map[string]any, mirrorPort, sshBase int, imageDir string, more func(*plan.Plan) []string) {
	t.Helper()
	doc["add_ons"] = map[string]any{
		"cni":            map[string]any{"provider": "calico", "options": map[string]any{"calico": calico}},
		"dns":            map[string]any{"disable": false},
		"metrics_server": map[string]any{"disable": true},
		"dashboard":      map[string]any{"disable": true},
	}
	doc["versions"] = map[string]any{"calico": binbuild.CalicoVersion}
	doc["mirror"] = map[string]any{"url": fmt.Sprintf("http://10.0.2.100:%d", mirrorPort), "checksums": "mirror/SHA256SUMS"}
	accel := os.Getenv("KISGEN_E2E_ACCEL")
	if accel == "" {
		accel = "auto"
	}
	doc["provider"] = map[string]any{"name": "qemu", "qemu": map[string]any{"image": imageDir, "ssh_base_port": sshBase, "accel": accel}}
	write := func() {
		out, err := yaml.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	p := loadPlan(t, dst)
	archives := []string{"images/e2e-httpd.tar"}
	for _, img := range roles.ClusterImages(p) {
		archives = append(archives, img.Archive)
	}
	if more != nil {
		archives = append(archives, more(p)...)
	}
	doc["mirror"].(map[string]any)["image_archives"] = archives
	write()
}

func loadPlan(t *testing.T, file string) *plan.Plan {
	t.Helper()
	p, rep, err := plan.Load(file)
	if err != nil || p == nil || len(p.Nodes) == 0 {
		t.Fatalf("plan %s: %v %v", file, err, rep)
	}
	return p
}

func runCalicoCluster(t *testing.T, mode plan.CalicoMode, sshBase int) {
	r := newRun(t, "calico-"+string(mode))
	mirrorPort := freePort(t)
	writeCalicoPlan(t, r.planFile, mode, mirrorPort, sshBase, r.imageDir)
	p := loadPlan(t, r.planFile)
	writeHTTPDArchive(t, r.work, filepath.Join(r.mirrorDir, "images", "e2e-httpd.tar"))
	suite := conformanceMode(t)
	r.boot(p, mirrorPort, clusterMirrorArgs(suite)...)
	r.step("nodes, labels, pause pod", func() { checkCluster(t, p, r.addr, r.signer) })
	r.networkChecks(mode, suite)
	r.finish()
}

// clusterMirrorArgs are the `kisgen mirror build` arguments of the Calico and HA cluster
// tests: Calico and BIRD from the source tarballs (KISGEN_SOURCES, default ../shared/src
// beside the checkout), kisgen's pause image, and the e2e suite when suite is not off (so
// that its build is a mirror build's time).
func clusterMirrorArgs(suite string) []string {
	sources := os.Getenv(mirror.SourcesEnv)
	if sources == "" {
		sources = filepath.Join(repoRoot(), "..", "shared", "src")
	}
	args := []string{"--sources", sources, "--pause-image"}
	if suite != conformanceOff {
		args = append(args, "--conformance")
	}
	return args
}

// networkChecks are the cluster tests' checks of what Calico, kube-proxy and CoreDNS
// give the booted cluster (independently of verify's code): calico-node's probes, the BGP
// mesh, pod to pod across nodes, a Service from a node and a pod, DNS and NetworkPolicy;
// pods' isolation and the declared ports when the plan turns network policy on; then the
// e2e suite in mode suite unless it is off.
func (r *e2eRun) networkChecks(mode plan.CalicoMode, suite string) {
	c := &calicoCluster{t: r.t, p: r.p, addr: r.addr, key: r.signer}
	r.step("calico-node probes", c.checkProbes)
	r.step("BGP mesh", c.checkBGP)
	r.step("pods, Service, DNS, policy", func() { c.checkTraffic(mode) })
	if r.p.Network.NetworkPolicy {
		r.step("isolation, declared ports", c.checkIsolation)
	}
	if suite != conformanceOff {
		r.step("conformance "+suite, func() { r.conformance(suite) })
	}
}

type calicoCluster struct {
	t    *testing.T
	p    *plan.Plan
	addr map[string]string
	key  ssh.Signer
}

func (c *calicoCluster) on(host, cmd string) (string, error) {
	return sshRun(c.addr[host], c.p.SSH.User, c.key, cmd)
}

func (c *calicoCluster) kubectl(args string) (string, error) {
	master := c.p.NodesWith(plan.RoleMaster)[0]
	return c.on(master.Host, "sudo "+roles.BinDir+"/kubectl --kubeconfig "+roles.AdminKubeconfig+" "+args)
}

// apply creates a document given as JSON (kubectl reads JSON as YAML).
func (c *calicoCluster) apply(doc string) {
	c.t.Helper()
	master := c.p.NodesWith(plan.RoleMaster)[0]
	// apply is idempotent: an API server that timed out once under emulation (the
	// day-two test's first upgrade attempt failed on the OpenAPI download) is asked again.
	const attempts = 4
	for i := 1; ; i++ {
		out, err := c.on(master.Host, "echo "+shellQuote(doc)+" | sudo "+roles.BinDir+"/kubectl --kubeconfig "+roles.AdminKubeconfig+" apply -f -")
		if err == nil {
			return
		}
		if i == attempts {
			c.t.Fatalf("apply (%d attempts): %v\n%s\n%s", attempts, err, out, doc)
		}
		c.t.Logf("apply: attempt %d: %v: %s", i, err, strings.TrimSpace(out))
		time.Sleep(15 * time.Second)
	}
}

// checkBGP asks BIRD in every calico-node pod for its sessions: every other Calico node
// must be Established with the plan's AS as its neighbour's.
func (c *calicoCluster) checkBGP() {
	c.t.Helper()
	out, err := c.kubectl("-n kube-system get pods -l k8s-app=calico-node -o jsonpath='{range .items[*]}{.spec.nodeName} {.metadata.name}{\"\\n\"}{end}'")
	if err != nil {
		c.t.Fatalf("calico-node pods: %v\n%s", err, out)
	}
	pods := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			pods[f[0]] = f[1]
		}
	}
	var calicoNodes []*plan.Node
	for _, n := range c.p.Nodes {
		if n.IsKubernetesNode() {
			calicoNodes = append(calicoNodes, n)
		}
	}
	as := strconv.FormatUint(uint64(c.p.Network.ASNumber), 10)
	for _, n := range calicoNodes {
		pod, ok := pods[n.Host]
		if !ok {
			c.t.Errorf("%s: no calico-node pod (%v)", n.Host, pods)
			continue
		}
		text, err := c.kubectl("-n kube-system exec " + pod + " -c calico-node -- birdcl -s /var/run/calico/bird.ctl show protocols all")
		if err != nil {
			c.t.Errorf("%s: birdcl: %v\n%s", n.Host, err, text)
			continue
		}
		c.t.Logf("%s BIRD:\n%s", n.Host, text)
		// Each session: "Mesh_10_10_0_31 BGP master up … Established", then its
		// "Neighbor address:" and "Neighbor AS:" lines.
		state, neighborAS := map[string]string{}, map[string]string{}
		peer := ""
		for _, l := range strings.Split(text, "\n") {
			f := strings.Fields(l)
			switch {
			case len(f) >= 6 && f[1] == "BGP":
				peer = strings.ReplaceAll(strings.SplitN(f[0], "_", 2)[1], "_", ".")
				state[peer] = f[5]
			case len(f) == 3 && f[0] == "Neighbor" && f[1] == "AS:":
				neighborAS[peer] = f[2]
			}
		}
		for _, o := range calicoNodes {
			ip := o.InternalIP.String()
			if o == n {
				continue
			}
			if state[ip] != "Established" || neighborAS[ip] != as {
				c.t.Errorf("%s → %s: BGP %q, neighbour AS %q, want Established in AS %s", n.Host, o.Host, state[ip], neighborAS[ip], as)
			}
		}
	}
}

type podInfo struct{ name, node, ip string }

// checkTraffic runs two servers (one per worker) and a client next to the first, then
// checks pod to pod across nodes, the path the traffic takes, a Service from a node and
// a pod, DNS, and NetworkPolicies.
func (c *calicoCluster) checkTraffic(mode plan.CalicoMode) {
	c.t.Helper()
	workers := c.p.NodesWith(plan.RoleWorker)
	if len(workers) < 2 {
		c.t.Fatal("the plan needs 2 workers")
	}
	pod := func(name, node, role string, args []string) string {
		return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":"default","labels":{"app":%q,"name":%q}},
"spec":{"nodeName":%q,"containers":[{"name":"c","image":%q,"imagePullPolicy":"Never","args":%s,"ports":[{"containerPort":8080}]}]}}`,
			name, role, name, node, httpdRef, jsonList(args))
	}
	c.apply(pod("server-a", workers[0].Host, "web", nil))
	c.apply(pod("server-b", workers[1].Host, "web", nil))
	c.apply(pod("client", workers[0].Host, "client", []string{"sleep"}))
	pods := map[string]podInfo{}
	deadline := time.Now().Add(podWait)
	for _, name := range []string{"server-a", "server-b", "client"} {
		for {
			out, err := c.kubectl("get pod " + name + " -o jsonpath={.status.phase}/{.status.podIP}")
			if err == nil && strings.HasPrefix(out, "Running/") && len(out) > len("Running/") {
				pods[name] = podInfo{name: name, ip: strings.TrimSpace(strings.TrimPrefix(out, "Running/"))}
				break
			}
			if time.Now().After(deadline) {
				desc, _ := c.kubectl("describe pod " + name)
				c.t.Fatalf("pod %s not Running after %s (%s):\n%s", name, podWait, out, desc)
			}
			time.Sleep(10 * time.Second)
		}
	}
	get := func(url string) (string, error) { return c.kubectl("exec client -- /httpd get " + url) }

	// Pod to pod across nodes (with network policy on, once the declared-ports
	// controller has opened server-b's declared port).
	b := pods["server-b"].ip
	if out, ok := c.eventually(func() (string, bool) {
		out, err := get("http://" + b + ":8080/")
		return out, err == nil && strings.Contains(out, "hello from server-b")
	}); !ok {
		c.t.Errorf("client on %s → server-b on %s (%s): %q", workers[0].Host, workers[1].Host, b, out)
	}
	// The path: routed mode learns server-b's block over BGP and sends it straight to
	// worker2; overlay mode sends it into tunl0.
	route, err := c.on(workers[0].Host, "ip route get "+b)
	switch {
	case err != nil:
		c.t.Errorf("ip route get %s on %s: %v %s", b, workers[0].Host, err, route)
	case mode == plan.ModeRouted && (strings.Contains(route, "tunl0") || !strings.Contains(route, "via "+workers[1].InternalIP.String())):
		c.t.Errorf("routed mode: %s reaches %s by %q, want via %s without a tunnel", workers[0].Host, b, route, workers[1].InternalIP)
	case mode == plan.ModeOverlay && !strings.Contains(route, "dev tunl0"):
		c.t.Errorf("overlay mode: %s reaches %s by %q, want dev tunl0", workers[0].Host, b, route)
	}
	c.t.Logf("%s → %s: %s", workers[0].Host, b, strings.TrimSpace(route))

	// A ClusterIP Service, from a node and from a pod.
	c.apply(`{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},"spec":{"selector":{"app":"web"},"ports":[{"port":80,"targetPort":8080}]}}`)
	ip, err := c.kubectl("get service web -o jsonpath={.spec.clusterIP}")
	ip = strings.TrimSpace(ip)
	if err != nil || ip == "" {
		c.t.Fatalf("service web: %v %q", err, ip)
	}
	var out string
	for i := 0; i < 10; i++ {
		if out, err = c.on(workers[1].Host, "curl -sS --max-time 5 http://"+ip+"/"); err == nil && strings.Contains(out, "hello from server-") {
			break
		}
		time.Sleep(5 * time.Second)
	}
	if err != nil || !strings.Contains(out, "hello from server-") {
		c.t.Errorf("Service %s from node %s: %v %q", ip, workers[1].Host, err, out)
	}
	if out, err := get("http://" + ip + "/"); err != nil || !strings.Contains(out, "hello from server-") {
		c.t.Errorf("Service %s from pod client: %v %q", ip, err, out)
	}
	if out, err := get("http://web.default.svc.cluster.local/"); err != nil || !strings.Contains(out, "hello from server-") {
		c.t.Errorf("web.default.svc.cluster.local from pod client: %v %q", err, out)
	}

	// NetworkPolicy: only pods named "friend" may reach the servers, so client is
	// denied; then a second policy lets client in.
	c.apply(`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"web-friends","namespace":"default"},
"spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"name":"friend"}}}]}]}}`)
	denied := false
	for i := 0; i < 12 && !denied; i++ {
		_, err := get("http://" + b + ":8080/")
		denied = err != nil
		if !denied {
			time.Sleep(5 * time.Second)
		}
	}
	if !denied {
		c.t.Error("a NetworkPolicy that admits only name=friend did not block client")
	}
	c.apply(`{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy","metadata":{"name":"web-client","namespace":"default"},
"spec":{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress"],"ingress":[{"from":[{"podSelector":{"matchLabels":{"name":"client"}}}],"ports":[{"port":8080}]}]}}`)
	allowed := false
	for i := 0; i < 12 && !allowed; i++ {
		out, err := get("http://" + b + ":8080/")
		allowed = err == nil && strings.Contains(out, "hello from server-b")
		if !allowed {
			time.Sleep(5 * time.Second)
		}
	}
	if !allowed {
		c.t.Error("a NetworkPolicy that admits name=client did not let client through")
	}
}

// eventually retries probe every 5 s for up to a minute and returns its last output and
// whether it succeeded (policies take effect a few seconds after they are written).
func (c *calicoCluster) eventually(probe func() (string, bool)) (string, bool) {
	var out string
	for i := 0; i < 12; i++ {
		var ok bool
		if out, ok = probe(); ok {
			return out, true
		}
		time.Sleep(5 * time.Second)
	}
	return out, false
}

// checkProbes: the calico-node DaemonSet runs with kisgen's probes merged into the
// manifest's: liveness asks felix's health port (the patch replaced the exec handler, no
// process started), readiness keeps the exec handler for BIRD's sessions, on kisgen's
// schedule.
func (c *calicoCluster) checkProbes() {
	c.t.Helper()
	out, err := c.kubectl("-n kube-system get daemonset calico-node -o jsonpath='{.spec.template.spec.containers[0].livenessProbe}'")
	if err != nil || !strings.Contains(out, `"path":"/liveness"`) || !strings.Contains(out, `"port":9099`) || strings.Contains(out, `"exec"`) {
		c.t.Errorf("calico-node liveness probe: %v %s; want an HTTP GET of localhost:9099/liveness and no exec handler", err, out)
	}
	out, err = c.kubectl("-n kube-system get daemonset calico-node -o jsonpath='{.spec.template.spec.containers[0].readinessProbe}'")
	if err != nil || !strings.Contains(out, `"-bird-ready"`) || !strings.Contains(out, `"periodSeconds":20`) || !strings.Contains(out, `"timeoutSeconds":30`) {
		c.t.Errorf("calico-node readiness probe: %v %s", err, out)
	}
}

// checkIsolation (network policy on): a pod that declares no port is unreachable from
// another pod although it listens; a pod that declares its port is reachable, through the
// declared-ports controller's label and policy.
func (c *calicoCluster) checkIsolation() {
	c.t.Helper()
	workers := c.p.NodesWith(plan.RoleWorker)
	for _, pd := range []struct{ name, ports string }{{"hidden", "[]"}, {"declared", `[{"containerPort":8080}]`}} {
		c.apply(fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":"default","labels":{"app":%q}},
"spec":{"nodeName":%q,"containers":[{"name":"c","image":%q,"imagePullPolicy":"Never","ports":%s}]}}`, pd.name, pd.name, workers[1].Host, httpdRef, pd.ports))
	}
	ip := map[string]string{}
	for _, name := range []string{"hidden", "declared"} {
		out, ok := c.eventually(func() (string, bool) {
			out, err := c.kubectl("get pod " + name + " -o jsonpath={.status.phase}/{.status.podIP}")
			return out, err == nil && strings.HasPrefix(out, "Running/") && len(out) > len("Running/")
		})
		if !ok {
			c.t.Fatalf("pod %s not Running: %s", name, out)
		}
		ip[name] = strings.TrimPrefix(strings.TrimSpace(out), "Running/")
	}
	get := func(url string) (string, error) { return c.kubectl("exec client -- /httpd get " + url) }
	if out, ok := c.eventually(func() (string, bool) {
		out, err := get("http://" + ip["declared"] + ":8080/")
		return out, err == nil && strings.Contains(out, "hello from declared")
	}); !ok {
		c.t.Errorf("a pod that declares port 8080 is not reachable on it: %q", out)
	}
	if out, err := c.kubectl("get pod declared -o jsonpath={.metadata.labels}"); err != nil || !strings.Contains(out, "declared-ports.kisgen.io/set") {
		c.t.Errorf("the declared pod has no set label: %v %s", err, out)
	}
	if out, err := get("http://" + ip["hidden"] + ":8080/"); err == nil {
		c.t.Errorf("a pod that declares no port answered on 8080 (pods are not isolated): %q", out)
	}
	if out, err := c.kubectl("get networkpolicies.crd.projectcalico.org -n default -o name"); err != nil || !strings.Contains(out, "kisgen-declared-ports-") {
		c.t.Errorf("no declared-ports policy in default: %v %s", err, out)
	}
}

func jsonList(s []string) string {
	if len(s) == 0 {
		return "[]"
	}
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ",") + "]"
}
