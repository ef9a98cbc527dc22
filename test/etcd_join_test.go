package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/pki"
	"github.com/kisgen/kisgen/roles"
)

// TestEtcdMembersJoinByThemselves runs kisgen-etcd-join, as the user-data carries it,
// against real etcd members on loopback: a founding member starts the cluster when
// nothing answers; a member added later joins the running cluster (member add with the
// health-check certificate, state existing); a replaced member (same address, no data)
// removes the member it replaces and joins again, with quorum kept; a member that is not
// a founding one and finds no cluster fails with the reason.
func TestEtcdMembersJoinByThemselves(t *testing.T) {
	etcd, etcdctl := etcdBinaries(t)
	p, b, _ := issue(t, etcdPlan)
	c, err := roles.NewCluster(p, b, roles.Inputs{SSHAuthorizedKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.Node(p.Node("etcd1"))
	if err != nil {
		t.Fatal(err)
	}
	scripts := t.TempDir()
	for _, f := range m.Files {
		if f.Path == roles.LibPath || f.Path == roles.BinDir+"/kisgen-etcd-join" {
			writeTo(t, scripts, filepath.Base(f.Path), []byte(f.Content))
		}
	}
	certs := files(t, b, pki.EtcdServer("etcd1"), pki.EtcdPeer("etcd1"), pki.EtcdServer("etcd2"), pki.EtcdPeer("etcd2"),
		pki.EtcdServer("etcd3"), pki.EtcdPeer("etcd3"), pki.EtcdHealthcheckClient)
	ca, _ := b.Get(pki.EtcdCA)
	writeTo(t, certs, "etcd-ca.pem", ca.CertPEM)
	cert := func(name string) string { return filepath.Join(certs, name) }

	ports := freePorts(t, 6)
	type member struct {
		host           string
		client, peer   string
		data, env      string
		founding, join string
		proc           *exec.Cmd
	}
	newMember := func(host string, client, peer int, founding, join string) *member {
		dir := t.TempDir()
		return &member{host: host, client: url(client), peer: url(peer), data: filepath.Join(dir, "data"), env: filepath.Join(dir, "etcd.env"), founding: founding, join: join}
	}
	e1 := newMember("etcd1", ports[0], ports[1], "", "")
	e1.founding = "etcd1=" + e1.peer
	e2 := newMember("etcd2", ports[2], ports[3], "", e1.client)
	e3 := newMember("etcd3", ports[4], ports[5], "", e1.client+","+e2.client)

	joinScript := func(mb *member) (string, error) {
		nodeEnv := filepath.Join(filepath.Dir(mb.env), "node.env")
		writeTo(t, filepath.Dir(nodeEnv), "node.env", []byte(fmt.Sprintf("KISGEN_HOST='%s'\nKISGEN_ETCD_PEER_URL='%s'\nKISGEN_ETCD_INITIAL_CLUSTER='%s'\nKISGEN_ETCD_JOIN_ENDPOINTS='%s'\n",
			mb.host, mb.peer, mb.founding, mb.join)))
		cmd := exec.Command("bash", filepath.Join(scripts, "kisgen-etcd-join"))
		cmd.Env = append(os.Environ(), "KISGEN_LIB="+filepath.Join(scripts, "kisgen.sh"), "KISGEN_NODE_ENV="+nodeEnv,
			"KISGEN_ETCD_DATA_DIR="+mb.data, "KISGEN_ETCD_ENV="+mb.env, "KISGEN_ETCDCTL="+etcdctl, "KISGEN_ETCD_JOIN_TRIES=1",
			"KISGEN_ETCD_CACERT="+cert("etcd-ca.pem"), "KISGEN_ETCD_CERT="+cert(pki.EtcdHealthcheckClient+".pem"),
			"KISGEN_ETCD_KEY="+cert(pki.EtcdHealthcheckClient+"-key.pem"), "KISGEN_STATE_DIR="+filepath.Dir(mb.env))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// startEtcd starts a member as etcd.service does: its flags, and the initial cluster
	// and state from the environment file kisgen-etcd-join wrote.
	startEtcd := func(mb *member) {
		t.Helper()
		data, err := os.ReadFile(mb.env)
		if err != nil {
			t.Fatalf("%s: no environment file: %v", mb.host, err)
		}
		cmd := exec.Command(etcd, "--name", mb.host, "--data-dir", mb.data,
			"--listen-client-urls", mb.client, "--advertise-client-urls", mb.client,
			"--listen-peer-urls", mb.peer, "--initial-advertise-peer-urls", mb.peer, "--initial-cluster-token", "etcdtest-etcd",
			"--cert-file", cert(pki.EtcdServer(mb.host)+".pem"), "--key-file", cert(pki.EtcdServer(mb.host)+"-key.pem"),
			"--trusted-ca-file", cert("etcd-ca.pem"), "--client-cert-auth",
			"--peer-cert-file", cert(pki.EtcdPeer(mb.host)+".pem"), "--peer-key-file", cert(pki.EtcdPeer(mb.host)+"-key.pem"),
			"--peer-trusted-ca-file", cert("etcd-ca.pem"), "--peer-client-cert-auth", "--peer-cert-allowed-cn", pki.EtcdPeerCN,
			"--log-level", "warn")
		cmd.Env = os.Environ()
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			cmd.Env = append(cmd.Env, l)
		}
		mb.proc = testtool.StartCmd(t, mb.host+".log", cmd)
	}
	ctl := func(endpoints string, args ...string) (string, error) {
		return runOut(etcdctl, append([]string{"--endpoints", endpoints, "--cacert", cert("etcd-ca.pem"),
			"--cert", cert(pki.EtcdHealthcheckClient + ".pem"), "--key", cert(pki.EtcdHealthcheckClient + "-key.pem"),
			"--dial-timeout", "3s", "--command-timeout", "10s"}, args...)...)
	}
	healthy := func(n int, endpoints string) {
		t.Helper()
		testtool.WaitFor(t, fmt.Sprintf("%d healthy etcd members", n), 90*time.Second, func() error {
			out, err := ctl(endpoints, "endpoint", "health", "--cluster")
			if err != nil || strings.Count(out, "is healthy") != n {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}

	t.Run("a new member with no cluster to join fails", func(t *testing.T) {
		out, err := joinScript(e2)
		if err == nil || !strings.Contains(out, "no member of the running etcd cluster answers") {
			t.Fatalf("joined nothing: %v\n%s", err, out)
		}
	})

	out, err := joinScript(e1)
	if err != nil || !strings.Contains(out, "a founding member starts it") {
		t.Fatalf("founding member: %v\n%s", err, out)
	}
	startEtcd(e1)
	healthy(1, e1.client)

	// kisgen-sync on masters reads the member list from etcd's JSON API with curl and
	// picks "name" and the first of "peerURLs" from each member: etcd answers so.
	out, err = runOut("curl", "-fsS", "--cacert", cert("etcd-ca.pem"), "--cert", cert(pki.EtcdHealthcheckClient+".pem"),
		"--key", cert(pki.EtcdHealthcheckClient+"-key.pem"), "-X", "POST", "-d", "{}", e1.client+"/v3/cluster/member/list")
	if err != nil || !strings.Contains(out, `"name":"etcd1","peerURLs":["`+e1.peer+`"]`) {
		t.Errorf("etcd's JSON member list is not what kisgen-sync parses: %v\n%s", err, out)
	}

	out, err = joinScript(e2)
	if err != nil || !strings.Contains(out, "added etcd2 to the etcd cluster") {
		t.Fatalf("new member: %v\n%s", err, out)
	}
	env, _ := os.ReadFile(e2.env)
	if !strings.Contains(string(env), "ETCD_INITIAL_CLUSTER_STATE=existing\n") || !strings.Contains(string(env), "etcd2="+e2.peer) || !strings.Contains(string(env), "etcd1="+e1.peer) {
		t.Errorf("etcd2's environment:\n%s", env)
	}
	startEtcd(e2)
	healthy(2, e1.client)
	if out, err := joinScript(e3); err != nil || !strings.Contains(out, "added etcd3") {
		t.Fatalf("third member: %v\n%s", err, out)
	}
	startEtcd(e3)
	healthy(3, e1.client)
	before, _ := ctl(e1.client, "member", "list")

	// etcd3's machine is replaced: its process and data are gone, the same user-data
	// boots a new machine. Its own data is what tells; the membership still lists it.
	// Two members of three keep the quorum throughout.
	_ = e3.proc.Process.Kill()
	_ = e3.proc.Wait()
	if err := os.RemoveAll(e3.data); err != nil {
		t.Fatal(err)
	}
	out, err = joinScript(e3)
	if err != nil || !strings.Contains(out, "a replaced machine): removing it") || !strings.Contains(out, "added etcd3") {
		t.Fatalf("replaced member: %v\n%s", err, out)
	}
	startEtcd(e3)
	healthy(3, e1.client)
	after, _ := ctl(e1.client, "member", "list")
	if before == after || strings.Count(after, "started") != 3 {
		t.Errorf("membership before:\n%s\nafter:\n%s", before, after)
	}
	// Its data now there, a rerun (a reboot) changes nothing.
	if out, err := joinScript(e3); err != nil || out != "" {
		t.Errorf("rerun with data: %v\n%s", err, out)
	}

	// etcd3 leaves the plan: kisgen-sync removes a member as here, through etcd's JSON
	// API with the ID (a string) the member list gives.
	// Right after a member joined, etcd refuses changes for a while ("unhealthy
	// cluster", 503): kisgen-sync asks again a minute later; the test sooner.
	api := func(path, body string) string {
		t.Helper()
		var out string
		testtool.WaitFor(t, path, time.Minute, func() error {
			var err error
			out, err = runOut("curl", "-fsS", "--cacert", cert("etcd-ca.pem"), "--cert", cert(pki.EtcdHealthcheckClient+".pem"),
				"--key", cert(pki.EtcdHealthcheckClient+"-key.pem"), "-X", "POST", "-d", body, e1.client+path)
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		return out
	}
	var list struct{ Members []struct{ ID, Name string } }
	if err := json.Unmarshal([]byte(api("/v3/cluster/member/list", "{}")), &list); err != nil {
		t.Fatal(err)
	}
	for _, m := range list.Members {
		if m.Name == "etcd3" {
			api("/v3/cluster/member/remove", `{"ID":"`+m.ID+`"}`)
		}
	}
	if out, _ := ctl(e1.client, "member", "list"); strings.Contains(out, "etcd3") || strings.Count(out, "started") != 2 {
		t.Errorf("etcd3 was not removed:\n%s", out)
	}
}
