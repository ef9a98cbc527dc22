package verify

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

func sampleReport() *Report {
	return &Report{
		Rounds:  2,
		Started: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC),
		Elapsed: 12340 * time.Millisecond,
		Nodes: []NodeResult{
			{Host: "etcd1", Addr: "10.0.0.11:22", OK: true, Millis: 420, Checks: []CheckResult{
				{Name: "reachable", Title: checkReachable.Title, Status: Pass, Detail: "SSH at 10.0.0.11:22 (SSH-2.0-OpenSSH_9.2p1)", Millis: 12},
				{Name: "etcd", Title: checkEtcd.Title, Status: Pass, Detail: "members etcd1; https://10.0.0.11:2379 healthy (1.8ms)", Millis: 80},
				{Name: "apiserver", Title: checkAPIServer.Title, Status: Skip, Detail: "not a master"},
			}},
			{Host: "worker1", Addr: "127.0.0.1:2223", Millis: 910, Checks: []CheckResult{
				{Name: "reachable", Title: checkReachable.Title, Status: Pass, Detail: "SSH at 127.0.0.1:2223"},
				{Name: "sudo", Title: checkSudo.Title, Status: Fail, Reason: "sudo-refused", Detail: "sudo refused: kismaticuser may not run `true` as root without a password (sudo: a password is required)"},
				{Name: "units", Title: checkUnits.Title, Status: Fail, Detail: "1 of 2 units not active:\n  kubelet.service: failed, result exit-code\n    (journal not read: sudo was refused)"},
			}},
			{Host: "worker2", Addr: "127.0.0.1:2224", Checks: []CheckResult{
				{Name: "reachable", Title: checkReachable.Title, Status: Fail, Reason: "connection-refused", Detail: "connection refused by 127.0.0.1:2224: nothing listens there"},
				{Name: "host-key", Title: checkHostKey.Title, Status: Skip, Detail: "not run: reachable failed"},
				{Name: "login", Title: checkLogin.Title, Status: Skip, Detail: "not run: reachable failed"},
				{Name: "sudo", Title: checkSudo.Title, Status: Skip, Detail: "not run: cannot log in (see above)"},
				{Name: "first-boot", Title: checkFirstBoot.Title, Status: Skip, Detail: "not run: cannot log in (see above)"},
				{Name: "install", Title: checkInstall.Title, Status: Skip, Detail: "not run: cannot log in (see above)"},
			}},
		},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		must(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	must(t, err)
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s (-want +got), rerun with -update if intended:\n%s", path, d)
	}
}

func TestWriteTableGolden(t *testing.T) {
	var b bytes.Buffer
	must(t, WriteTable(&b, sampleReport()))
	golden(t, "table.golden", b.Bytes())
}

func TestWriteJSONParsesBack(t *testing.T) {
	want := sampleReport()
	var b bytes.Buffer
	must(t, WriteJSON(&b, want))
	golden(t, "report.json.golden", b.Bytes())
	var got Report
	must(t, json.Unmarshal(b.Bytes(), &got))
	if d := cmp.Diff(want, &got, cmpopts.IgnoreUnexported(NodeResult{}), cmpopts.IgnoreFields(Report{}, "Elapsed")); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	var raw map[string]any
	must(t, json.Unmarshal(b.Bytes(), &raw))
	if raw["elapsedSeconds"] != 12.34 {
		t.Errorf("elapsedSeconds = %v", raw["elapsedSeconds"])
	}
}

func TestReportErrJoinsEveryFailure(t *testing.T) {
	err := sampleReport().Err()
	if err == nil || !strings.Contains(err.Error(), "worker1: sudo: sudo refused") || !strings.Contains(err.Error(), "worker1: units: check failed: 1 of 2 units") {
		t.Errorf("Err() = %v", err)
	}
	ok := &Report{Nodes: sampleReport().Nodes[:1]}
	if ok.Err() != nil {
		t.Errorf("passing report: %v", ok.Err())
	}
}

func progressTargets(n int) []Target {
	var ts []Target
	for i := 0; i < n; i++ {
		ts = append(ts, Target{Host: "node" + string(rune('a'+i))})
	}
	return ts
}

func failing(host, check, detail string) NodeResult {
	return NodeResult{Host: host, Checks: []CheckResult{{Name: check, Status: Fail, Detail: detail}}}
}

func TestProgressPrintsPlainLinesWhenStateChanges(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, false, 0, 0, progressTargets(2), time.Minute)
	p.Node(1, failing("nodea", "install", "the install has not finished: phase install\nmore"))
	p.Node(1, NodeResult{Host: "nodeb", OK: true})
	p.Round(&Report{Rounds: 1, Nodes: []NodeResult{failing("nodea", "install", ""), {Host: "nodeb", OK: true}}})
	p.Node(2, failing("nodea", "install", "the install has not finished: phase install"))
	p.Node(2, NodeResult{Host: "nodeb", OK: true})
	p.Node(2, NodeResult{Host: "nodea", OK: true})
	p.Done()
	want := "verify: round 1: nodea: install: the install has not finished: phase install\n" +
		"verify: round 1: nodeb: ok\n" +
		"verify: round 1 done after 0s: 1 of 2 nodes pass\n" +
		"verify: round 2: nodea: ok\n"
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

// TestProgressRedrawsOnATerminal writes to a real pseudo-terminal and reads what the
// terminal received.
func TestProgressRedrawsOnATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	must(t, err)
	defer ptmx.Close()
	defer tty.Close()
	received := make(chan string)
	go func() {
		data, _ := io.ReadAll(ptmx)
		received <- string(data)
	}()
	targets := progressTargets(12)
	p := NewProgress(tty, true, 60, 6, targets, 20*time.Minute)
	for i, tg := range targets {
		p.Node(1, failing(tg.Host, "units", strings.Repeat("kubelet.service is not active ", 4)+string(rune('0'+i%10))))
	}
	p.Done()
	tty.Close()
	got := <-received
	// Each draw starts by moving the cursor up over the previous block; Done clears it.
	ups := regexp.MustCompile(`\x1b\[(\d+)A`)
	var counts []string
	for _, m := range ups.FindAllStringSubmatch(got, -1) {
		counts = append(counts, m[1])
	}
	// Each redraw moves up over the previous block, which grows by a line per failing node
	// up to the 6-row terminal less one (header, 3 nodes and "… and N more"); the last count
	// is Done's.
	if want := "2 3 4 5 5 5 5 5 5 5 5 5"; strings.Join(counts, " ") != want {
		t.Errorf("cursor-up counts %v, want %s", counts, want)
	}
	draws := ups.Split(got, -1)
	last := draws[len(draws)-2]
	if done := draws[len(draws)-1]; done != "\r\x1b[J" {
		t.Errorf("Done wrote %q, want a clear", done)
	}
	for _, want := range []string{"verify: round 1, 0s of 20m0s: 0 pass, 12 fail", "nodea: units:", "… and 9 more failing", "\x1b[2K", "\x1b[J"} {
		if !strings.Contains(last, want) {
			t.Errorf("last draw lacks %q:\n%q", want, last)
		}
	}
	for _, l := range strings.Split(last, "\r\n") {
		visible := l[strings.LastIndex(l, "\x1b[2K")+len("\x1b[2K"):]
		if n := len([]rune(visible)); n > 60 {
			t.Errorf("line of %d characters wraps a 60-column terminal: %q", n, visible)
		}
	}
}
