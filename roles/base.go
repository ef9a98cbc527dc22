package roles

import (
	"fmt"
	"strings"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/templates"
)

// SudoersPath gives the plan's SSH user passwordless sudo.
const SudoersPath = "/etc/sudoers.d/kisgen"

// base is what every node gets: hostname, SSH user and host key, the kisgen scripts,
// the managed hosts block and the proxy settings.
func (b *builder) base() error {
	if err := b.file("/etc/hostname", 0o644, "hostname", b.n.Host+"\n"); err != nil {
		return err
	}
	sudo, err := templates.Execute("sudoers", map[string]string{"User": b.p.SSH.User})
	if err != nil {
		return err
	}
	if err := b.file(SudoersPath, 0o440, "sudo rights of "+b.p.SSH.User, sudo); err != nil {
		return err
	}

	priv, line, ok := b.c.sec.SSHHostKey(b.n.Host)
	if !ok {
		return fmt.Errorf("%w: SSH host key of %s (run `kisgen render` or `kisgen certs issue` to generate it)", ErrMissingSecret, b.n.Host)
	}
	b.hostKey = strings.TrimSpace(string(line))
	if err := b.add(File{Path: SSHHostKeyPath, Mode: 0o600, Content: string(priv), Secret: true, What: "SSH host private key"}); err != nil {
		return err
	}
	if err := b.file(SSHHostKeyPath+".pub", 0o644, "SSH host public key", b.hostKey+" root@"+b.n.Host+"\n"); err != nil {
		return err
	}
	sshd, err := templates.Execute("sshd.conf", map[string]any{"HostKey": SSHHostKeyPath, "Port": b.p.SSH.Port})
	if err != nil {
		return err
	}
	if err := b.file(SSHDConfigPath, 0o644, "sshd settings", sshd); err != nil {
		return err
	}

	for _, s := range b.c.scripts {
		switch {
		case s.Path == BinDir+"/kisgen-addons" && b.n != b.c.firstMaster:
		case s.Path == BinDir+"/kisgen-bridge-routes" && !(bridgeEnabled(b.p) && b.n.IsKubernetesNode()):
		case s.Path == BinDir+"/kisgen-etcd-join" && !b.n.Has(plan.RoleEtcd):
		case s.Path == BinDir+"/kisgen-sync" && !b.n.Has(plan.RoleMaster) && !b.p.Network.UpdateHostsFiles:
		case s.Path == BinDir+"/kisgen-publish" && !b.n.Has(plan.RoleMaster):
		default:
			if err := b.add(s); err != nil {
				return err
			}
		}
	}
	if b.c.hostsBlock != "" {
		seed, err := b.c.seedHostsBlock(b.n)
		if err != nil {
			return err
		}
		if err := b.file(HostsBlockPath, 0o644, "managed hosts block (first boot: this node and the API servers)", seed); err != nil {
			return err
		}
	}
	if b.c.proxyEnv != "" {
		if err := b.file(ProxyEnvPath, 0o644, "proxy settings", b.c.proxyEnv); err != nil {
			return err
		}
	}
	b.exec = append(b.exec, "curl", "sha256sum", "tar", "systemctl", "awk", "sed")
	return nil
}

// install writes the artifact list and the unit that runs the bootstrap at every boot.
func (b *builder) install() error {
	var list strings.Builder
	list.WriteString("# Written by kisgen: NAME VERSION KIND URL SHA256 SUMS_URL OPTIONAL PROVIDES DEST (tab-separated; see roles.Artifact).\n")
	for _, a := range b.artifacts {
		line, err := artifactLine(a)
		if err != nil {
			return err
		}
		list.WriteString(line)
	}
	if err := b.file(ArtifactsPath, 0o644, "binaries to install", list.String()); err != nil {
		return err
	}
	data := b.unitData("", nil)
	var err error
	if data.Fetch, err = b.fetchList(); err != nil {
		return err
	}
	text, err := templates.Execute("kisgen-install.service", data)
	if err != nil {
		return err
	}
	b.units = append(b.units, Unit{Name: "kisgen-install.service", Content: text, Enable: true, What: "kisgen node install"})
	return nil
}
