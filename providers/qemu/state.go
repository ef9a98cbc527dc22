package qemu

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"github.com/kisgen/kisgen/providers"
)

// Instance is one VM as recorded in StateDir/providers/qemu.json: the fields every
// provider records (providers.Instance, SSHAddr included) and the qemu specifics.
type Instance struct {
	providers.Instance
	PID        int    `json:"pid"`
	Dir        string `json:"dir"`
	SSHPort    int    `json:"sshPort"`
	MgmtMAC    string `json:"mgmtMac"`
	ClusterMAC string `json:"clusterMac"`
	CPUs       int    `json:"cpus"`
	MemoryMB   int    `json:"memoryMb"`
	Image      string `json:"image"`
	// UserDataSHA256 is the sum of the user-data in the VM's seed.
	UserDataSHA256 string `json:"userDataSha256"`
}

type stateSwitch struct {
	Socket string `json:"socket"`
	PID    int    `json:"pid"`
}

// state is the document at StateDir/providers/qemu.json.
type state struct {
	mu        sync.Mutex
	Provider  string      `json:"provider"`
	Cluster   string      `json:"cluster"`
	Dir       string      `json:"dir"`
	Accel     string      `json:"accel"`
	Switch    stateSwitch `json:"switch"`
	Instances []*Instance `json:"instances"`
}

func statePath(stateDir string) string { return providers.RecordPath(stateDir, "qemu") }

// LoadInstances reads the instances recorded in stateDir (none when nothing is recorded).
func LoadInstances(stateDir string) ([]Instance, error) {
	b, err := os.ReadFile(statePath(stateDir))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", statePath(stateDir), err)
	}
	out := make([]Instance, 0, len(st.Instances))
	for _, in := range st.Instances {
		out = append(out, *in)
	}
	return out, nil
}

func loadState(stateDir string) *state {
	st := &state{}
	if stateDir != "" {
		if b, err := os.ReadFile(statePath(stateDir)); err == nil {
			_ = json.Unmarshal(b, st)
		}
	}
	st.Provider = "qemu"
	return st
}

func (st *state) put(v *vm, pid int, created bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	sum := sha256.Sum256(v.userData)
	in := &Instance{
		Instance: providers.Instance{Host: v.node.Host, ID: v.name, State: "booting", PrivateIP: v.node.InternalIP.String(),
			SSHAddr: fmt.Sprintf("127.0.0.1:%d", v.sshPort), Created: created},
		PID: pid, Dir: v.dir, SSHPort: v.sshPort, MgmtMAC: v.mgmtMAC, ClusterMAC: v.clusterMAC, CPUs: v.cpus, MemoryMB: v.memoryMB,
		Image: v.img.BuildID, UserDataSHA256: hex.EncodeToString(sum[:]),
	}
	if v.apiPort > 0 {
		in.APIAddr = fmt.Sprintf("127.0.0.1:%d", v.apiPort)
	}
	for i, old := range st.Instances {
		if old.Host == in.Host {
			if !created {
				// A kept VM still runs the user-data and settings it was started with.
				in.UserDataSHA256, in.Image = old.UserDataSHA256, old.Image
			}
			st.Instances[i] = in
			return
		}
	}
	st.Instances = append(st.Instances, in)
}

// drop removes a host's VM from the record.
func (st *state) drop(host string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	kept := st.Instances[:0]
	for _, in := range st.Instances {
		if in.Host != host {
			kept = append(kept, in)
		}
	}
	st.Instances = kept
}

func (st *state) setState(host, s string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, in := range st.Instances {
		if in.Host == host {
			in.State = s
		}
	}
}

func (st *state) instances() []providers.Instance {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]providers.Instance, 0, len(st.Instances))
	for _, in := range st.Instances {
		out = append(out, in.Instance)
	}
	return out
}

func (st *state) save(stateDir string) error {
	if stateDir == "" {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return providers.SaveRecord(stateDir, "qemu", st)
}
