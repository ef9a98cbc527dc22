package cmd

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	code, out, _ := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "kisgen ") || !strings.Contains(out, "installs by default: Kubernetes v1.37.2, etcd v3.7.3, pause 3.10.1") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, out, _ = run(t, nil, "version", "-o", "json")
	var v struct {
		Version, GoVersion, Platform, DefaultKubernetes, DefaultEtcd, DefaultPause string
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != 0 {
		t.Fatalf("exit %d, %v:\n%s", code, err, out)
	}
	if v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") || v.DefaultKubernetes != "v1.37.2" || v.DefaultEtcd != "v3.7.3" || v.DefaultPause != "3.10.1" || !strings.Contains(v.Platform, "/") {
		t.Errorf("got %+v", v)
	}
	if code, _, errOut := run(t, nil, "version", "-o", "xml"); code != 2 || !strings.Contains(errOut, "unknown output format") {
		t.Errorf("bad format: exit %d, %s", code, errOut)
	}
}
