package render

import (
	"bytes"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

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
// path: the content both formats must agree on. Files the node downloads
// (roles.File.Fetch) are not in the user-data.
func entries(n *roles.Node) []WriteFile {
	out := make([]WriteFile, 0, len(n.Files)+len(n.Units))
	for _, e := range keyedEntries(n) {
		out = append(out, e.WriteFile)
	}
	return out
}

// entry is a write_files entry and the sha256 of its content ("" when unknown).
type entry struct {
	WriteFile
	sha string
}

func keyedEntries(n *roles.Node) []entry {
	out := make([]entry, 0, len(n.Files)+len(n.Units))
	for _, f := range n.Files {
		if f.Fetch != "" {
			continue // the node downloads it (roles.FetchScript)
		}
		out = append(out, entry{WriteFile{Path: f.Path, Permissions: permissions(f.Mode), Owner: "root:root", Content: f.Content}, f.SHA256})
	}
	for _, u := range n.Units {
		out = append(out, entry{WriteFile{Path: roles.UnitDir + "/" + u.Name, Permissions: "0644", Owner: "root:root", Content: u.Content}, u.SHA256})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// permissions is a file mode as write_files writes it ("0644"); the modes kisgen uses
// are constants, not a new string for every file of every node.
func permissions(m fs.FileMode) string {
	switch m.Perm() {
	case 0o644:
		return "0644"
	case 0o600:
		return "0600"
	case 0o755:
		return "0755"
	case 0o440:
		return "0440"
	}
	return fmt.Sprintf("%#04o", m.Perm())
}

// CloudInit renders a node's model as #cloud-config. Units are written as files; those
// the model enables are enabled and started by runcmd (the boot's unit transaction was
// computed before cloud-init wrote them).
func CloudInit(n *roles.Node, manageHosts bool) ([]byte, error) {
	return cloudInit(n, manageHosts, nil)
}

// cloudInit marshals the document with yaml.v3. With a cache, each write_files entry is
// marshalled once per render and reused by every node that writes the same file (the
// scripts, CA certificates and shared configuration are most of every node's bytes):
// the entry is marshalled in the same context (a one-entry write_files list at the top
// level) and spliced in place of the empty list, which gives the same bytes as
// marshalling the whole document (a test checks this on every example).
func cloudInit(n *roles.Node, manageHosts bool, cache *fragments) ([]byte, error) {
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
	if cache == nil {
		doc, err := encodeYAML(CloudConfigHeader, &c)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrEncode, n.Host, err)
		}
		return doc, nil
	}
	files := keyedEntries(n)
	c.WriteFiles = nil
	doc, err := encodeYAML(CloudConfigHeader, &c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEncode, n.Host, err)
	}
	i := bytes.Index(doc, emptyWriteFiles)
	if i < 0 || bytes.Count(doc, emptyWriteFiles) != 1 {
		return nil, fmt.Errorf("%w: %s: no single write_files key to fill", ErrEncode, n.Host)
	}
	size := len(doc)
	frags := make([][]byte, len(files))
	for j, f := range files {
		if frags[j], err = cache.get(f.WriteFile, f.sha); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrEncode, n.Host, err)
		}
		size += len(frags[j])
	}
	out := make([]byte, 0, size)
	out = append(out, doc[:i+1]...)
	out = append(out, "write_files:\n"...)
	for _, fr := range frags {
		out = append(out, fr...)
	}
	return append(out, doc[i+len(emptyWriteFiles):]...), nil
}

var emptyWriteFiles = []byte("\nwrite_files: []\n")

func encodeYAML(header string, v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fragments caches marshalled write_files entries for one render. An entry is kept
// from the second time it is seen: content only one node has (its certificates and
// keys) is never held, so memory does not grow with the plan.
type fragments struct {
	mu   sync.Mutex
	seen map[fragmentKey]bool
	m    map[fragmentKey][]byte
}

// fragmentKey identifies an entry. Its strings are the entry's own (the path a constant,
// the sum the one the record keeps), so the set of entries seen once, which grows with
// the plan, costs no copies.
type fragmentKey struct{ path, permissions, owner, sha string }

func newFragments() *fragments {
	return &fragments{seen: map[fragmentKey]bool{}, m: map[fragmentKey][]byte{}}
}

// get returns the entry as yaml.v3 writes it inside a top-level write_files list; sha is
// the content's sha256 ("" disables caching).
func (f *fragments) get(w WriteFile, sha string) ([]byte, error) {
	key := fragmentKey{w.Path, w.Permissions, w.Owner, sha}
	keep := false
	if sha != "" {
		f.mu.Lock()
		if b, ok := f.m[key]; ok {
			f.mu.Unlock()
			return b, nil
		}
		keep = f.seen[key]
		f.seen[key] = true
		f.mu.Unlock()
	}
	b, ok := literalEntry(w)
	if !ok {
		doc, err := encodeYAML("", &struct {
			WriteFiles []WriteFile `yaml:"write_files"`
		}{[]WriteFile{w}})
		if err != nil {
			return nil, err
		}
		b = bytes.TrimPrefix(doc, []byte("write_files:\n"))
		if len(b) == len(doc) {
			return nil, fmt.Errorf("unexpected encoding of write_files entry %s", w.Path)
		}
	}
	if keep {
		f.mu.Lock()
		f.m[key] = b
		f.mu.Unlock()
	}
	return b, nil
}

// literalEntry writes a write_files entry as yaml.v3 writes it, for the entries most
// content is in (certificates, keys, units, scripts, settings): a path and owner that
// are plain scalars, and content of printable ASCII lines ending in one line break,
// which yaml.v3 writes as a literal block ("|") indented under the entry. Anything else
// (ok false) goes through yaml.v3 itself. Each node's certificates and keys are new
// content the cache cannot help with; encoding them here instead of through a YAML
// encoder was a fifth of a cloud-init render. TestLiteralEntryIsYAMLs compares the two
// on every file of the examples and on the edge cases.
func literalEntry(w WriteFile) ([]byte, bool) {
	if !plainSafe(w.Path) || w.Owner != "root:root" || len(w.Permissions) != 4 || !literalSafe(w.Content) {
		return nil, false
	}
	for _, c := range w.Permissions {
		if c < '0' || c > '7' {
			return nil, false
		}
	}
	lines := strings.Count(w.Content, "\n")
	b := make([]byte, 0, len(w.Content)+6*lines+len(w.Path)+64)
	b = append(b, "  - path: "...)
	b = append(b, w.Path...)
	b = append(b, "\n    permissions: \""...)
	b = append(b, w.Permissions...)
	b = append(b, "\"\n    owner: root:root\n    content: |\n"...)
	for rest := w.Content; rest != ""; {
		line, tail, _ := strings.Cut(rest, "\n")
		if line != "" {
			b = append(b, "      "...)
			b = append(b, line...)
		}
		b = append(b, '\n')
		rest = tail
	}
	return b, true
}

// plainSafe: yaml.v3 writes the path s as a plain scalar (an absolute path of letters,
// digits and a few punctuation marks).
func plainSafe(s string) bool {
	if s == "" || s[0] != '/' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("/._-:", rune(c)) {
			return false
		}
	}
	return !strings.HasSuffix(s, ":")
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// literalSafe: yaml.v3 writes s as a literal block with the default chomping and
// indentation: printable ASCII and line breaks only (a tab or any other character can
// make it choose another style), no space before a line break, the first line not
// starting with a space, and exactly one line break at the end.
func literalSafe(s string) bool {
	if len(s) < 2 || s[len(s)-1] != '\n' || s[len(s)-2] == '\n' || s[0] == ' ' || s[0] == '\n' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\n' {
			if i > 0 && s[i-1] == ' ' {
				return false
			}
			continue
		}
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
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
