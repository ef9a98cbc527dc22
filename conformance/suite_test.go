package conformance

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kisgen/kisgen/internal/binbuild"
	"github.com/kisgen/kisgen/internal/cachedir"
	"github.com/kisgen/kisgen/internal/testtool"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// builtE2ETest is the e2e.test of kisgen's default Kubernetes version in the per-user
// cache, which `kisgen mirror build --conformance` builds; the test is skipped without it.
func builtE2ETest(t *testing.T) string {
	t.Helper()
	cache, err := cachedir.Bin("")
	if err != nil {
		t.Fatal(err)
	}
	return testtool.Built(t, filepath.Join(cache, binbuild.ProjectE2ETest+"-"+plan.DefaultKubernetesVersion, binbuild.E2ETestBinary),
		"Kubernetes' e2e suite "+plan.DefaultKubernetesVersion, "kisgen mirror build --conformance")
}

// dryRun asks the real suite which specs a selection runs: a ginkgo dry run (no cluster
// needed) with its JSON report, whose selected specs are "passed".
func dryRun(t *testing.T, e2eTest string, s Selection) []string {
	t.Helper()
	report := filepath.Join(t.TempDir(), "report.json")
	args := []string{"--ginkgo.dry-run", "--ginkgo.no-color", "--ginkgo.json-report=" + report}
	for _, f := range s.Focus {
		args = append(args, "--ginkgo.focus="+f)
	}
	for _, f := range s.Skip {
		args = append(args, "--ginkgo.skip="+f)
	}
	if out, err := exec.Command(e2eTest, args...).CombinedOutput(); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var reports []struct {
		SpecReports []struct {
			ContainerHierarchyTexts []string
			LeafNodeText            string
			LeafNodeType            string
			State                   string
		}
	}
	if err := json.Unmarshal(data, &reports); err != nil || len(reports) != 1 {
		t.Fatalf("report: %v", err)
	}
	var names []string
	for _, r := range reports[0].SpecReports {
		if r.LeafNodeType == "It" && r.State == "passed" {
			names = append(names, strings.Join(append(r.ContainerHierarchyTexts, r.LeafNodeText), " "))
		}
	}
	slices.Sort(names)
	return names
}

// TestModesSelectWhatTheSuiteRuns proves, against the real e2e.test, that the Go matcher
// kisgen uses to count and name a mode's specs (for the summary and --dry-run) selects
// exactly what the suite itself runs with the mode's focus and skip expressions, and
// that every spec a mode names one by one exists in the suite.
func TestModesSelectWhatTheSuiteRuns(t *testing.T) {
	e2eTest := builtE2ETest(t)
	all, err := ListSpecs(context.Background(), e2eTest)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		mode        Mode
		focus, skip string
	}{
		{mode: ModeQuick},
		{mode: ModeNetwork},
		{mode: ModeCertified},
		{mode: ModeNetwork, focus: `\[sig-network\] DNS`, skip: `HostNetwork`},
	} {
		t.Run(string(tc.mode)+" "+tc.focus, func(t *testing.T) {
			s, err := Select(tc.mode, plan.DefaultKubernetesVersion, tc.focus, tc.skip)
			if err != nil {
				t.Fatal(err)
			}
			sel, err := Selected(all, s)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, sp := range sel {
				got = append(got, sp.Name)
			}
			slices.Sort(got)
			want := dryRun(t, e2eTest, s)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("the suite's selection (-want) and kisgen's (+got) differ:\n%s", diff)
			}
			if len(got) == 0 {
				t.Error("the mode selects nothing")
			}
			t.Logf("%s: %d specs; focus %q, skip %q", tc.mode, len(got), s.Focus, s.Skip)
			if missing := MissingNamed(all, tc.mode); len(missing) > 0 {
				t.Errorf("the suite has no spec named %q", missing)
			}
		})
	}
}

// TestConformanceImagesAreTheSuites: every reference kisgen tags an e2e image with
// (roles.ConformanceImages, aliases included) is one the real suite names
// (`e2e.test --list-images`), so the nodes have the images under the names the specs
// ask for.
func TestConformanceImagesAreTheSuites(t *testing.T) {
	e2eTest := builtE2ETest(t)
	out, err := exec.Command(e2eTest, "--list-images").Output()
	if err != nil {
		t.Fatal(err)
	}
	suite := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		suite[l] = true
	}
	p := &plan.Plan{Versions: plan.Versions{Kubernetes: plan.DefaultKubernetesVersion, Pause: plan.DefaultPauseVersion}}
	imgs := roles.ConformanceImages(p)
	if len(imgs) == 0 {
		t.Fatalf("kisgen knows no e2e images of %s", plan.DefaultKubernetesVersion)
	}
	for _, ref := range Refs(imgs) {
		if !suite[ref] {
			t.Errorf("%s is not an image of the suite (e2e.test --list-images)", ref)
		}
	}
	for _, mode := range Modes() {
		for _, ref := range Refs(RequiredImages(p, mode)) {
			if !suite[ref] {
				t.Errorf("mode %s requires %s, which the suite does not name", mode, ref)
			}
		}
	}
}
