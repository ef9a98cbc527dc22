package cmd

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kisgen/kisgen/plan"
)

// Version is set at build time with -ldflags "-X github.com/kisgen/kisgen/cmd.Version=…".
var Version = "dev"

type versionInfo struct {
	Version    string `json:"version"`
	Commit     string `json:"commit,omitempty"`
	GoVersion  string `json:"goVersion"`
	Platform   string `json:"platform"`
	Kubernetes string `json:"defaultKubernetes"`
	Etcd       string `json:"defaultEtcd"`
	// Pause is the default sandbox image tag: `kisgen mirror build --pause-image` writes
	// images/pause-PAUSE.tar for it.
	Pause string `json:"defaultPause"`
}

func currentVersion() versionInfo {
	v := versionInfo{Version: Version, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Kubernetes: plan.DefaultKubernetesVersion, Etcd: plan.DefaultEtcdVersion, Pause: plan.DefaultPauseVersion}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	return v
}

// text is what `kisgen version` and `kisgen --version` print.
func (v versionInfo) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "kisgen %s (%s, %s)\n", v.Version, v.GoVersion, v.Platform)
	if v.Commit != "" {
		fmt.Fprintf(&b, "commit %s\n", v.Commit)
	}
	fmt.Fprintf(&b, "installs by default: Kubernetes %s, etcd %s, pause %s\n", v.Kubernetes, v.Etcd, v.Pause)
	return b.String()
}

func newVersionCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "version",
		Short: "Print kisgen's version and the versions it installs by default",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			v := currentVersion()
			switch output {
			case "json":
				enc := json.NewEncoder(c.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			case "text", "":
				_, err := io.WriteString(c.OutOrStdout(), v.text())
				return err
			default:
				return usageError("unknown output format %q: use text or json", output)
			}
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return c
}
