package templates_test

import (
	"errors"
	"testing"

	"github.com/kisgen/kisgen/templates"
)

func TestSystemdArg(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a plain flag is left alone", "--node-ip=10.0.0.1", "--node-ip=10.0.0.1"},
		{"percent is not a specifier", "--format=%s", "--format=%%s"},
		{"dollar is not a variable", "--pass=a$b", "--pass=a$$b"},
		{"white space is quoted", "--description=two words", `"--description=two words"`},
		{"quotes and backslashes are escaped", `--x=a"b\c`, `"--x=a\"b\\c"`},
		{"a semicolon is quoted", "--x=a;b", `"--x=a;b"`},
		{"an empty argument survives", "", `""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := templates.SystemdArg(tc.in); got != tc.want {
				t.Errorf("SystemdArg(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestTOMLString(t *testing.T) {
	if got, want := templates.TOMLString("a\"b\\c\x01"), `"a\"b\\c\u0001"`; got != want {
		t.Errorf("TOMLString = %s, want %s", got, want)
	}
}

func TestShellQuote(t *testing.T) {
	if got, err := templates.ShellQuote("http://proxy:3128,10.0.0.0/8"); err != nil || got != "'http://proxy:3128,10.0.0.0/8'" {
		t.Errorf("ShellQuote = %q, %v", got, err)
	}
	for _, bad := range []string{"it's", `back\slash`, "line\nbreak"} {
		if _, err := templates.ShellQuote(bad); !errors.Is(err, templates.ErrUnquotable) {
			t.Errorf("ShellQuote(%q) err = %v, want ErrUnquotable", bad, err)
		}
	}
}

func TestCompactScriptKeepsWhatBashNeeds(t *testing.T) {
	in := "#!/bin/bash\n# a comment\n\n\tif true; then # trailing\n\t\techo '#not a comment'\n\tfi\n# shellcheck disable=SC2086\necho $x\n"
	want := "#!/bin/bash\nif true; then # trailing\necho '#not a comment'\nfi\n# shellcheck disable=SC2086\necho $x\n"
	if got := templates.CompactScript(in); got != want {
		t.Errorf("CompactScript =\n%q\nwant\n%q", got, want)
	}
}

func TestExecuteRefusesMissingKeysAndUnknownNames(t *testing.T) {
	if _, err := templates.Execute("kubelet.service", map[string]any{"Host": "x"}); err == nil {
		t.Error("a template ran with missing data")
	}
	if _, err := templates.Execute("nope", nil); !errors.Is(err, templates.ErrUnknown) {
		t.Errorf("err = %v, want ErrUnknown", err)
	}
	if len(templates.Names()) < 20 {
		t.Errorf("Names() = %v", templates.Names())
	}
}
