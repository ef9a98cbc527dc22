package cmd

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The command-line finder behind the docs and message tests: what it reports, and what it
// leaves alone as prose.
func TestFindInvocations(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	tests := []struct {
		name   string
		text   string
		strict bool
		want   []string // problems, joined
	}{
		{"a flag of another command", "point `kisgen provision pxe --kernel` at one", false,
			[]string{"kisgen provision has no flag --kernel"}},
		{"a real command line", "run `kisgen bundle pxe --kernel vmlinuz -f lab.yaml --tar`", false, nil},
		{"a value with = and a short flag", "kisgen certs rotate --ca=etcd-ca --promote -f p.yaml", true, nil},
		{"an unknown short flag", "kisgen validate -q", true, []string{"kisgen validate has no flag -q"}},
		{"a misspelt subcommand in code", "kisgen certs chek", true, []string{`kisgen certs has no subcommand "chek"`}},
		{"a misspelt subcommand quoted in prose", "run 'kisgen mirror biuld' first", false, []string{`kisgen mirror has no subcommand "biuld"`}},
		{"prose is not a command", "kisgen turns a plan into user-data; kisgen mirror the build machine uses", false, nil},
		{"a formatted flag name cannot be checked", "`kisgen bundle pxe --%s`", false,
			[]string{"the flag name --%s is formatted at run time"}},
		{"a chain is split at &&", "kisgen render && kisgen provision qemu --destroy && kisgen verify --wait 30m", true, nil},
		{"a chain's second command is checked on its own", "kisgen render --out x && kisgen verify --out x", true,
			[]string{"kisgen verify has no flag --out"}},
		{"a continued line", "kisgen plan --non-interactive \\\n  --node etcd:e1=10.0.0.1 --bogus", true, []string{"kisgen plan has no flag --bogus"}},
		{"a redirection and a comment end the line", "kisgen completion bash > $(brew --prefix) # --nope", true, nil},
		{"--help is everywhere", "kisgen serve pxe --help", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, inv := range findInvocations(root, "x", tt.text, tt.strict) {
				got = append(got, inv.check()...)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(tt.want), tt.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tt.want[i]) {
					t.Errorf("problem %q lacks %q", got[i], tt.want[i])
				}
			}
		})
	}
}

func TestBareFlags(t *testing.T) {
	root := NewRootCmd(nil, nil, nil)
	got := bareFlags(root, "give --force, or run `kisgen render --out x` with --format=ignition and --%s")
	if d := cmp.Diff([]string{"--force", "--format=ignition", "--%s"}, got); d != "" {
		t.Errorf("bare flags (-want +got):\n%s", d)
	}
}

func TestDocLines(t *testing.T) {
	doc := "Run `kisgen validate` first.\n\n```sh\nkisgen render   # then\n# kisgen prose\nmake test\n```\n\n```\n$ kisgen verify\noutput kisgen lines\n```\n\n```yaml\nkisgen: x\n```\n"
	var got []string
	for _, l := range docLines("d.md", doc) {
		got = append(got, strings.TrimSpace(l.where+" "+l.text))
	}
	want := []string{"d.md:1 kisgen validate", "d.md:4 kisgen render", "d.md:5", "d.md:6 make test", "d.md:10 kisgen verify"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("doc lines (-want +got):\n%s", d)
	}
}
