package wizard

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/report"
	"github.com/kisgen/kisgen/plan"
)

// givenExcept answers every question by flag with its default, except those named: the
// interview then asks only those.
func givenExcept(asked ...string) map[string]string {
	given := map[string]string{
		"name": "kubernetes", "provider": "qemu", "os": "debian-12", "etcd": "3", "masters": "2", "workers": "3",
		"cni": "calico", "cluster-dns": "true", "mirror-url": "", "image-archives": "", "mirror-checksums": "",
		"networking": "overlay", "as-number": "64511", "name-resolution": "hosts", "network-policy": "false",
		"pod-cidr": "172.16.0.0/16", "service-cidr": "172.17.0.0/16", "addressing": "generate", "base-ip": "10.10.0.10",
		"name-prefix": "", "load-balancer": "10.10.0.20:6443", "cert-expiry": "17520h", "city": "", "state": "",
		"country": "US", "ssh-user": "kismaticuser", "ssh-key": "kismaticuser.key",
	}
	for _, q := range asked {
		delete(given, q)
	}
	return given
}

// withAnswer sets one more given answer.
func withAnswer(given map[string]string, flag, value string) map[string]string {
	given[flag] = value
	return given
}

func TestEveryQuestionHasAFlagAndTheGivenListCoversThem(t *testing.T) {
	seen := map[string]bool{}
	for _, q := range Questions() {
		if q.Flag == "" || q.Prompt == "" || q.Usage == "" || q.Set == nil || q.Default == nil || q.Section == "" {
			t.Errorf("question %+v is incomplete", q.Flag)
		}
		if seen[q.Flag] {
			t.Errorf("flag --%s answers two questions", q.Flag)
		}
		seen[q.Flag] = true
	}
	for _, guide := range []string{"etcd", "masters", "workers", "networking", "name-resolution", "network-policy", "pod-cidr",
		"service-cidr", "as-number", "load-balancer", "cert-expiry", "city", "state", "country", "ssh-user", "ssh-key", "os", "provider"} {
		if !seen[guide] {
			t.Errorf("the guide's question --%s is missing", guide)
		}
	}
}

func TestInterview(t *testing.T) {
	tests := []struct {
		name           string
		given          map[string]string
		nodes, macs    []string
		input          string
		nonInteractive bool
		setup          func(t *testing.T, dir string)
		wantErr        error
		errText        string
		transcript     []string // each appears in the output
		check          func(t *testing.T, a *Answers)
	}{
		{name: "Enter takes every suggestion", given: map[string]string{}, input: strings.Repeat("\n", 40),
			transcript: []string{"\nCompute\n", "  etcd nodes: 1 (development only), 3 (survives one failure), 5 (two) or 7 (three) [3]: \n",
				"nodes: etcd1 10.10.0.11, etcd2 10.10.0.12, etcd3 10.10.0.13, master1 10.10.0.21, master2 10.10.0.22, worker1 10.10.0.31"},
			check: func(t *testing.T, a *Answers) {
				want := NewAnswers()
				want.Nodes, _ = GenerateNodes(want)
				want.LoadBalancer = "10.10.0.20:6443"
				want.planDir = a.planDir
				if diff := cmp.Diff(want, a, cmp.AllowUnexported(Answers{})); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			}},
		{name: "a wrong etcd count is explained and asked again", given: givenExcept("etcd"), input: "4\ntwo\n5\n",
			transcript: []string{"! 4 etcd nodes survive no more failures than 3: etcd needs a majority, so choose 1, 3, 5 or 7\n",
				"! answer a number from 1 to 7\n"},
			check: func(t *testing.T, a *Answers) {
				if a.Etcd != 5 || len(a.Nodes) != 10 {
					t.Errorf("etcd %d, %d nodes", a.Etcd, len(a.Nodes))
				}
			}},
		{name: "one etcd node is accepted with the guide's warning", given: givenExcept("etcd"), input: "1\n",
			transcript: []string{"note: a single etcd node is unsafe: use it only for small development clusters"}},
		{name: "a service range overlapping the pods is refused in the validator's words", given: givenExcept("service-cidr"), input: "172.16.0.0/20\n\n",
			transcript: []string{"! the service range 172.16.0.0/20 overlaps the pod range 172.16.0.0/16\n      give pods and services separate ranges"},
			check: func(t *testing.T, a *Answers) {
				if a.ServiceCIDR != plan.DefaultServiceCIDR {
					t.Errorf("service range %s", a.ServiceCIDR)
				}
			}},
		{name: "a pod range too small for the nodes is refused", given: givenExcept("pod-cidr"), input: "172.16.0.0/26\nnot-a-cidr\n172.16.0.0/23\n",
			transcript: []string{"! the pod range 172.16.0.0/26 has 64 addresses, but 5 nodes take blocks of 64 (320 addresses)\n      use a /23 or larger range",
				`! "not-a-cidr" is not a CIDR block`}},
		{name: "routed networking asks the AS number", given: givenExcept("networking", "as-number"), input: "routed\n23456\n4200000001\n",
			transcript: []string{"! AS number 23456 is reserved"},
			check: func(t *testing.T, a *Answers) {
				if a.Networking != "routed" || a.ASNumber != 4200000001 {
					t.Errorf("networking %s, AS %d", a.Networking, a.ASNumber)
				}
			}},
		{name: "overlay networking does not ask the AS number", given: givenExcept("networking", "as-number"), input: "OVERLAY\n",
			check: func(t *testing.T, a *Answers) {
				if a.Networking != "overlay" || a.ASNumber != plan.DefaultASNumber {
					t.Errorf("networking %s, AS %d", a.Networking, a.ASNumber)
				}
			}},
		{name: "a bridge pod network skips the Calico questions", given: givenExcept("cni", "networking", "as-number", "network-policy"), input: "bridge\n",
			check: func(t *testing.T, a *Answers) {
				if a.CNI != "bridge" || a.Networking != "overlay" || a.NetworkPolicy {
					t.Errorf("cni %s, networking %s, policy %v", a.CNI, a.Networking, a.NetworkPolicy)
				}
			}},
		{name: "a mirror asks for image archives", given: givenExcept("mirror-url", "image-archives", "mirror-checksums"), input: "ftp://mirror\nhttp://10.0.2.100:8080/\nimages/a.tar, images/b.tar,\nmirror/SHA256SUMS\n",
			transcript: []string{`! "ftp://mirror" is not an http:// or https:// URL`},
			check: func(t *testing.T, a *Answers) {
				if a.MirrorURL != "http://10.0.2.100:8080" || strings.Join(a.ImageArchives, " ") != "images/a.tar images/b.tar" || a.MirrorChecksums != "mirror/SHA256SUMS" {
					t.Errorf("mirror %s, archives %q", a.MirrorURL, a.ImageArchives)
				}
			}},
		{name: "image archives \"cluster\" asks for every image of the cluster", given: givenExcept("mirror-url", "image-archives", "mirror-checksums"), input: "http://10.0.2.100:8080\ncluster\n\n",
			check: func(t *testing.T, a *Answers) {
				if !a.ClusterImageArchives || a.ImageArchives != nil {
					t.Errorf("cluster %v, archives %q", a.ClusterImageArchives, a.ImageArchives)
				}
			}},
		{name: "no mirror asks no image archives", given: givenExcept("mirror-url", "image-archives", "mirror-checksums"), input: "\n",
			check: func(t *testing.T, a *Answers) {
				if a.MirrorURL != "" || a.ImageArchives != nil {
					t.Errorf("mirror %s, archives %q", a.MirrorURL, a.ImageArchives)
				}
			}},
		{name: "the load balancer takes a URL and gets the API server port", given: withAnswer(givenExcept("load-balancer"), "name-resolution", "dns"), input: "https://k8s.example.com/\n",
			check: func(t *testing.T, a *Answers) {
				if a.LoadBalancer != "k8s.example.com:6443" {
					t.Errorf("load balancer %s", a.LoadBalancer)
				}
			}},
		{name: "a load balancer's name is refused where only hosts files resolve names", given: givenExcept("load-balancer"), input: "k8s.example.com\n\n",
			transcript: []string{`! load balancer "k8s.example.com" is a DNS name that only the hosts files could resolve here`}},
		{name: "a load balancer that is not a host is refused", given: givenExcept("load-balancer"), input: "bad_host!\n\n",
			transcript: []string{`! load balancer host "bad_host!" is neither a DNS name nor an IP address`}},
		{name: "certificates renewed on every run are refused", given: givenExcept("cert-expiry"), input: "168h\n2y\n730d\n",
			transcript: []string{"! use more than 720h", `! "2y" is not a duration`},
			check: func(t *testing.T, a *Answers) {
				if a.Expiry != "730d" {
					t.Errorf("expiry %s", a.Expiry)
				}
			}},
		{name: "the country is upper-cased and checked", given: givenExcept("country"), input: "usa\nde\n",
			transcript: []string{`! "USA" is not an ISO 3166 country code`},
			check: func(t *testing.T, a *Answers) {
				if a.Country != "DE" {
					t.Errorf("country %s", a.Country)
				}
			}},
		{name: "root is refused as the SSH user", given: givenExcept("ssh-user"), input: "root\nops\n",
			transcript: []string{"! SSH as root is refused"}},
		{name: "an encrypted key is refused", given: givenExcept("ssh-key"), input: "locked.key\nfresh.key\n",
			setup:      func(t *testing.T, dir string) { writeTestKey(t, filepath.Join(dir, "locked.key"), "secret") },
			transcript: []string{"! locked.key has a passphrase: kisgen needs a key without one"},
			check: func(t *testing.T, a *Answers) {
				if a.SSHKey != "fresh.key" {
					t.Errorf("key %s", a.SSHKey)
				}
			}},
		{name: "base ip inside the pod range is refused once for all nodes", given: givenExcept("base-ip"), input: "172.16.5.0\n192.168.7.10\n",
			transcript: []string{"! ip 172.16.5.1 is inside the pod range 172.16.0.0/16 (and 7 more like it)\n"},
			check: func(t *testing.T, a *Answers) {
				if a.Nodes[0].IP != "192.168.7.11" || a.Nodes[7].IP != "192.168.7.33" {
					t.Errorf("nodes %v", a.Nodes)
				}
			}},
		{name: "a base ip too close to the end of the address space is refused", given: givenExcept("base-ip"), input: "255.255.255.250\n\n",
			transcript: []string{"! the addresses from 255.255.255.250 run past 255.255.255.255: choose a lower base"}},
		{name: "typed nodes: a duplicate address is asked again", given: givenExcept("addressing", "etcd", "masters", "workers", "load-balancer"),
			input: "1\n1\n1\nlist\n\n10.0.0.11\n\nmaster1\n10.0.0.11\n10.0.0.21\n10.1.0.21\nWorker1\nworker1\n\n\n",
			transcript: []string{"! ip 10.0.0.11 is also used by etcd1 (etcd.nodes[0].ip)", `! host "Worker1" has uppercase letters`,
				"worker node 1: ip kisgen reaches it at [10.0.0.22]: "},
			check: func(t *testing.T, a *Answers) {
				want := []NodeAnswer{{plan.RoleEtcd, "etcd1", "10.0.0.11", "", ""}, {plan.RoleMaster, "master1", "10.0.0.21", "10.1.0.21", ""},
					{plan.RoleWorker, "worker1", "10.0.0.22", "", ""}}
				if diff := cmp.Diff(want, a.Nodes); diff != "" {
					t.Errorf("nodes (-want +got):\n%s", diff)
				}
			}},
		{name: "PXE asks every node's MAC address", given: mapWith(givenExcept("provider", "pxe-http-url"), map[string]string{"etcd": "1", "masters": "1", "workers": "1"}),
			input:      "pxe\n52:54:00:00:00:01\n52:54:00:00:00:01\n52:54:00:00:00:02\n52:54:00:00:00:zz\n52:54:00:00:00:03\nhttps://10.10.0.1\nhttp://10.10.0.1:8080\n\n",
			transcript: []string{"! MAC 52:54:00:00:00:01 is also used by etcd1", `! "52:54:00:00:00:zz" is not a MAC address`, `! "https://10.10.0.1" is not an http URL`},
			check: func(t *testing.T, a *Answers) {
				if a.Nodes[2].MAC != "52:54:00:00:00:03" || a.PXEHTTPURL != "http://10.10.0.1:8080" {
					t.Errorf("nodes %v, url %s", a.Nodes, a.PXEHTTPURL)
				}
			}},
		{name: "PXE without a terminal needs --mac for every node", nonInteractive: true,
			given: map[string]string{"provider": "pxe", "etcd": "1", "masters": "1", "pxe-http-url": "http://10.0.0.1"}, macs: []string{"etcd1=52:54:00:00:00:01"},
			wantErr: ErrBadFlag, errText: "give --mac master1=MAC"},
		{name: "a --mac for no node is refused", nonInteractive: true,
			given: map[string]string{"etcd": "1", "masters": "1", "workers": "1"}, macs: []string{"nobody=52:54:00:00:00:01"},
			wantErr: ErrBadFlag, errText: "no node is named nobody"},
		{name: "--node lists the nodes and sets the counts", nonInteractive: true, given: map[string]string{},
			nodes: []string{"etcd:e1=10.0.0.11", "master:m1=10.0.0.21/192.168.0.21", "worker:w1=10.0.0.31", "worker:w2=10.0.0.32", "ingress:i1=10.0.0.41"},
			check: func(t *testing.T, a *Answers) {
				if a.Etcd != 1 || a.Masters != 1 || a.Workers != 2 || a.Addressing != "list" || len(a.Nodes) != 5 || a.Nodes[1].InternalIP != "192.168.0.21" || a.LoadBalancer != "" {
					t.Errorf("answers %+v", a)
				}
			}},
		{name: "--node counts must agree with --etcd", nonInteractive: true, given: map[string]string{"etcd": "3"},
			nodes: []string{"etcd:e1=10.0.0.11", "master:m1=10.0.0.21", "worker:w1=10.0.0.31"}, wantErr: ErrBadFlag, errText: "--etcd=3, but --node lists 1 etcd nodes"},
		{name: "--node addresses are checked", nonInteractive: true, given: map[string]string{},
			nodes: []string{"etcd:e1=10.0.0.11", "master:m1=10.0.0.11", "worker:w1=10.0.0.31"}, wantErr: ErrBadFlag, errText: "ip 10.0.0.11 is also used by e1"},
		{name: "--node must name a role", nonInteractive: true, nodes: []string{"boss:b1=10.0.0.1"}, wantErr: ErrBadFlag, errText: `unknown role "boss"`},
		{name: "--node and --base-ip exclude each other", nonInteractive: true, given: map[string]string{"base-ip": "10.0.0.1"},
			nodes: []string{"etcd:e1=10.0.0.11"}, wantErr: ErrBadFlag, errText: "--base-ip generates nodes"},
		{name: "list addressing without a terminal needs --node", nonInteractive: true, given: map[string]string{"addressing": "list"},
			wantErr: ErrBadFlag, errText: "--addressing=list needs the nodes"},
		{name: "a bad flag is refused with the reason", nonInteractive: true, given: map[string]string{"etcd": "4"}, wantErr: ErrBadFlag,
			errText: "--etcd=4: 4 etcd nodes survive no more failures than 3"},
		{name: "a flag the validator refuses is refused", nonInteractive: true, given: map[string]string{"name": "Prod_1"}, wantErr: ErrBadFlag,
			errText: `--name=Prod_1: cluster name "Prod_1" is not a DNS label`},
		{name: "two masters without a generated layout need a load balancer", nonInteractive: true, given: map[string]string{},
			nodes:   []string{"etcd:e1=10.0.0.11", "master:m1=10.0.0.21", "master:m2=10.0.0.22", "worker:w1=10.0.0.31"},
			wantErr: ErrBadFlag, errText: "--load-balancer is needed"},
		{name: "on AWS the load balancer is a DNS name: none is generated, an address is refused",
			given:      mapWith(givenExcept("load-balancer"), map[string]string{"provider": "aws", "aws-region": "", "aws-subnet-id": "subnet-1", "aws-admin-cidrs": "203.0.113.0/24", "name-resolution": "dns"}),
			input:      "10.10.0.20\nkubernetes.example.com\n",
			transcript: []string{"(a virtual IP or DNS name in front of every master): ", "! on AWS give a DNS name you control"},
			check: func(t *testing.T, a *Answers) {
				if a.LoadBalancer != "kubernetes.example.com:6443" {
					t.Errorf("load balancer %q", a.LoadBalancer)
				}
			}},
		{name: "the input ends", given: givenExcept("cluster", "name", "etcd"), input: "prod\n", wantErr: ErrInputEnded},
		{name: "flags are not asked", given: givenExcept("workers"), input: "7\n",
			check: func(t *testing.T, a *Answers) {
				if a.Workers != 7 {
					t.Errorf("workers %d", a.Workers)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			var out strings.Builder
			a, err := Interview(strings.NewReader(tt.input), &out, Options{Given: tt.given, Nodes: tt.nodes, MACs: tt.macs,
				NonInteractive: tt.nonInteractive, Echo: true, PlanDir: dir})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %v, want %v containing %q\n%s", err, tt.wantErr, tt.errText, out.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			for _, s := range tt.transcript {
				if !strings.Contains(out.String(), s) {
					t.Errorf("transcript lacks %q:\n%s", s, out.String())
				}
			}
			if _, ok := tt.given["name"]; ok && strings.Contains(out.String(), "Cluster name") {
				t.Error("the cluster name was given as a flag, yet asked")
			}
			if tt.check != nil {
				tt.check(t, a)
			}
			// Whatever was accepted makes a plan that validates.
			p, opts := a.Plan()
			data, err := Encode(p, opts)
			if err != nil {
				t.Fatal(err)
			}
			if _, rep := plan.Parse("plan.yaml", data, plan.Options{}); rep.Count(report.Error) > 0 {
				t.Errorf("the answers make an invalid plan: %v\n%s", rep.Findings, data)
			}
		})
	}
}

func mapWith(m map[string]string, add map[string]string) map[string]string {
	for k, v := range add {
		m[k] = v
	}
	return m
}

func TestInterviewRefusesUnknownFlags(t *testing.T) {
	_, err := Interview(strings.NewReader(""), io.Discard, Options{Given: map[string]string{"colour": "blue"}})
	if !errors.Is(err, ErrBadFlag) {
		t.Fatalf("got %v", err)
	}
}

func TestInterviewReadsWindowsLineEndingsAndAFinalLineWithoutNewline(t *testing.T) {
	a, err := Interview(strings.NewReader("5\r\n9"), io.Discard, Options{Given: givenExcept("etcd", "workers"), PlanDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if a.Etcd != 5 || a.Workers != 9 {
		t.Errorf("etcd %d, workers %d", a.Etcd, a.Workers)
	}
}

func TestGeneratedLayout(t *testing.T) {
	tests := []struct {
		name                   string
		etcd, masters, workers int
		prefix                 string
		want                   []string
		lb                     string
	}{
		{"blocks of ten", 1, 1, 2, "", []string{"etcd1 10.10.0.11", "master1 10.10.0.21", "worker1 10.10.0.31", "worker2 10.10.0.32"}, "10.10.0.20:6443"},
		{"a prefix names the hosts", 1, 1, 1, "prod-", []string{"prod-etcd1 10.10.0.11", "prod-master1 10.10.0.21", "prod-worker1 10.10.0.31"}, "10.10.0.20:6443"},
		{"a large group widens every block", 1, 1, 12, "", append([]string{"etcd1 10.10.0.11", "master1 10.10.0.31"}, func() []string {
			var w []string
			for i := 1; i <= 12; i++ {
				w = append(w, "worker"+strconv.Itoa(i)+" 10.10.0."+strconv.Itoa(50+i))
			}
			return w
		}()...), "10.10.0.30:6443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := NewAnswers()
			a.Etcd, a.Masters, a.Workers, a.NamePrefix = tt.etcd, tt.masters, tt.workers, tt.prefix
			nodes, err := GenerateNodes(a)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range nodes {
				got = append(got, n.Host+" "+n.IP)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if lb := generatedLoadBalancer(a); lb != tt.lb {
				t.Errorf("load balancer %s, want %s", lb, tt.lb)
			}
		})
	}
}

func TestParseNodeFlag(t *testing.T) {
	got, err := ParseNodeFlag(" worker:w1=10.0.0.31/192.168.0.31 ")
	if err != nil || got != (NodeAnswer{Role: plan.RoleWorker, Host: "w1", IP: "10.0.0.31", InternalIP: "192.168.0.31"}) {
		t.Errorf("got %+v, %v", got, err)
	}
	for _, bad := range []string{"w1=10.0.0.1", "worker:w1", "worker=10.0.0.1", ""} {
		if _, err := ParseNodeFlag(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func writeTestKey(t *testing.T, path, passphrase string) {
	t.Helper()
	if _, err := EnsureKey(path, "test"); err != nil {
		t.Fatal(err)
	}
	if passphrase == "" {
		return
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := encryptKey(data, passphrase)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, enc, 0o600); err != nil {
		t.Fatal(err)
	}
}
