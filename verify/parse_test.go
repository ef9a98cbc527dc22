package verify

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCommandFaultClassifiesShellAndSudoMessages(t *testing.T) {
	cases := []struct {
		name   string
		root   bool
		out    output
		want   error
		detail string
	}{
		{"bash: command not found", false, output{Exit: 127, Stderr: []byte("bash: line 1: etcdctl: command not found\n")}, ErrCommandNotFound, "command etcdctl not found on the node"},
		{"dash: not found", false, output{Exit: 127, Stderr: []byte("sh: 1: etcdctl: not found\n")}, ErrCommandNotFound, "command etcdctl not found"},
		{"busybox: not found", false, output{Exit: 127, Stderr: []byte("sh: etcdctl: not found\n")}, ErrCommandNotFound, "command etcdctl not found"},
		{"zsh: command not found", false, output{Exit: 127, Stderr: []byte("zsh:1: command not found: etcdctl\n")}, ErrCommandNotFound, "command etcdctl not found"},
		{"absolute path missing", false, output{Exit: 127, Stderr: []byte("bash: line 1: /opt/kisgen/bin/etcdctl: No such file or directory\n")}, ErrCommandNotFound, "command /opt/kisgen/bin/etcdctl not found"},
		{"exit 127 without a message names the command", false, output{Exit: 127}, ErrCommandNotFound, "command etcdctl not found"},
		{"sudo: command not found", true, output{Exit: 1, Stderr: []byte("sudo: etcdctl: command not found\n")}, ErrCommandNotFound, "command etcdctl not found"},
		{"sudo: password required", true, output{Exit: 1, Stderr: []byte("sudo: a password is required\n")}, ErrSudoRefused, "sudo refused: kismaticuser may not run `etcdctl member list` as root"},
		{"sudo: terminal required", true, output{Exit: 1, Stderr: []byte("sudo: a terminal is required to read the password; either use the -S option to read from standard input or configure an askpass helper\n")}, ErrSudoRefused, "a terminal is required"},
		{"not in sudoers", true, output{Exit: 1, Stderr: []byte("kismaticuser is not in the sudoers file.\n")}, ErrSudoRefused, "not in the sudoers file"},
		{"not allowed", true, output{Exit: 1, Stderr: []byte("Sorry, user kismaticuser may not run sudo on etcd1.\n")}, ErrSudoRefused, "may not run sudo"},
		{"a command's own failure is no fault", true, output{Exit: 1, Stderr: []byte("Error: context deadline exceeded\n")}, nil, ""},
		{"sudo-like text without sudo is no fault", false, output{Exit: 1, Stderr: []byte("sudo: a password is required\n")}, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := commandFault("kismaticuser", []string{"etcdctl", "member", "list"}, tc.root, tc.out)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.detail) {
				t.Errorf("%q lacks %q", err, tc.detail)
			}
			if err != nil && Reason(err) == "" {
				t.Errorf("%v has no reason code", err)
			}
		})
	}
}

func TestShellQuoteSurvivesTheShell(t *testing.T) {
	cases := map[string]string{
		"etcdctl":                    "etcdctl",
		"--endpoints=https://a:1":    "--endpoints=https://a:1",
		"--raw=/readyz?verbose":      "'--raw=/readyz?verbose'",
		"it's":                       `'it'\''s'`,
		"a b":                        "'a b'",
		"$(reboot)":                  "'$(reboot)'",
		"/etc/kubernetes/pki/ca.crt": "/etc/kubernetes/pki/ca.crt",
	}
	for in, want := range cases {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestListeningPortsReadsSS(t *testing.T) {
	// `ss -Hltn` as iproute2 6.1 prints it, IPv4, IPv6, wildcard and scoped addresses.
	text := `LISTEN 0      4096   127.0.0.1:2379  0.0.0.0:*
LISTEN 0      4096   10.0.0.11:2380  0.0.0.0:*
LISTEN 0      4096           *:10250       *:*
LISTEN 0      4096        [::]:6443     [::]:*
LISTEN 0      4096 127.0.0.53%lo:53    0.0.0.0:*
`
	got := listeningPorts(text)
	want := map[int][]string{2379: {"127.0.0.1"}, 2380: {"10.0.0.11"}, 10250: {"*"}, 6443: {"::"}, 53: {"127.0.0.53"}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	for _, c := range []struct {
		port int
		addr string
		want bool
	}{{2379, "127.0.0.1", true}, {2379, "", true}, {2379, "10.0.0.11", false}, {6443, "10.0.0.21", true}, {10250, "10.0.0.31", true}, {2380, "127.0.0.1", false}, {9999, "", false}} {
		if got := listens(got[c.port], c.addr); got != c.want {
			t.Errorf("port %d on %q: %v, want %v", c.port, c.addr, got, c.want)
		}
	}
}

func TestParseShowSplitsUnits(t *testing.T) {
	text := "Id=kubelet.service\nLoadState=loaded\nActiveState=activating\nSubState=auto-restart\nResult=exit-code\n\nId=nope.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\n"
	got := parseShow(text, 2)
	if got[0]["SubState"] != "auto-restart" || got[1]["LoadState"] != "not-found" {
		t.Errorf("got %v", got)
	}
	if short := parseShow("Id=a\n", 3); len(short) != 3 || len(short[2]) != 0 {
		t.Errorf("short output: %v", short)
	}
}

func TestSplitHeadAndSums(t *testing.T) {
	head := "==> /a.crt <==\n-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n\n==> /b.crt <==\nB\n"
	got := splitHead(head)
	if !strings.Contains(got["/a.crt"], "BEGIN CERTIFICATE") || got["/b.crt"] != "B\n" {
		t.Errorf("splitHead: %q", got)
	}
	sums := parseSums("87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7  /etc/kubernetes/pki/ca.crt\n")
	if sums["/etc/kubernetes/pki/ca.crt"] != "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7" {
		t.Errorf("parseSums: %v", sums)
	}
	if m := parseModes("600 /etc/kubernetes/pki/ca.key\n644 /etc/kubernetes/pki/ca.crt\n"); m["/etc/kubernetes/pki/ca.key"] != "600" {
		t.Errorf("parseModes: %v", m)
	}
}

func TestBGPStateReadsCalicoctlAndBird(t *testing.T) {
	calicoctl := `Calico process is running.

IPv4 BGP status
+--------------+-------------------+-------+----------+-------------+
| PEER ADDRESS |     PEER TYPE     | STATE |  SINCE   |    INFO     |
+--------------+-------------------+-------+----------+-------------+
| 10.0.0.22    | node-to-node mesh | up    | 09:27:18 | Established |
| 10.0.0.31    | node-to-node mesh | start | 09:27:19 | Connect     |
+--------------+-------------------+-------+----------+-------------+
`
	bird := "name     proto    table    state  since       info\nMesh_10_0_0_22 BGP      master   up     09:27:18    Established\nMesh_10_0_0_222 BGP      master   start  09:27:18    Active\n"
	cases := []struct{ text, peer, want string }{
		{calicoctl, "10.0.0.22", "Established"},
		{calicoctl, "10.0.0.31", "Connect"},
		{calicoctl, "10.0.0.99", ""},
		{bird, "10.0.0.22", "Established"},
		{bird, "10.0.0.222", "Active"},
		{bird, "10.0.0.2", ""},
	}
	for _, c := range cases {
		if got := bgpState(c.text, c.peer); got != c.want {
			t.Errorf("bgpState(%s) = %q, want %q", c.peer, got, c.want)
		}
	}
}

func TestParseCloudInitLong(t *testing.T) {
	// cloud-init 22.4 `status --long` after a failed run.
	text := "status: error\nboot_status_code: enabled-by-generator\nlast_update: Tue, 24 Nov 2026 10:01:02 +0000\ndetail:\n('scripts_user', RuntimeError('Runparts: 1 failures'))\n"
	st := parseCloudInitLong(text)
	if st.Status != "error" || !strings.Contains(st.Detail, "scripts_user") {
		t.Errorf("got %+v", st)
	}
}

func TestHostsLineDiff(t *testing.T) {
	missing, extra := lineDiff([]string{"# B", "1 a", "2 b", "# E"}, []string{"# B", "1 a", "3 b", "# E", "4 x"})
	if d := cmp.Diff([]string{"2 b"}, missing); d != "" {
		t.Errorf("missing (-want +got)\n%s", d)
	}
	if d := cmp.Diff([]string{"3 b", "4 x"}, extra); d != "" {
		t.Errorf("extra (-want +got)\n%s", d)
	}
	if !containsRun([]string{"x", "a", "b"}, []string{"a", "b"}) || containsRun([]string{"a", "x", "b"}, []string{"a", "b"}) {
		t.Error("containsRun")
	}
}

// TestBatchKeepsEachCommandApart runs a batch script in the local shell and checks that
// every command's stdout, stderr and exit status come back exactly, including output
// without a final newline, empty output, and a command that is not installed.
func TestBatchKeepsEachCommandApart(t *testing.T) {
	lines := []string{
		"printf 'no newline'",
		"printf 'two\\nlines\\n'; echo oops >&2; exit 3",
		"true",
		"kisgen-no-such-command --flag",
		"printf '\\n\\n'",
	}
	script := "f() {\n" + batchScript("cafe", lines) + "}\nf"
	cmd := exec.Command("sh", "-c", script)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	got := parseBatch("cafe", lines, output{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()})
	want := map[string]output{
		lines[0]: {Stdout: []byte("no newline"), Stderr: []byte{}},
		lines[1]: {Stdout: []byte("two\nlines\n"), Stderr: []byte("oops\n"), Exit: 3},
		lines[2]: {Stdout: []byte{}, Stderr: []byte{}},
		lines[4]: {Stdout: []byte("\n\n"), Stderr: []byte{}},
	}
	missing := got[lines[3]]
	delete(got, lines[3])
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if missing.Exit != 127 || missingCommand(string(missing.Stderr)) != "kisgen-no-such-command" {
		t.Errorf("missing command: exit %d, stderr %q", missing.Exit, missing.Stderr)
	}

	// A batch cut short keeps only the commands that finished.
	cut := output{Stdout: stdout.Bytes()[:bytes.Index(stdout.Bytes(), []byte("\036cafe s 2"))], Stderr: stderr.Bytes()}
	if partial := parseBatch("cafe", lines, cut); len(partial) != 2 {
		t.Errorf("cut batch kept %d commands, want 2", len(partial))
	}
}
