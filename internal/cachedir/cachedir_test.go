package cachedir

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestDirOrder(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd)
	home := filepath.Join(cwd, "home")
	tests := []struct {
		name                 string
		flag, env, xdg, home string
		want                 string
	}{
		{name: "the flag wins over everything", flag: "/f", env: "/e", xdg: "/x", home: home, want: "/f"},
		{name: "KISGEN_CACHE without a flag", env: "/e", xdg: "/x", home: home, want: "/e"},
		{name: "XDG_CACHE_HOME/kisgen without either", xdg: "/x", home: home, want: "/x/kisgen"},
		{name: "~/.cache/kisgen last", home: home, want: filepath.Join(home, ".cache", "kisgen")},
		{name: "a relative XDG_CACHE_HOME is ignored", xdg: "rel", home: home, want: filepath.Join(home, ".cache", "kisgen")},
		// The bug this package exists for: `go install` refuses a relative GOBIN.
		{name: "a relative flag becomes absolute", flag: ".cache", home: home, want: filepath.Join(cwd, ".cache")},
		{name: "a relative KISGEN_CACHE becomes absolute", env: "c/d", home: home, want: filepath.Join(cwd, "c", "d")},
		{name: "the flag is cleaned", flag: "/a/../b/", home: home, want: "/b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(Env, tt.env)
			t.Setenv("XDG_CACHE_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			got, err := Dir(tt.flag)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Dir(%q) = %q, want %q", tt.flag, got, tt.want)
			}
			if !filepath.IsAbs(got) {
				t.Errorf("Dir(%q) = %q is not absolute", tt.flag, got)
			}
		})
	}
}

func TestSubdirectories(t *testing.T) {
	t.Setenv(Env, "/c")
	for name, f := range map[string]func(string) (string, error){"bin": Bin, "images": Images} {
		got, err := f("")
		if err != nil || got != "/c/"+name {
			t.Errorf("%s = %q, %v; want /c/%s", name, got, err, name)
		}
		if got, _ := f("/flag"); got != "/flag/"+name {
			t.Errorf("%s(/flag) = %q", name, got)
		}
	}
}

func TestNoHomeIsAClearError(t *testing.T) {
	t.Setenv(Env, "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	_, err := Dir("")
	if !errors.Is(err, ErrNoCache) {
		t.Fatalf("err = %v, want ErrNoCache", err)
	}
	if got, err := Dir("/given"); err != nil || got != "/given" {
		t.Errorf("a flag needs no home: %q, %v", got, err)
	}
}
