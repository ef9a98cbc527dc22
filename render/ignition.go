package render

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"

	"github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	ign "github.com/coreos/ignition/v2/config/v3_4"
	igntypes "github.com/coreos/ignition/v2/config/v3_4/types"
	cpath "github.com/coreos/vcontext/path"
	"github.com/vincent-petithory/dataurl"
	"go.yaml.in/yaml/v3"

	"github.com/kisgen/kisgen/roles"
)

// Butane variants by operating system; both translate to Ignition spec 3.4.0.
var butaneVariants = map[string][2]string{
	"flatcar":       {"flatcar", "1.1.0"},
	"fedora-coreos": {"fcos", "1.5.0"},
}

// defaultVariant is used for an operating system without its own variant (a cloud-init
// OS rendered as Ignition with --format).
var defaultVariant = [2]string{"fcos", "1.5.0"}

// IgnitionSpec is the Ignition config version kisgen writes.
const IgnitionSpec = "3.4.0"

// ButaneConfig is the Butane document kisgen translates (only the keys it uses).
type ButaneConfig struct {
	Variant string `yaml:"variant"`
	Version string `yaml:"version"`
	Passwd  struct {
		Users []ButaneUser `yaml:"users"`
	} `yaml:"passwd"`
	Storage struct {
		Files []ButaneFile `yaml:"files"`
	} `yaml:"storage"`
	Systemd struct {
		Units []ButaneUnit `yaml:"units"`
	} `yaml:"systemd"`
}

// ButaneUser is a passwd user.
type ButaneUser struct {
	Name              string   `yaml:"name"`
	Shell             string   `yaml:"shell,omitempty"`
	SSHAuthorizedKeys []string `yaml:"ssh_authorized_keys"`
}

// ButaneFile is a storage file. Its contents are a data URL kisgen encodes as Butane
// would encode inline contents (see dataURLs), so that content shared by many nodes is
// compressed once per render rather than once per node.
type ButaneFile struct {
	Path      string `yaml:"path"`
	Mode      int    `yaml:"mode"`
	Overwrite bool   `yaml:"overwrite"`
	Contents  struct {
		Source      string `yaml:"source"`
		Compression string `yaml:"compression,omitempty"`
	} `yaml:"contents"`
}

// ButaneUnit is a systemd unit.
type ButaneUnit struct {
	Name     string `yaml:"name"`
	Enabled  *bool  `yaml:"enabled,omitempty"`
	Contents string `yaml:"contents"`
}

// Butane returns the node's model as a Butane document for the operating system os.
func Butane(n *roles.Node, os string) ([]byte, error) {
	return marshalButane(n.Host, butaneConfig(n, os, &dataURLs{}))
}

func butaneConfig(n *roles.Node, os string, urls *dataURLs) *ButaneConfig {
	v, ok := butaneVariants[os]
	if !ok {
		v = defaultVariant
	}
	c := &ButaneConfig{Variant: v[0], Version: v[1]}
	for _, u := range n.Users {
		c.Passwd.Users = append(c.Passwd.Users, ButaneUser{Name: u.Name, Shell: u.Shell, SSHAuthorizedKeys: u.SSHAuthorizedKeys})
	}
	for _, f := range n.Files {
		if f.Fetch != "" {
			continue // the node downloads it (roles.FetchScript), as with cloud-init
		}
		bf := ButaneFile{Path: f.Path, Mode: int(f.Mode.Perm()), Overwrite: true}
		bf.Contents.Source, bf.Contents.Compression = urls.get(f.Content, f.SHA256)
		c.Storage.Files = append(c.Storage.Files, bf)
	}
	for _, u := range n.Units {
		bu := ButaneUnit{Name: u.Name, Contents: u.Content}
		if u.Enable {
			t := true
			bu.Enabled = &t
		}
		c.Systemd.Units = append(c.Systemd.Units, bu)
	}
	return c
}

func marshalButane(host string, c *ButaneConfig) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEncode, host, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Ignition renders the node's model as Ignition JSON through Butane (any Butane warning
// is an error), then validates the JSON with Ignition's own parser. Render gives the
// same bytes for every node, translating once per shape (see shapes).
func Ignition(n *roles.Node, os string) ([]byte, error) {
	return translate(n.Host, butaneConfig(n, os, &dataURLs{}))
}

func translate(host string, c *ButaneConfig) ([]byte, error) {
	src, err := marshalButane(host, c)
	if err != nil {
		return nil, err
	}
	out, rep, err := config.TranslateBytes(src, common.TranslateBytesOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: butane: %v", ErrEncode, host, err)
	}
	if len(rep.Entries) > 0 {
		return nil, fmt.Errorf("%w: %s: butane: %s", ErrEncode, host, strings.TrimSpace(rep.String()))
	}
	if _, err := ValidateIgnition(out); err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	return out, nil
}

// shapes translate Butane once per node shape in a render. Nodes of one role differ only
// in their files' contents and their units' text (certificates, host names, addresses),
// and Butane passes both through to the JSON unchanged: a data URL source as it is, a
// unit's text as a JSON string. So a shape (variant, users, each file's path, mode and
// compression, each unit's name and enablement) is translated once with a placeholder in
// each of those places, and each node's config is that JSON with its own values, encoded
// as encoding/json (which Butane uses) encodes strings, put in their place. The first
// node of each shape is also translated whole, and must give the same bytes; every
// node's units are validated as Ignition does (by content, once per render), the rest
// of a node's config is the shape's, which Ignition's validator has accepted.
type shapes struct {
	mu    sync.Mutex
	m     map[string]*shape
	units sync.Map // unitKey → error: unit contents validated
}

type shape struct {
	once sync.Once
	// parts is the translated placeholder config split at its placeholders; slot[i] is
	// which of the node's values goes between parts[i] and parts[i+1].
	parts [][]byte
	slot  []int
	err   error
}

// slotSource and slotUnit are the placeholders: a data URL, and a unit Ignition accepts
// enabled (it warns about an enabled unit without an [Install] section).
func slotSource(i int) string { return fmt.Sprintf("data:,kisgen-slot-%d", i) }
func slotUnit(i int) string {
	return fmt.Sprintf("[Unit]\nDescription=kisgen-slot-%d\n[Install]\nWantedBy=multi-user.target\n", i)
}

func (s *shapes) ignition(n *roles.Node, os string, urls *dataURLs) ([]byte, error) {
	c := butaneConfig(n, os, urls)
	values := make([]string, 0, len(c.Storage.Files)+len(c.Systemd.Units))
	var key strings.Builder
	fmt.Fprintf(&key, "%s %s\n", c.Variant, c.Version)
	for _, u := range c.Passwd.Users {
		fmt.Fprintf(&key, "user %q %q %q\n", u.Name, u.Shell, u.SSHAuthorizedKeys)
	}
	for _, f := range c.Storage.Files {
		fmt.Fprintf(&key, "file %q %o %s\n", f.Path, f.Mode, f.Contents.Compression)
		values = append(values, f.Contents.Source)
	}
	for _, u := range c.Systemd.Units {
		fmt.Fprintf(&key, "unit %q %t\n", u.Name, u.Enabled != nil)
		values = append(values, u.Contents)
		if err := s.validateUnit(n.Host, u); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	if s.m == nil {
		s.m = map[string]*shape{}
	}
	sh, ok := s.m[key.String()]
	if !ok {
		sh = &shape{}
		s.m[key.String()] = sh
	}
	s.mu.Unlock()
	first := false
	sh.once.Do(func() {
		first = true
		sh.parts, sh.slot, sh.err = translateShape(n.Host, c)
	})
	if sh.err != nil {
		return nil, sh.err
	}
	out, err := sh.fill(values)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrEncode, n.Host, err)
	}
	if first {
		whole, err := translate(n.Host, c)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(whole, out) {
			return nil, fmt.Errorf("%w: %s: the config filled in from its shape differs from Butane's translation", ErrEncode, n.Host)
		}
	}
	return out, nil
}

// translateShape translates c with placeholders in place of its values and splits the
// JSON at them.
func translateShape(host string, c *ButaneConfig) ([][]byte, []int, error) {
	ph := *c
	ph.Storage.Files = append([]ButaneFile(nil), c.Storage.Files...)
	ph.Systemd.Units = append([]ButaneUnit(nil), c.Systemd.Units...)
	markers := map[string]int{}
	for i := range ph.Storage.Files {
		ph.Storage.Files[i].Contents.Source = slotSource(i)
		markers[jsonString(slotSource(i))] = i
	}
	for j := range ph.Systemd.Units {
		i := len(ph.Storage.Files) + j
		ph.Systemd.Units[j].Contents = slotUnit(i)
		markers[jsonString(slotUnit(i))] = i
	}
	out, err := translate(host, &ph)
	if err != nil {
		return nil, nil, err
	}
	type at struct{ off, slot, end int }
	var found []at
	for m, i := range markers {
		off := bytes.Index(out, []byte(m))
		if off < 0 || bytes.Count(out, []byte(m)) != 1 {
			return nil, nil, fmt.Errorf("%w: %s: butane did not keep placeholder %d once", ErrEncode, host, i)
		}
		found = append(found, at{off, i, off + len(m)})
	}
	sort.Slice(found, func(a, b int) bool { return found[a].off < found[b].off })
	var parts [][]byte
	var slots []int
	prev := 0
	for _, f := range found {
		parts = append(parts, out[prev:f.off])
		slots = append(slots, f.slot)
		prev = f.end
	}
	return append(parts, out[prev:]), slots, nil
}

func (sh *shape) fill(values []string) ([]byte, error) {
	size := 0
	for _, p := range sh.parts {
		size += len(p)
	}
	enc := make([][]byte, len(sh.slot))
	for i, s := range sh.slot {
		if s >= len(values) {
			return nil, fmt.Errorf("placeholder %d of %d values", s, len(values))
		}
		enc[i] = []byte(jsonString(values[s]))
		size += len(enc[i])
	}
	out := make([]byte, 0, size)
	for i, p := range sh.parts {
		out = append(out, p...)
		if i < len(enc) {
			out = append(out, enc[i]...)
		}
	}
	return out, nil
}

// jsonString is s as encoding/json writes it in Butane's output (HTML characters
// escaped, invalid UTF-8 replaced).
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// validateUnit runs Ignition's validation of a unit (its name, its contents parsed as a
// unit file, an [Install] section when enabled), once per name, enablement and content.
func (s *shapes) validateUnit(host string, u ButaneUnit) error {
	key := fmt.Sprintf("%s %t %x", u.Name, u.Enabled != nil, sha256.Sum256([]byte(u.Contents)))
	if v, ok := s.units.Load(key); ok {
		if v != nil {
			return fmt.Errorf("%s: %w", host, v.(error))
		}
		return nil
	}
	contents := u.Contents
	r := igntypes.Unit{Name: u.Name, Contents: &contents, Enabled: u.Enabled}.Validate(cpath.New("json", "systemd", "units"))
	var err error
	if len(r.Entries) > 0 {
		err = fmt.Errorf("%w: ignition: %s", ErrInvalidOutput, strings.TrimSpace(r.String()))
	}
	s.units.Store(key, err)
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	return nil
}

// ValidateIgnition parses an Ignition config with Ignition's own validator (spec 3.4.0)
// and fails on any finding, warnings included.
func ValidateIgnition(data []byte) (*igntypes.Config, error) {
	cfg, rep, err := ign.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: ignition: %v: %s", ErrInvalidOutput, err, strings.TrimSpace(rep.String()))
	}
	if len(rep.Entries) > 0 {
		return nil, fmt.Errorf("%w: ignition: %s", ErrInvalidOutput, strings.TrimSpace(rep.String()))
	}
	return &cfg, nil
}

// dataURLs encodes file contents as data URLs the way Butane encodes inline contents
// (base/util.MakeDataURL: the shortest of URL-escaped text, base64, and gzip at the best
// level in base64), and remembers an encoding, by the content's sha256, from the second
// time it is needed for the rest of the render: Butane would build a new gzip writer for
// every file of every node. Content only one node has is never held.
type dataURLs struct {
	mu   sync.Mutex
	seen map[string]bool
	m    map[string]dataURL
}

type dataURL struct{ source, compression string }

var bestGzip = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestCompression)
	return w
}}

func (d *dataURLs) get(content, sha string) (string, string) {
	keep := false
	if sha != "" {
		d.mu.Lock()
		if d.m == nil {
			d.seen, d.m = map[string]bool{}, map[string]dataURL{}
		}
		if u, ok := d.m[sha]; ok {
			d.mu.Unlock()
			return u.source, u.compression
		}
		keep = d.seen[sha]
		d.seen[sha] = true
		d.mu.Unlock()
	}
	data := []byte(content)
	opaque, compression := ","+dataurl.Escape(data), ""
	if b64 := ";base64," + base64.StdEncoding.EncodeToString(data); len(b64) < len(opaque) {
		opaque = b64
	}
	var buf bytes.Buffer
	w := bestGzip.Get().(*gzip.Writer)
	w.Reset(&buf)
	_, _ = w.Write(data)
	_ = w.Close()
	bestGzip.Put(w)
	if gz := ";base64," + base64.StdEncoding.EncodeToString(buf.Bytes()); len(gz)+len("gzip") < len(opaque) {
		opaque, compression = gz, "gzip"
	}
	u := dataURL{(&url.URL{Scheme: "data", Opaque: opaque}).String(), compression}
	if keep {
		d.mu.Lock()
		d.m[sha] = u
		d.mu.Unlock()
	}
	return u.source, u.compression
}
