// Package templates holds the text kisgen writes onto nodes that is text by nature:
// systemd units, the node's shell scripts (bootstrap, pre-flight, add-ons, bridge
// routes), containerd's config.toml and registry hosts.toml, the managed hosts block,
// the CoreDNS Corefile, sshd and sudoers drop-ins, and environment files. Documents with
// a schema (kubelet and kube-proxy configuration, kubeconfigs, Kubernetes manifests, CNI
// configuration) are typed values marshalled by package roles, never templates.
//
// Templates are embedded, parsed once at start-up with missingkey=error, and executed by
// name with Execute. Values that reach a unit's command line, a TOML file or an
// environment file go through SystemdArg, TOMLString and ShellQuote.
package templates
