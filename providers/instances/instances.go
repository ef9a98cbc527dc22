package instances

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/jsonrecord"
)

// The document's version. A change that an older kisgen could misread gets a new
// apiVersion; Load refuses any other.
const (
	APIVersion = "kisgen.io/v1alpha1"
	Kind       = "Instances"
)

// FileName is the record's name in the state directory.
const FileName = "instances.json"

// Path is where the record is kept: STATE/instances.json.
func Path(stateDir string) string { return filepath.Join(stateDir, FileName) }

// Record is the document at Path: the machines of one cluster, booted by one provider.
type Record struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// Cluster is the plan's cluster.name.
	Cluster string `json:"cluster"`
	// Provider is the provider that booted the machines (qemu, aws, vsphere, packet, pxe).
	Provider string `json:"provider"`
	// Instances are the machines, sorted by node.
	Instances []Instance `json:"instances"`
}

// Instance is one node's machine.
type Instance struct {
	// Node is the node's host name in the plan.
	Node string `json:"node"`
	// Machine is the provider's id of the machine (instance id, VM reference, device id,
	// qemu VM name, or the boot MAC address for PXE).
	Machine string `json:"machine"`
	// SSHAddress is where the node's sshd answers, host:port (a qemu port forward on
	// loopback, a cloud's public address, or the plan's ip and ssh_port).
	SSHAddress string `json:"sshAddress"`
	// HostKey is the SSH host public key the node must present, as one authorized_keys
	// line: the key kisgen generated for the node and put into the user-data it booted
	// with. kisgen generates one (ed25519) host key per node.
	HostKey string `json:"hostKey,omitempty"`
	// APIAddress is where a master's API server answers from this machine, host:port,
	// when its plan address does not (qemu's port forward on loopback); `kisgen
	// kubeconfig` and day-two operations use it.
	APIAddress string `json:"apiAddress,omitempty"`
	// RecordedAt is when this entry was last changed (UTC, seconds).
	RecordedAt time.Time `json:"recordedAt"`
}

// Node returns the entry of host.
func (r *Record) Node(host string) (Instance, bool) {
	for _, in := range r.Instances {
		if in.Node == host {
			return in, true
		}
	}
	return Instance{}, false
}

// Marshal returns the record as the indented JSON Save writes: apiVersion and kind set,
// entries sorted by node. It refuses a record Load would refuse.
func (r Record) Marshal() ([]byte, error) {
	r.APIVersion, r.Kind = APIVersion, Kind
	r.Instances = slices.Clone(r.Instances)
	slices.SortFunc(r.Instances, func(a, b Instance) int { return strings.Compare(a.Node, b.Node) })
	if r.Instances == nil {
		r.Instances = []Instance{}
	}
	if err := r.check(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Save writes the record to Path atomically, mode 0600 (it says where the cluster's
// machines are and nothing more, but there is no reason to share it).
func Save(stateDir string, r Record) error {
	path := Path(stateDir)
	data, err := r.Marshal()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o600)
}

// Load reads the record. No record is ErrNoRecord; anything Marshal would not have
// written is ErrBadRecord, naming the file and the entry.
func Load(stateDir string) (*Record, error) {
	path := Path(stateDir)
	var r Record
	found, err := jsonrecord.Read(path, &r, ErrBadRecord)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s does not exist", ErrNoRecord, path)
	}
	if r.APIVersion != APIVersion || r.Kind != Kind {
		return nil, fmt.Errorf("%w: %s: apiVersion %q, kind %q; this kisgen reads apiVersion %s, kind %s (run `kisgen provision` again to rewrite it)",
			ErrBadRecord, path, r.APIVersion, r.Kind, APIVersion, Kind)
	}
	if err := r.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// LoadFor reads the record and checks that it lists cluster's machines booted by
// provider: a missing record, or one of another provider or cluster, is an error that
// says which `kisgen provision` to run.
func LoadFor(stateDir, cluster, provider string) (*Record, error) {
	r, err := Load(stateDir)
	if errors.Is(err, ErrNoRecord) {
		return nil, fmt.Errorf("%w: %s does not exist: nothing was provisioned with this state directory; run `kisgen provision %s` first",
			ErrNoRecord, Path(stateDir), provider)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case r.Cluster != cluster:
		return nil, fmt.Errorf("%w: %s lists the machines of cluster %q, the plan is cluster %q: use the plan's own state directory (--state) or run `kisgen provision %s`",
			ErrOtherCluster, Path(stateDir), r.Cluster, cluster, provider)
	case r.Provider != provider:
		return nil, fmt.Errorf("%w: %s lists machines booted by %s, not %s: verify those with --provider %s, or run `kisgen provision %s` first",
			ErrOtherProvider, Path(stateDir), r.Provider, provider, r.Provider, provider)
	}
	return r, nil
}

// Remove deletes the record if it lists cluster's machines booted by provider (they
// were just destroyed); a record of another provider or cluster is left alone.
func Remove(stateDir, cluster, provider string) error {
	r, err := Load(stateDir)
	if errors.Is(err, ErrNoRecord) {
		return nil
	}
	if err == nil && (r.Cluster != cluster || r.Provider != provider) {
		return nil
	}
	// An unreadable record names nothing that still exists once the machines are gone.
	if err := os.Remove(Path(stateDir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// check refuses what verify could not use: no cluster or provider, an entry without node
// or machine, a node twice, an SSH address that is not host:port, a host key that does
// not parse.
func (r *Record) check() error {
	var errs []error
	if r.Cluster == "" || r.Provider == "" {
		errs = append(errs, fmt.Errorf("%w: cluster and provider are required", ErrBadRecord))
	}
	seen := map[string]bool{}
	for i, in := range r.Instances {
		at := fmt.Sprintf("instances[%d]", i)
		if in.Node != "" {
			at += " (" + in.Node + ")"
		}
		if in.Node == "" || in.Machine == "" {
			errs = append(errs, fmt.Errorf("%w: %s: node and machine are required", ErrBadRecord, at))
		}
		if seen[in.Node] {
			errs = append(errs, fmt.Errorf("%w: %s: node listed twice", ErrBadRecord, at))
		}
		seen[in.Node] = true
		if err := checkAddress(in.SSHAddress); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: sshAddress %q: %v", ErrBadRecord, at, in.SSHAddress, err))
		}
		if in.HostKey != "" {
			_, _, _, rest, err := ssh.ParseAuthorizedKey([]byte(in.HostKey))
			if err == nil && len(bytes.TrimSpace(rest)) > 0 {
				err = errors.New("more than one key")
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %s: hostKey is not one authorized_keys line: %v", ErrBadRecord, at, err))
			}
		}
	}
	return errors.Join(errs...)
}

func checkAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("the port must be a number from 1 to 65535")
	}
	return nil
}
