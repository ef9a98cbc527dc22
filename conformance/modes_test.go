package conformance

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// listed reads testdata/list-tests.stdout: lines of the real e2e.test v1.37.2
// --list-tests (its heading, then specs of each kind the modes decide on).
func listed(t *testing.T) []Spec {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "list-tests.stdout"))
	if err != nil {
		t.Fatal(err)
	}
	specs := ParseSpecList(data)
	if len(specs) != 16 {
		t.Fatalf("%d specs in list-tests.stdout, want 16", len(specs))
	}
	if specs[0].Location == "" || specs[0].Name[0] != '[' {
		t.Fatalf("first spec %+v: want its location and its name apart", specs[0])
	}
	return specs
}

func names(specs []Spec) []string {
	var out []string
	for _, s := range specs {
		out = append(out, s.Name)
	}
	return out
}

// TestSelectPicksEachModesSpecs runs each mode's expressions over real spec names (the
// full list against the real suite is TestModesSelectWhatTheSuiteRuns).
func TestSelectPicksEachModesSpecs(t *testing.T) {
	all := listed(t)
	quick := []string{
		"[sig-network] DNS should provide DNS for services [Conformance]",
		"[sig-network] DNS should provide DNS for the cluster [Conformance]",
		"[sig-network] Networking Granular Checks: Pods should function for intra-pod communication: http [Conformance] [NodeConformance]",
		"[sig-network] Services should be able to create a functioning NodePort service [Conformance]",
		"[sig-network] Services should serve a basic endpoint from pods [Conformance]",
	}
	for _, tc := range []struct {
		name        string
		mode        Mode
		focus, skip string
		want        []string
		leftOut     int
		timeout     time.Duration
	}{
		{"quick is its five specs", ModeQuick, "", "", quick, 0, time.Hour},
		{"network adds NetworkPolicy and UDP Services to the network conformance specs", ModeNetwork, "", "", append(append([]string(nil), quick[:2]...),
			"[sig-network] Netpol API should support creating NetworkPolicy API operations",
			quick[2],
			"[sig-network] Networking Granular Checks: Services should function for pod-Service: udp",
			quick[3], quick[4]), 0, 6 * time.Hour},
		{"certified leaves out what needs images kisgen does not build", ModeCertified, "", "", []string{
			"[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]",
			quick[0], quick[1], quick[2], quick[3], quick[4],
			"[sig-node] ConfigMap should update ConfigMap successfully [Conformance] [NodeConformance]",
		}, 5, 24 * time.Hour},
		{"--focus replaces the mode's, the exceptions stay", ModeQuick, `Update Demo|ConfigMap`, "", []string{
			"[sig-node] ConfigMap should update ConfigMap successfully [Conformance] [NodeConformance]",
		}, 2, time.Hour},
		{"--skip adds to the mode's", ModeQuick, "", "NodePort|DNS", []string{quick[2], quick[4]}, 0, time.Hour},
		{"anchored expressions match the suite's description first, as ginkgo does", ModeNetwork, `^Kubernetes e2e suite \[sig-network\] DNS`, "", append(append([]string(nil), quick[:2]...),
			"[sig-network] DNS should provide DNS for the cluster [Provider:gce]"), 0, 6 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Select(tc.mode, "v1.37.2", tc.focus, tc.skip)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Selected(all, s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, names(got)); diff != "" {
				t.Errorf("selected (-want +got):\n%s", diff)
			}
			left, err := LeftOut(all, s)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, u := range left {
				n += len(u.Specs)
				if u.Reason == "" {
					t.Errorf("no reason for %v", u.Specs)
				}
			}
			if n != tc.leftOut {
				t.Errorf("left out %d specs (%v), want %d", n, left, tc.leftOut)
			}
			if s.Timeout != tc.timeout {
				t.Errorf("timeout %s, want %s", s.Timeout, tc.timeout)
			}
		})
	}
}

func TestSelectRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		mode        Mode
		focus, skip string
		want        error
	}{
		{"fast", "", "", ErrUnknownMode},
		{ModeQuick, "(", "", ErrBadRegexp},
		{ModeQuick, "", "[", ErrBadRegexp},
	} {
		if _, err := Select(tc.mode, "v1.37.2", tc.focus, tc.skip); !errors.Is(err, tc.want) {
			t.Errorf("Select(%q, %q, %q) = %v, want %v", tc.mode, tc.focus, tc.skip, err, tc.want)
		}
	}
	if _, err := ParseMode("certify"); !errors.Is(err, ErrUnknownMode) {
		t.Errorf("ParseMode(certify) = %v", err)
	}
	if m, err := ParseMode("quick"); err != nil || m != ModeQuick {
		t.Errorf("ParseMode(quick) = %v, %v", m, err)
	}
}

// TestAnUnknownSuiteVersionHasNoExceptions: kisgen's list of specs it cannot run is per
// release; another release runs its whole selection (and its summary says nothing is
// left out), rather than skipping by names that may mean other specs.
func TestAnUnknownSuiteVersionHasNoExceptions(t *testing.T) {
	s, err := Select(ModeCertified, "v1.99.0", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Skip) != 0 || len(s.Unrunnable) != 0 {
		t.Errorf("skip %v, unrunnable %v: want none", s.Skip, s.Unrunnable)
	}
}

// TestProgressNamesASpecWithoutItsLabels: ginkgo prints a spec's labels after its name;
// the labels are tags of the name, so they are recognised without the list of names.
func TestProgressNamesASpecWithoutItsLabels(t *testing.T) {
	p := &Progress{}
	for header, want := range map[string]string{
		"[sig-network] DNS should provide DNS for services [Conformance] [sig-network, Conformance]": "[sig-network] DNS should provide DNS for services [Conformance]",
		"[sig-network] DNS should provide DNS for the cluster [Provider:gce] [sig-network]":          "[sig-network] DNS should provide DNS for the cluster [Provider:gce]",
		"[sig-network] DNS should provide DNS for the cluster [Provider:gce]":                        "[sig-network] DNS should provide DNS for the cluster [Provider:gce]",
		"a spec without any tag": "a spec without any tag",
	} {
		if got := p.specName(header); got != want {
			t.Errorf("specName(%q) = %q, want %q", header, got, want)
		}
	}
}
