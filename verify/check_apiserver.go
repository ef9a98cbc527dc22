package verify

import (
	"context"
	"strings"
)

// checkAPIServer proves that this master's own API server is ready (/readyz), asking it
// with kubectl and the master's administrator kubeconfig.
var checkAPIServer = &check{
	Name:  "apiserver",
	Title: "The master's API server answers /readyz",
	root:  true,
	skip: func(t *Target) string {
		switch {
		case t.Expect.APIServer == nil:
			return "not a master"
		case t.Expect.Kubectl == nil:
			return "no kubectl access given for this master"
		}
		return ""
	},
	probes: func(t *Target, o *Options) []probe { return []probe{{true, readyzArgv(t)}} },
	run: func(ctx context.Context, n *node) CheckResult {
		url := n.t.Expect.APIServer.URL
		argv := readyzArgv(n.t)
		out, err := n.exec(ctx, true, argv...)
		if err != nil {
			return failed(err)
		}
		text := string(out.Stdout) + "\n" + string(out.Stderr)
		if out.Exit == 0 && strings.Contains(text, "readyz check passed") {
			return passed("%s ready", url)
		}
		// A failing /readyz comes back inside kubectl's error, its newlines escaped.
		var bad []string
		for _, l := range strings.Split(strings.ReplaceAll(text, `\n`, "\n"), "\n") {
			if i := strings.Index(l, "[-]"); i >= 0 {
				bad = append(bad, strings.TrimSpace(l[i+3:]))
			}
		}
		if len(bad) > 0 {
			return failedf("%s not ready: %s", url, strings.Join(bad, "; "))
		}
		return failedf("%s not ready: %s", url, commandFailed(argv, out))
	},
}

func readyzArgv(t *Target) []string {
	return append(kubectlArgv(t.Expect.Kubectl), "--server="+t.Expect.APIServer.URL, "--request-timeout=10s", "get", "--raw=/readyz?verbose")
}

func kubectlArgv(k *KubectlAccess) []string {
	argv := []string{orDefault(k.Path, "kubectl")}
	if k.Kubeconfig != "" {
		argv = append(argv, "--kubeconfig="+k.Kubeconfig)
	}
	return argv
}
