package render

import (
	"bytes"
	"fmt"
	"sort"

	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/roles"
)

// CloudConfigHeader is the first line of every cloud-init user-data document.
const CloudConfigHeader = "#cloud-config\n"

// CloudConfig is the cloud-init document kisgen writes: only these keys, marshalled from
// this type (ParseCloudConfig reads it back strictly).
type CloudConfig struct {
	Hostname         string `yaml:"hostname"`
	PreserveHostname bool   `yaml:"preserve_hostname"`
	// ManageEtcHosts is false when kisgen manages a block of /etc/hosts itself, so that
	// cloud-init does not rewrite the file at every boot.
	ManageEtcHosts *bool `yaml:"manage_etc_hosts,omitempty"`
	// The node's SSH host key (ed25519) comes from write_files: cloud-init must not
	// delete it; it generates only missing keys of the listed types, so none.
	SSHDeleteKeys  bool        `yaml:"ssh_deletekeys"`
	SSHGenKeyTypes []string    `yaml:"ssh_genkeytypes"`
	SSHPwAuth      bool        `yaml:"ssh_pwauth"`
	DisableRoot    bool        `yaml:"disable_root"`
	Users          []CloudUser `yaml:"users"`
	WriteFiles     []WriteFile `yaml:"write_files"`
	RunCmd         []string    `yaml:"runcmd"`
}

// CloudUser is an entry of users.
type CloudUser struct {
	Name              string   `yaml:"name"`
	Shell             string   `yaml:"shell"`
	LockPasswd        bool     `yaml:"lock_passwd"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
}

// WriteFile is an entry of write_files.
type WriteFile struct {
	Path        string `yaml:"path"`
	Permissions string `yaml:"permissions"`
	Owner       string `yaml:"owner"`
	Content     string `yaml:"content"`
}

// entries lists what the user-data writes, files and unit files together, sorted by
// path: the content both formats must agree on.
func entries(n *roles.Node) []WriteFile {
	out := make([]WriteFile, 0, len(n.Files)+len(n.Units))
	for _, f := range n.Files {
		out = append(out, WriteFile{Path: f.Path, Permissions: fmt.Sprintf("%#04o", f.Mode.Perm()), Owner: "root:root", Content: f.Content})
	}
	for _, u := range n.Units {
		out = append(out, WriteFile{Path: roles.UnitDir + "/" + u.Name, Permissions: "0644", Owner: "root:root", Content: u.Content})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// CloudInit renders a node's model as #cloud-config. Units are written as files; those
// the model enables are enabled and started by runcmd (the boot's unit transaction was
// computed before cloud-init wrote them).
func CloudInit(n *roles.Node, manageHosts bool) ([]byte, error) {
	c := CloudConfig{
		Hostname:       n.Host,
		SSHGenKeyTypes: []string{"ed25519"},
		DisableRoot:    true,
		WriteFiles:     entries(n),
	}
	if manageHosts {
		f := false
		c.ManageEtcHosts = &f
	}
	for _, u := range n.Users {
		c.Users = append(c.Users, CloudUser{Name: u.Name, Shell: u.Shell, LockPasswd: true, SSHAuthorizedKeys: u.SSHAuthorizedKeys})
	}
	c.RunCmd = []string{"systemctl daemon-reload"}
	for _, u := range n.Units {
		if u.Enable {
			c.RunCmd = append(c.RunCmd, "systemctl enable "+u.Name, "systemctl start --no-block "+u.Name)
		}
	}
	var b bytes.Buffer
	b.WriteString(CloudConfigHeader)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEncode, n.Host, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ParseCloudConfig reads user-data written by CloudInit, refusing unknown keys.
func ParseCloudConfig(data []byte) (*CloudConfig, error) {
	if !bytes.HasPrefix(data, []byte(CloudConfigHeader)) {
		return nil, fmt.Errorf("%w: the user-data does not start with %q", ErrInvalidOutput, CloudConfigHeader)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c CloudConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidOutput, err)
	}
	return &c, nil
}
