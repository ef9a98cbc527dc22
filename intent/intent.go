// Package intent is kisgen's record of intent in the state directory (STATE/intent/):
// what was applied to the cluster, so that day-two operations and upgrades know what
// runs. It holds the plan as last applied (plan.yaml), each node's fingerprint (the
// sha256 of the user-data its machine booted with) and versions (applied.json), the
// founding etcd membership, and the history of every change (history.jsonl, one event per
// line, appended). `kisgen provision` and `kisgen upgrade` write it; `kisgen status`,
// `kisgen render` and `kisgen diff` read it. It holds no secrets.
package intent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/internal/jsonrecord"
)

// Schema identifies the record's format.
const Schema = "kisgen.io/intent/v1"

// Errors.
var (
	// ErrNoRecord: nothing was applied with this state directory yet.
	ErrNoRecord = errors.New("no record of intent")
	// ErrBadRecord: the record cannot be read.
	ErrBadRecord = errors.New("unreadable record of intent")
)

// Dir is where the record lives in a state directory.
func Dir(stateDir string) string { return filepath.Join(stateDir, "intent") }

// Path is the record of what was applied; PlanPath the plan as last applied;
// HistoryPath the history of changes.
func Path(stateDir string) string        { return filepath.Join(Dir(stateDir), "applied.json") }
func PlanPath(stateDir string) string    { return filepath.Join(Dir(stateDir), "plan.yaml") }
func HistoryPath(stateDir string) string { return filepath.Join(Dir(stateDir), "history.jsonl") }

// Record is what was applied to the cluster.
type Record struct {
	Schema  string `json:"schema"`
	Cluster string `json:"cluster"`
	// EtcdInitialCluster is the founding etcd membership (NAME=PEER_URL,…), fixed when
	// the cluster was first applied: its members start (or rejoin) the cluster, every
	// later member joins it. Render keeps it in the founding members' user-data, so that
	// adding a member changes none of theirs.
	EtcdInitialCluster string `json:"etcdInitialCluster,omitempty"`
	// PlanSHA256 is the sha256 of the plan as last applied (PlanPath).
	PlanSHA256 string `json:"planSha256"`
	// Nodes are the nodes whose machines were applied, by host.
	Nodes map[string]Node `json:"nodes"`
	// Updated is when the record last changed.
	Updated time.Time `json:"updated"`
}

// Node is one node as applied.
type Node struct {
	Roles []string `json:"roles"`
	// Machine is the provider's machine id.
	Machine string `json:"machine,omitempty"`
	// Fingerprint is the sha256 of the user-data the machine booted with; ConfigSHA256
	// the node's configuration digest (its status file's configSha256).
	Fingerprint  string `json:"fingerprint"`
	ConfigSHA256 string `json:"configSha256,omitempty"`
	// Versions are the planned versions it was booted with (kubernetes, etcd, …).
	Versions map[string]string `json:"versions,omitempty"`
	Applied  time.Time         `json:"applied"`
}

// Event is one change in the history.
type Event struct {
	Time time.Time `json:"time"`
	// Action: create, keep, replace, remove, upgrade, step (of an upgrade).
	Action string `json:"action"`
	Host   string `json:"host,omitempty"`
	// From and To are fingerprints, or versions for an upgrade.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Outcome: ok, failed, started.
	Outcome string `json:"outcome"`
	Detail  string `json:"detail,omitempty"`
}

// Load reads the record; ErrNoRecord when there is none.
func Load(stateDir string) (*Record, error) {
	path := Path(stateDir)
	var r Record
	found, err := jsonrecord.Read(path, &r, ErrBadRecord)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%w: %s (nothing was applied with this state directory: run `kisgen provision`)", ErrNoRecord, path)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%w: %s: schema %q, want %q", ErrBadRecord, path, r.Schema, Schema)
	}
	if r.Nodes == nil {
		r.Nodes = map[string]Node{}
	}
	return &r, nil
}

// LoadOrNew is Load, with an empty record for cluster when there is none yet.
func LoadOrNew(stateDir, cluster string) (*Record, error) {
	r, err := Load(stateDir)
	if errors.Is(err, ErrNoRecord) {
		return &Record{Schema: Schema, Cluster: cluster, Nodes: map[string]Node{}}, nil
	}
	return r, err
}

// Save writes the record atomically (0600: it names machines, which is not secret, but
// nothing else needs to read it).
func Save(stateDir string, r *Record) error {
	r.Schema = Schema
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(Dir(stateDir), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(Path(stateDir), append(data, '\n'), 0o600)
}

// SavePlan keeps the plan as applied.
func SavePlan(stateDir string, planText []byte) error {
	if err := os.MkdirAll(Dir(stateDir), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFile(PlanPath(stateDir), planText, 0o600)
}

// Append adds events to the history. Each event is one line written with one write
// to a file opened for appending, so an interrupted run leaves whole lines.
func Append(stateDir string, events ...Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := os.MkdirAll(Dir(stateDir), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(HistoryPath(stateDir), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, ev := range events {
		line, err := json.Marshal(ev)
		if err != nil {
			f.Close()
			return err
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// History reads every event, oldest first. A last line cut short (a crash while
// writing) is left out.
func History(stateDir string) ([]Event, error) {
	data, err := os.ReadFile(HistoryPath(stateDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Event
	lines := bytes.Split(data, []byte("\n"))
	for i, line := range lines {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			if i == len(lines)-1 {
				break
			}
			return nil, fmt.Errorf("%w: %s line %d: %v", ErrBadRecord, HistoryPath(stateDir), i+1, err)
		}
		out = append(out, ev)
	}
	return out, nil
}

// Hosts lists the record's nodes, sorted.
func (r *Record) Hosts() []string {
	return slices.Sorted(maps.Keys(r.Nodes))
}
