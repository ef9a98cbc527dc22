package conformance

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The testdata outputs and reports are real: e2e.test v1.37.2 (--ginkgo.v
// --ginkgo.no-color, --report-dir) run against a kube-apiserver, kube-controller-manager
// and etcd on loopback with one node object and no kubelet, so that API specs pass,
// a provider-only spec skips itself, a pod spec times out (or, run by the master's
// script, is interrupted when the script's input ends) and, with the node tainted, the
// suite's setup fails. The JUnit reports keep three of the ~3200 testcases the
// focus left out.

// feed writes data to p in chunks of random sizes, as an SSH session delivers it.
func feed(p *Progress, data []byte, seed int64) {
	r := rand.New(rand.NewSource(seed))
	for len(data) > 0 {
		n := 1 + r.Intn(200)
		if n > len(data) {
			n = len(data)
		}
		p.Write(data[:n])
		data = data[n:]
	}
	p.Flush()
}

func TestProgressReadsTheSuitesOutput(t *testing.T) {
	for _, tc := range []struct {
		file          string
		total, of     int
		want          []SpecResult
		suiteFailures []string
		suiteLines    []string
	}{
		{
			file: "passed-and-skipped.stdout", total: 3, of: 3206,
			want: []SpecResult{
				{Name: "[sig-network] DNS should provide DNS for the cluster [Provider:gce]", State: StateSkipped, Seconds: 0.02,
					Message: "Only supported for providers [gce] (not skeleton)", Location: "k8s.io/kubernetes@v1.37.2/test/e2e/framework/ginkgowrapper.go:357"},
				{Name: "[sig-network] Services should find a service from listing all namespaces [Conformance]", State: StatePassed, Seconds: 0.022},
				{Name: "[sig-node] ConfigMap should update ConfigMap successfully [Conformance] [NodeConformance]", State: StatePassed, Seconds: 0.023},
			},
			suiteLines: []string{"Ran 2 of 3206 Specs in 0.203 seconds", "SUCCESS! -- 2 Passed | 0 Failed | 0 Pending | 3204 Skipped"},
		},
		{
			file: "timedout.stdout", total: 3, of: 3206,
			want: []SpecResult{
				{Name: "[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]", State: StatePassed, Seconds: 0.731},
				{Name: "[sig-node] Pods should get a host IP [Conformance] [NodeConformance]", State: StateTimedOut, Seconds: 29.179,
					Message: "A suite timeout occurred", Location: "k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:208"},
			},
			suiteLines: []string{"Ran 2 of 3206 Specs in 30.073 seconds", "FAIL! - Suite Timeout Elapsed -- 1 Passed | 1 Failed | 0 Pending | 3204 Skipped"},
		},
		{
			// Interrupted with SIGTERM by the master's script when its input ended.
			file: "interrupted.stdout", total: 2, of: 3206,
			want: []SpecResult{
				{Name: "[sig-network] Services should find a service from listing all namespaces [Conformance]", State: StatePassed, Seconds: 0.046},
				{Name: "[sig-node] Pods should get a host IP [Conformance] [NodeConformance]", State: StateInterrupted, Seconds: 23.198,
					Message: "Interrupted by User", Location: "k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:208"},
			},
			suiteLines: []string{"Ran 2 of 3206 Specs in 23.426 seconds", "FAIL! - Interrupted by User -- 1 Passed | 1 Failed | 0 Pending | 3204 Skipped"},
		},
		{
			file: "suite-setup-failed.stdout", total: 1, of: 3206,
			suiteFailures: []string{"[SynchronizedBeforeSuite]: there are currently no ready, schedulable nodes in the cluster (k8s.io/kubernetes@v1.37.2/test/e2e/e2e.go:216)"},
			suiteLines:    []string{"Ran 0 of 3206 Specs in 0.013 seconds", "FAIL! -- A BeforeSuite node failed so all tests were skipped."},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			// Without the names (labels recognised as tags) and with them, as a run
			// knows them; in chunks of random sizes.
			var known []string
			for _, r := range tc.want {
				known = append(known, r.Name)
			}
			for seed := int64(0); seed < 6; seed++ {
				var started [2]int
				var live []SpecResult
				names := known
				if seed%2 == 0 {
					names = nil
				}
				p := &Progress{Names: names,
					OnStart: func(total, of int) { started = [2]int{total, of} },
					OnSpec: func(done int, r SpecResult) {
						if done != len(live)+1 {
							t.Errorf("done = %d after %d specs", done, len(live))
						}
						live = append(live, r)
					}}
				feed(p, data, seed)
				if started != [2]int{tc.total, tc.of} || p.Total != tc.total || p.Of != tc.of {
					t.Errorf("started %v, Total %d of %d: want %d of %d", started, p.Total, p.Of, tc.total, tc.of)
				}
				if diff := cmp.Diff(tc.want, p.Results); diff != "" {
					t.Errorf("results (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(p.Results, live); diff != "" {
					t.Errorf("OnSpec saw (-results +live):\n%s", diff)
				}
				if diff := cmp.Diff(tc.suiteFailures, p.SuiteFailures); diff != "" {
					t.Errorf("suite failures (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.suiteLines, p.SuiteLines); diff != "" {
					t.Errorf("suite lines (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestJUnitAgreesWithTheOutput reads the reports the same runs wrote: the specs that ran
// and how (the ones the focus left out, and an interrupted one, are not listed), the
// suite's own failures; and what the live output said matches.
func TestJUnitAgreesWithTheOutput(t *testing.T) {
	for _, tc := range []struct {
		name          string
		specs         []SpecResult
		suiteFailures []string
		special       string
	}{
		{"passed-and-skipped", []SpecResult{
			{Name: "[sig-network] DNS should provide DNS for the cluster [Provider:gce]", State: StateSkipped, Seconds: 0.020135899,
				Message: "Only supported for providers [gce] (not skeleton)"},
			{Name: "[sig-network] Services should find a service from listing all namespaces [Conformance]", State: StatePassed, Seconds: 0.022276446},
			{Name: "[sig-node] ConfigMap should update ConfigMap successfully [Conformance] [NodeConformance]", State: StatePassed, Seconds: 0.022663603},
		}, nil, ""},
		{"timedout", []SpecResult{
			{Name: "[sig-cli] Kubectl client Kubectl version should check is all data is printed [Conformance]", State: StatePassed, Seconds: 0.731134559},
			{Name: "[sig-node] Pods should get a host IP [Conformance] [NodeConformance]", State: StateTimedOut, Seconds: 29.178943726,
				Message: "A suite timeout occurred", Location: "k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:208"},
		}, nil, "Suite Timeout Elapsed"},
		{"interrupted", []SpecResult{
			{Name: "[sig-network] Services should find a service from listing all namespaces [Conformance]", State: StatePassed, Seconds: 0.045595684},
			{Name: "[sig-node] Pods should get a host IP [Conformance] [NodeConformance]", State: StateInterrupted, Seconds: 23.198179668,
				Message: "Interrupted by User", Location: "k8s.io/kubernetes@v1.37.2/test/e2e/common/node/pods.go:208"},
		}, nil, "Interrupted by User"},
		{"suite-setup-failed", nil,
			[]string{"[SynchronizedBeforeSuite]: there are currently no ready, schedulable nodes in the cluster"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", tc.name+".junit.xml"))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := ParseJUnit(data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.specs, rep.Specs); diff != "" {
				t.Errorf("specs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.suiteFailures, rep.SuiteFailures); diff != "" {
				t.Errorf("suite failures (-want +got):\n%s", diff)
			}
			if rep.SpecialFailure != tc.special {
				t.Errorf("special failure %q, want %q", rep.SpecialFailure, tc.special)
			}
			out, err := os.ReadFile(filepath.Join("testdata", tc.name+".stdout"))
			if err != nil {
				t.Fatal(err)
			}
			p := &Progress{}
			feed(p, out, 1)
			states := func(l []SpecResult) map[string]string {
				m := map[string]string{}
				for _, r := range l {
					m[r.Name] = r.State
				}
				return m
			}
			if diff := cmp.Diff(states(rep.Specs), states(p.Results)); diff != "" {
				t.Errorf("the report's states (-) and the live output's (+) differ:\n%s", diff)
			}
		})
	}
}

func TestParseJUnitRefusesWhatIsNotAReport(t *testing.T) {
	for _, data := range []string{"", "not xml", "<testsuites></testsuites>"} {
		if _, err := ParseJUnit([]byte(data)); err == nil {
			t.Errorf("ParseJUnit(%q) = nil error", data)
		}
	}
}
