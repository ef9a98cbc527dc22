package render

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"
	ign "github.com/coreos/ignition/v2/config/v3_4"
	igntypes "github.com/coreos/ignition/v2/config/v3_4/types"
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
	return butane(n, os, &dataURLs{})
}

func butane(n *roles.Node, os string, urls *dataURLs) ([]byte, error) {
	v, ok := butaneVariants[os]
	if !ok {
		v = defaultVariant
	}
	c := ButaneConfig{Variant: v[0], Version: v[1]}
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
	var b bytes.Buffer
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

// Ignition renders the node's model as Ignition JSON through Butane (any Butane warning
// is an error), then validates the JSON with Ignition's own parser.
func Ignition(n *roles.Node, os string) ([]byte, error) {
	return ignition(n, os, &dataURLs{})
}

func ignition(n *roles.Node, os string, urls *dataURLs) ([]byte, error) {
	src, err := butane(n, os, urls)
	if err != nil {
		return nil, err
	}
	out, rep, err := config.TranslateBytes(src, common.TranslateBytesOptions{})
	if err != nil {
		return nil, fmt.Errorf("%w: %s: butane: %v", ErrEncode, n.Host, err)
	}
	if len(rep.Entries) > 0 {
		return nil, fmt.Errorf("%w: %s: butane: %s", ErrEncode, n.Host, strings.TrimSpace(rep.String()))
	}
	if _, err := ValidateIgnition(out); err != nil {
		return nil, fmt.Errorf("%s: %w", n.Host, err)
	}
	return out, nil
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
