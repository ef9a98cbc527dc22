package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kisgen/kisgen/plan"
)

func TestValidate(t *testing.T) {
	invalid := func(t *testing.T) string {
		path := planDir(t, "minimal.yaml")
		data, _ := os.ReadFile(path)
		data = []byte(strings.Replace(string(data), "ip: 10.10.0.31", "ip: 10.10.0.11", 1))
		os.WriteFile(path, data, 0o644)
		return path
	}
	tests := []struct {
		name     string
		args     func(t *testing.T) []string
		code     int
		stdout   []string
		stderr   []string
		jsonWant *struct{ valid, errors, warnings int }
	}{
		{"a valid plan exits 0", func(t *testing.T) []string { return []string{"validate", "-f", planDir(t, "ha.yaml")} }, 0,
			[]string{"ha.yaml: valid: 8 nodes (3 etcd, 2 master, 3 worker)\n"}, nil, nil},
		{"warnings are printed and still valid", func(t *testing.T) []string { return []string{"validate", "-f", planDir(t, "minimal.yaml")} }, 0,
			[]string{"minimal.yaml:31:3: warning: etcd.nodes: a single etcd node is unsafe", "\n      - host: etcd1\n      ^\n", "valid (0 errors, 2 warnings)"}, nil, nil},
		{"--strict makes warnings fatal", func(t *testing.T) []string { return []string{"validate", "--strict", "-f", planDir(t, "minimal.yaml")} }, 1,
			[]string{"invalid (0 errors, 2 warnings)"}, nil, nil},
		{"errors exit 1 with file, line, column and path", func(t *testing.T) []string { return []string{"validate", "-f", invalid(t)} }, 1,
			[]string{"minimal.yaml:42:9: error: worker.nodes[0].ip: ip 10.10.0.11 is also used by etcd1 (etcd.nodes[0].ip)", "hint: give every node its own address", "invalid (1 error, 2 warnings)"}, nil, nil},
		{"-o json reports the findings", func(t *testing.T) []string { return []string{"validate", "-o", "json", "-f", invalid(t)} }, 1, nil, nil,
			&struct{ valid, errors, warnings int }{0, 1, 2}},
		{"-o json of a valid plan", func(t *testing.T) []string { return []string{"validate", "-o", "json", "-f", planDir(t, "ha.yaml")} }, 0, nil, nil,
			&struct{ valid, errors, warnings int }{1, 0, 0}},
		{"a Kismatic plan is read", func(t *testing.T) []string { return []string{"validate", "-f", planDir(t, "kismatic-v1.12.yaml")} }, 0,
			[]string{"master.load_balanced_fqdn: load_balanced_fqdn and load_balanced_short_name are deprecated"}, nil, nil},
		{"a missing plan exits 1 and says how to make one", func(t *testing.T) []string {
			return []string{"validate", "-f", filepath.Join(t.TempDir(), "nope.yaml")}
		}, 1, nil, []string{"plan file not found", "kisgen plan"}, nil},
		{"an unknown output format is a usage error", func(t *testing.T) []string { return []string{"validate", "-o", "yaml"} }, 2, nil, []string{`unknown output format "yaml"`}, nil},
		{"an unknown flag is a usage error", func(t *testing.T) []string { return []string{"validate", "--strcit"} }, 2, nil, []string{"unknown flag: --strcit"}, nil},
		{"an argument is a usage error", func(t *testing.T) []string { return []string{"validate", "plan.yaml"} }, 2, nil, []string{"unknown command"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, nil, tt.args(t)...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if tt.jsonWant != nil {
				var got struct {
					Valid    bool `json:"valid"`
					Errors   int  `json:"errors"`
					Warnings int  `json:"warnings"`
					Findings []struct {
						Severity, File, Path, Message, Hint string
						Line, Column                        int
					} `json:"findings"`
				}
				if err := json.Unmarshal([]byte(out), &got); err != nil {
					t.Fatalf("%v:\n%s", err, out)
				}
				if got.Valid != (tt.jsonWant.valid == 1) || got.Errors != tt.jsonWant.errors || got.Warnings != tt.jsonWant.warnings || len(got.Findings) != got.Errors+got.Warnings {
					t.Errorf("got %+v", got)
				}
				for _, f := range got.Findings {
					if f.Severity == "" || f.File == "" || f.Path == "" || f.Line == 0 || f.Column == 0 || f.Message == "" || f.Hint == "" {
						t.Errorf("incomplete finding %+v", f)
					}
				}
			}
		})
	}
}

// TestPlansAreReadOnceCapped feeds the plan through a FIFO, a stream four times the
// 16 MiB cap at each open (as /dev/zero is an endless one): a command must read it once,
// and no more than the cap, and print its findings from those bytes.
func TestPlansAreReadOnceCapped(t *testing.T) {
	for _, tc := range []struct {
		name string
		args func(fifo string) []string
		out  func(stdout, stderr string) string
	}{
		{"validate", func(fifo string) []string { return []string{"validate", "-f", fifo} },
			func(stdout, _ string) string { return stdout }},
		{"render", func(fifo string) []string {
			return []string{"render", "-f", fifo, "--out", filepath.Join(filepath.Dir(fifo), "out")}
		},
			func(_, stderr string) string { return stderr }},
		{"plan --from-kismatic", func(fifo string) []string {
			return []string{"plan", "--from-kismatic", fifo, "-f", filepath.Join(filepath.Dir(fifo), "new.yaml")}
		}, func(stdout, _ string) string { return stdout }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fifo := filepath.Join(t.TempDir(), "kismatic-cluster.yaml")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			var opens atomic.Int32
			var written atomic.Int64
			var stop atomic.Bool
			streamDone := make(chan struct{}, 2)
			done := make(chan struct{})
			go func() {
				defer close(done)
				chunk := []byte(strings.Repeat("#\n", 32<<10))
				for stream := range 2 { // bounded: a reader that keeps opening gets two streams
					f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
					if err != nil {
						return
					}
					if stop.Load() {
						f.Close()
						return
					}
					opens.Add(1)
					// Stop at four times the cap, or when the reader closes its end (EPIPE).
					for n := 0; n < 4*plan.MaxFileSize; n += len(chunk) {
						w, err := f.Write(chunk)
						if stream == 0 {
							written.Add(int64(w))
						}
						if err != nil {
							break
						}
					}
					f.Close()
					streamDone <- struct{}{}
				}
			}()
			code, stdout, stderr := run(t, nil, tc.args(fifo)...)
			// Read to its end or closed early, the first stream ends: only then can a new
			// reader not join it.
			<-streamDone
			got := opens.Load()
			if got < 2 { // the writer waits for a second reader: let it go without writing
				stop.Store(true)
				if f, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
					<-done
					f.Close()
				}
			}
			<-done
			if got != 1 {
				t.Errorf("the plan was opened %d times, want once", got)
			}
			// What the pipe held when the reader stopped may have been written too.
			if written.Load() > plan.MaxFileSize+1<<20 {
				t.Errorf("%d bytes were read, the cap is %d", written.Load(), plan.MaxFileSize)
			}
			if code != 1 || !strings.Contains(tc.out(stdout, stderr), "the file is larger than 16 MiB") {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
		})
	}
}

// TestValidateChecksThePlanAgainstItsProvider: what the plan's provider cannot boot is
// reported with the plan's findings, by file, line:column and path, before anything is
// created: an AWS group without an AMI, a qemu group whose os has no image, qemu VMs that
// need more memory than any machine has.
func TestValidateChecksThePlanAgainstItsProvider(t *testing.T) {
	edit := func(t *testing.T, pairs ...string) string {
		path := planDir(t, "minimal.yaml")
		data, _ := os.ReadFile(path)
		s := string(data)
		for i := 0; i < len(pairs); i += 2 {
			if !strings.Contains(s, pairs[i]) {
				t.Fatalf("minimal.yaml lacks %q", pairs[i])
			}
			s = strings.Replace(s, pairs[i], pairs[i+1], 1)
		}
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name  string
		edits []string
		want  []string
	}{
		{"aws plan without AMIs", []string{"  name: qemu\n", "  name: aws\n  aws: {subnet_id: subnet-0abc, admin_cidrs: [203.0.113.0/24]}\n"}, []string{
			"minimal.yaml:30:3: error: etcd.machine.image: the etcd group (etcd1) has no AMI: the aws provider launches machine.image",
			"hint: set machine.image to the AMI id (ami-…) the group's instances boot",
			"error: worker.machine.type: the worker group (worker1) has no instance type",
		}},
		{"qemu plan whose os has no image", []string{"etcd:\n  expected_count: 1\n", "etcd:\n  expected_count: 1\n  os: ubuntu-24.04\n  machine: {image: ubuntu-24.04}\n"}, []string{
			"minimal.yaml:30:7: error: etcd.os: the qemu provider has no image of ubuntu-24.04: `kisgen image build` makes debian-12 and debian-13",
		}},
		{"qemu plan needing more memory than the machine has", []string{"etcd:\n  expected_count: 1\n", "etcd:\n  expected_count: 1\n  machine: {memory_mb: 1073741824}\n"}, []string{
			"error: provider.qemu: the plan's 3 VMs need", "hint: give the groups less memory",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, nil, "validate", "--cache", t.TempDir(), "-f", edit(t, tt.edits...))
			if code != 1 {
				t.Errorf("exit %d, want 1\n%s%s", code, out, errOut)
			}
			for _, s := range tt.want {
				if !strings.Contains(out, s) {
					t.Errorf("stdout lacks %q:\n%s", s, out)
				}
			}
		})
	}
}
