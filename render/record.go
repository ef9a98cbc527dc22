package render

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/kisgen/kisgen/internal/atomicfile"
	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/roles"
)

// RecordSchema identifies the record format.
const RecordSchema = "kisgen.io/render-record/v1"

// RecordPath is where the record of the last render is kept in a state directory.
func RecordPath(stateDir string) string {
	return filepath.Join(stateDir, "render", "record.json")
}

// Record is the record of intent a render keeps in the state directory: what it rendered
// for each node and from which inputs, so that `kisgen diff` can say which nodes' user-data
// a changed plan would change, and why, before anything is rendered. It holds sha256 sums
// of secrets, never secrets.
type Record struct {
	Schema     string            `json:"schema"`
	Cluster    string            `json:"cluster"`
	PlanSHA256 string            `json:"planSha256"`
	Versions   map[string]string `json:"versions"`
	// Hosts lists the nodes in plan order.
	Hosts []string              `json:"hosts"`
	Nodes map[string]NodeRecord `json:"nodes"`
	// Facts are the lines of non-secret text files and units, by the content's sha256
	// (shared content is kept once): what diff compares to explain a change.
	Facts map[string][]string `json:"facts"`
}

// NodeRecord is what was rendered for one node.
type NodeRecord struct {
	Roles        []string `json:"roles"`
	Format       string   `json:"format"`
	File         string   `json:"file"`
	SHA256       string   `json:"sha256"`
	ConfigSHA256 string   `json:"configSha256"`
	// Entries are the files, unit files and users the user-data holds, by path (users as
	// "user:NAME").
	Entries map[string]Entry `json:"entries"`

	facts map[string][]string
}

// Entry is one file, unit or user of a node's user-data.
type Entry struct {
	SHA256 string `json:"sha256"`
	What   string `json:"what"`
	Secret bool   `json:"secret,omitempty"`
}

// factCache holds each explainable content's lines once per render, by sha256.
type factCache struct{ m sync.Map }

// recordNode records a node's model; it runs concurrently with the other nodes.
func recordNode(r NodeResult, m *roles.Node, fc *factCache) NodeRecord {
	rec := NodeRecord{Format: string(r.Format), File: r.File, SHA256: r.SHA256, ConfigSHA256: r.ConfigSHA256,
		Entries: make(map[string]Entry, len(m.Files)+len(m.Units)+1), facts: map[string][]string{}}
	for _, role := range r.Roles {
		rec.Roles = append(rec.Roles, string(role))
	}
	add := func(path, what, content, h string, secret bool) {
		if h == "" {
			sum := sha256.Sum256([]byte(content))
			h = hex.EncodeToString(sum[:])
		}
		rec.Entries[path] = Entry{SHA256: h, What: what, Secret: secret}
		if !secret && explainable(path, content) {
			lines, ok := fc.m.Load(h)
			if !ok {
				lines, _ = fc.m.LoadOrStore(h, factLines(content))
			}
			rec.facts[h] = lines.([]string)
		}
	}
	for _, f := range m.Files {
		add(f.Path, f.What, f.Content, f.SHA256, f.Secret)
	}
	for _, u := range m.Units {
		add(roles.UnitDir+"/"+u.Name, "unit "+u.Name, u.Content, u.SHA256, false)
	}
	for _, u := range m.Users {
		add("user:"+u.Name, "user "+u.Name+" and its SSH keys", u.Shell+"\n"+strings.Join(u.SSHAuthorizedKeys, "\n"), "", false)
	}
	return rec
}

// explainable says whether diff should keep a file's lines: settings people change,
// not certificates (their lines mean nothing) nor kisgen's scripts (changed only by a
// kisgen upgrade).
func explainable(path, content string) bool {
	return len(content) <= 64<<10 && !strings.HasPrefix(content, "-----BEGIN") && !strings.HasPrefix(path, roles.BinDir) && path != roles.LibPath
}

// factLines are a file's meaningful lines: trimmed, without comments, blank lines and
// the line continuations of unit files.
func factLines(content string) []string {
	var out []string
	for _, l := range strings.Split(content, "\n") {
		l = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "\\"))
		l = strings.Join(strings.Fields(l), " ")
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

func newRecord(p *plan.Plan, nodes []NodeResult, recs []NodeRecord) Record {
	r := Record{Schema: RecordSchema, Cluster: p.Name, Versions: versions(p), Nodes: make(map[string]NodeRecord, len(nodes)), Facts: map[string][]string{}}
	if p.File != "" {
		if data, err := os.ReadFile(p.File); err == nil {
			sum := sha256.Sum256(data)
			r.PlanSHA256 = hex.EncodeToString(sum[:])
		}
	}
	for i, n := range nodes {
		r.Hosts = append(r.Hosts, n.Host)
		for h, lines := range recs[i].facts {
			r.Facts[h] = lines
		}
		recs[i].facts = nil
		r.Nodes[n.Host] = recs[i]
	}
	return r
}

func versions(p *plan.Plan) map[string]string {
	v := p.Versions
	return map[string]string{"kubernetes": v.Kubernetes, "etcd": v.Etcd, "containerd": v.Containerd, "runc": v.Runc,
		"cni-plugins": v.CNIPlugins, "calico": v.Calico, "coredns": v.CoreDNS, "pause": v.Pause}
}

// Marshal writes the record as JSON (map keys sorted, so identical renders give
// identical bytes).
func (r Record) Marshal() ([]byte, error) {
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteJSON writes what Marshal returns, one node and one fact at a time: the record of
// 10,000 nodes is tens of megabytes of JSON, which encoding the whole value at once
// would hold several times over. The bytes are those of a json.Encoder with
// SetEscapeHTML(false) and SetIndent("", " ") encoding the whole record (a test
// compares them).
func (r Record) WriteJSON(w io.Writer) error {
	b := bufio.NewWriter(w)
	var buf bytes.Buffer
	value := func(prefix string, v any) error {
		buf.Reset()
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent(prefix, " ")
		if err := enc.Encode(v); err != nil {
			return err
		}
		_, err := b.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
		return err
	}
	field := func(name string, v any, last bool) error {
		fmt.Fprintf(b, " %q: ", name)
		if err := value(" ", v); err != nil {
			return err
		}
		if !last {
			b.WriteString(",")
		}
		b.WriteString("\n")
		return nil
	}
	// object writes a map field entry by entry, keys sorted as encoding/json sorts them.
	object := func(name string, null bool, keys []string, v func(string) any, last bool) error {
		fmt.Fprintf(b, " %q: ", name)
		if null {
			b.WriteString("null")
		} else if len(keys) == 0 {
			b.WriteString("{}")
		} else {
			sort.Strings(keys)
			b.WriteString("{\n")
			for i, k := range keys {
				kj, _ := json.Marshal(k)
				fmt.Fprintf(b, "  %s: ", kj)
				if err := value("  ", v(k)); err != nil {
					return err
				}
				if i < len(keys)-1 {
					b.WriteString(",")
				}
				b.WriteString("\n")
			}
			b.WriteString(" }")
		}
		if !last {
			b.WriteString(",")
		}
		b.WriteString("\n")
		return nil
	}
	b.WriteString("{\n")
	for _, f := range []struct {
		name string
		v    any
	}{{"schema", r.Schema}, {"cluster", r.Cluster}, {"planSha256", r.PlanSHA256}, {"versions", r.Versions}, {"hosts", r.Hosts}} {
		if err := field(f.name, f.v, false); err != nil {
			return err
		}
	}
	nodes := make([]string, 0, len(r.Nodes))
	for k := range r.Nodes {
		nodes = append(nodes, k)
	}
	if err := object("nodes", r.Nodes == nil, nodes, func(k string) any { return r.Nodes[k] }, false); err != nil {
		return err
	}
	facts := make([]string, 0, len(r.Facts))
	for k := range r.Facts {
		facts = append(facts, k)
	}
	if err := object("facts", r.Facts == nil, facts, func(k string) any { return r.Facts[k] }, true); err != nil {
		return err
	}
	b.WriteString("}\n")
	return b.Flush()
}

// SaveRecord writes the record atomically to the state directory.
func SaveRecord(stateDir string, r Record) error {
	path := RecordPath(stateDir)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, 0o600, r.WriteJSON)
}

// LoadRecord reads the record of the last render; ErrNoRecord when nothing was rendered
// with this state directory yet.
func LoadRecord(stateDir string) (*Record, error) {
	path := RecordPath(stateDir)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s (run `kisgen render` first)", ErrNoRecord, path)
	}
	if err != nil {
		return nil, err
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadRecord, path, err)
	}
	if r.Schema != RecordSchema {
		return nil, fmt.Errorf("%w: %s: schema %q, want %q", ErrBadRecord, path, r.Schema, RecordSchema)
	}
	return &r, nil
}
