package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kisgen/kisgen/pki"
)

func TestCertsIssueListCheck(t *testing.T) {
	path := planDir(t, "ha.yaml")
	state := filepath.Join(filepath.Dir(path), "generated")

	code, out, errOut := run(t, nil, "certs", "issue", "-f", path)
	if code != ExitOK || !strings.Contains(out, "created ca: new CA (CN production") || !strings.Contains(out, "47 created, 0 reissued") {
		t.Fatalf("issue: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, _ := run(t, nil, "certs", "issue", "-f", path); code != ExitOK || !strings.Contains(out, "up to date, nothing changed") {
		t.Errorf("second issue: exit %d\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(state, "pki", "ca-key.pem")); err != nil {
		t.Errorf("default state directory is not generated/ beside the plan: %v", err)
	}

	code, out, _ = run(t, nil, "certs", "list", "-f", path, "-o", "json")
	var certs []pki.CertInfo
	if err := json.Unmarshal([]byte(out), &certs); err != nil || code != ExitOK {
		t.Fatalf("list -o json: exit %d, %v\n%s", code, err, out)
	}
	byName := map[string]pki.CertInfo{}
	for _, c := range certs {
		byName[c.Name] = c
	}
	if c := byName["apiserver-master1"]; c.CN != "kube-apiserver" || c.DaysLeft < 728 || !certsContains(c.SANs, "10.10.0.20") || c.Kind != "server" {
		t.Errorf("list: apiserver-master1 = %+v", c)
	}
	if len(certs) != 32 {
		t.Errorf("list: %d certificates, want 32", len(certs))
	}
	if code, out, _ := run(t, nil, "certs", "list", "--state", state); code != ExitOK || !strings.Contains(out, "NAME") || !strings.Contains(out, "system:node:worker3") {
		t.Errorf("list (table, --state): exit %d\n%s", code, out)
	}

	if code, out, _ := run(t, nil, "certs", "check", "-f", path, "--within", "30d"); code != ExitOK || !strings.Contains(out, "all 32 certificates are valid for more than 30d") {
		t.Errorf("check --within 30d: exit %d\n%s", code, out)
	}
	code, out, errOut = run(t, nil, "certs", "check", "-f", path, "--within", "800d")
	if code != ExitFail || !strings.Contains(errOut, "29 of 32 certificates expire within 800d") || !strings.Contains(out, "kubelet-worker1") {
		t.Errorf("check --within 800d: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = run(t, nil, "certs", "check", "-f", path, "--within", "20000h", "-o", "json")
	if err := json.Unmarshal([]byte(out), &certs); err != nil || code != ExitFail || len(certs) != 29 {
		t.Errorf("check -o json: exit %d, %d certificates, %v", code, len(certs), err)
	}
}

func TestCertsRotate(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	if code, out, errOut := run(t, nil, "certs", "issue", "-f", path); code != ExitOK {
		t.Fatalf("issue: %d\n%s%s", code, out, errOut)
	}
	code, out, _ := run(t, nil, "certs", "rotate", "-f", path, "kubelet-worker1", "admin")
	if code != ExitOK || !strings.Contains(out, "reissued kubelet-worker1: rotation requested") || !strings.Contains(out, "reissued admin: rotation requested") ||
		!strings.Contains(out, "0 created, 3 reissued") {
		t.Errorf("rotate NAME: exit %d\n%s", code, out)
	}
	if code, out, _ := run(t, nil, "certs", "rotate", "-f", path, "--all"); code != ExitOK || !strings.Contains(out, "reissued etcd-peer-etcd1: rotation requested") {
		t.Errorf("rotate --all: exit %d\n%s", code, out)
	}
	code, _, errOut := run(t, nil, "certs", "rotate", "-f", path, "kubelet-nosuch")
	if code != ExitFail || !strings.Contains(errOut, "not a certificate of this plan") {
		t.Errorf("rotate unknown name: exit %d\n%s", code, errOut)
	}

	steps := []struct {
		args []string
		want string
	}{
		{[]string{"--ca"}, "run: kisgen certs rotate --ca=ca --promote"},
		{[]string{"--ca", "--promote"}, "Then run: kisgen certs rotate --ca=ca --finish"},
		{[]string{"--ca", "--finish"}, "no longer trusted"},
		{[]string{"--ca=etcd-ca"}, "etcd nodes and the masters"},
		{[]string{"--ca=etcd-ca", "--abort"}, "was dropped"},
	}
	for _, s := range steps {
		args := append([]string{"certs", "rotate", "-f", path}, s.args...)
		code, out, errOut := run(t, nil, args...)
		if code != ExitOK || !strings.Contains(out, s.want) {
			t.Errorf("%v: exit %d, want output saying %q\n%s%s", s.args, code, s.want, out, errOut)
		}
	}
	if code, _, errOut := run(t, nil, "certs", "rotate", "-f", path, "--ca", "--finish"); code != ExitFail || !strings.Contains(errOut, "no promoted rotation") {
		t.Errorf("finish twice: exit %d\n%s", code, errOut)
	}
}

func TestCertsUsageErrors(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	for _, args := range [][]string{
		{"certs", "rotate", "-f", path},
		{"certs", "rotate", "-f", path, "--all", "admin"},
		{"certs", "rotate", "-f", path, "--promote"},
		{"certs", "rotate", "-f", path, "--ca", "--promote", "--finish"},
		{"certs", "rotate", "-f", path, "--ca", "admin"},
		{"certs", "check", "-f", path, "--within", "soon"},
		{"certs", "list", "-f", path, "-o", "yaml"},
		{"certs", "list", "extra"},
	} {
		if code, _, errOut := run(t, nil, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args[1:], code, ExitUsage, errOut)
		}
	}
	code, _, errOut := run(t, nil, "certs", "list", "-f", path)
	if code != ExitFail || !strings.Contains(errOut, "kisgen certs issue") {
		t.Errorf("list without a PKI: exit %d\n%s", code, errOut)
	}
}

func certsContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestCertsCheckOnAnEmptyPKIFailsWithAHint(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	if err := os.MkdirAll(filepath.Join(filepath.Dir(path), "generated", "pki"), 0o700); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, nil, "certs", "check", "-f", path)
	if code != ExitFail || !strings.Contains(errOut, "holds no certificates") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

// TestCertsCheckWithinRefusesWhatOverflows: 106752 days do not fit in a duration; wrapped
// negative they made every certificate "valid".
func TestCertsCheckWithinRefusesWhatOverflows(t *testing.T) {
	path := planDir(t, "minimal.yaml")
	for _, tc := range []struct{ within, want string }{
		{"106752d", "more than 106751 days"},
		{"9223372036854775807d", "more than 106751 days"},
		{"99999999999999999999d", "more than 106751 days"},
		{"-1d", "want a whole number of days"},
		{"2562048h", "invalid duration"},
		{"-5h", "negative duration"},
	} {
		code, _, errOut := run(t, nil, "certs", "check", "-f", path, "--within", tc.within)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("--within %s: exit %d, want %d with %q\n%s", tc.within, code, ExitUsage, tc.want, errOut)
		}
	}
	if d, err := parseDays("106751d"); err != nil || d != 106751*24*time.Hour {
		t.Errorf("106751d: %v, %v", d, err)
	}
}
