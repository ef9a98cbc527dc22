package ec2

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/kisgen/kisgen/plan"
	"github.com/kisgen/kisgen/providers"
	"github.com/kisgen/kisgen/render"
)

// MaxUserData is what EC2 accepts as user-data, counted before base64 encoding.
const MaxUserData = 16384

// Secrets modes (provider.aws.secrets).
const (
	SecretsInline = "inline"
	SecretsS3     = "s3"
	SecretsSSM    = "ssm"
)

// userData is what a node's RunInstances call carries, before base64.
type userData struct {
	Data []byte
	// How says how the rendered user-data was packed, for the progress line.
	How string
}

// gzipBytes compresses b exactly as render measured it against the budget.
func gzipBytes(b []byte) []byte { return render.Gzip(b) }

// inlineUserData packs a node's rendered user-data into EC2 user-data: as it is when it
// fits, else gzip-compressed (cloud-init decompresses gzip user-data by itself), or for
// Ignition a small config that replaces itself with the gzip-compressed original carried
// in a data URL (Ignition does not decompress user-data, but does decompress referenced
// configs). A node that still does not fit is refused with ErrUserDataTooLarge before
// any API call.
func inlineUserData(m providers.Machine) (userData, error) {
	raw := m.UserData
	out, err := packInline(m)
	if err != nil {
		return userData{}, err
	}
	if len(out.Data) > MaxUserData {
		remedy := "set provider.aws.secrets to s3 or ssm: the user-data becomes a small stub and the node fetches the rest at boot with its instance role"
		if m.Format == plan.FormatIgnition {
			remedy = "set provider.aws.secrets to s3: Ignition then fetches its config from an s3:// URL with the instance role"
		}
		return userData{}, fmt.Errorf("%w: node %s: its user-data is %d bytes, still %d after compression, and EC2 accepts %d; %s",
			providers.ErrUserDataTooLarge, m.Node.Host, len(raw), len(out.Data), MaxUserData, remedy)
	}
	return out, nil
}

// packInline is a node's user-data as the EC2 user-data carries it, whatever its size: as
// it is when it fits, else gzip-compressed, or for Ignition in a small config that
// replaces itself with the gzip-compressed original carried in a data URL.
func packInline(m providers.Machine) (userData, error) {
	raw := m.UserData
	if len(raw) <= MaxUserData {
		return userData{Data: raw, How: fmt.Sprintf("inline, %d bytes", len(raw))}, nil
	}
	gz := gzipBytes(raw)
	if m.Format != plan.FormatIgnition {
		return userData{Data: gz, How: fmt.Sprintf("inline, %d bytes gzip-compressed to %d", len(raw), len(gz))}, nil
	}
	version, err := ignitionVersion(raw)
	if err != nil {
		return userData{}, err
	}
	stub, err := ignitionStub(version, ignResource{
		Source:      "data:;base64," + base64.StdEncoding.EncodeToString(gz),
		Compression: "gzip",
	}, nil)
	if err != nil {
		return userData{}, err
	}
	return userData{Data: stub, How: fmt.Sprintf("inline, %d bytes as a gzip data URL in a %d-byte Ignition config", len(raw), len(stub))}, nil
}

// ignitionVersion reads ignition.version from a rendered Ignition config.
func ignitionVersion(raw []byte) (string, error) {
	var head struct {
		Ignition struct {
			Version string `json:"version"`
		} `json:"ignition"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", fmt.Errorf("read the Ignition config's version: %w", err)
	}
	v := head.Ignition.Version
	major, minor, ok := parseMajorMinor(v)
	if !ok || major != 3 || minor < 1 {
		return "", fmt.Errorf("%w: Ignition config version %q: referencing a compressed config needs spec 3.1.0 or later", ErrSecretsMode, v)
	}
	return v, nil
}

func parseMajorMinor(v string) (int, int, bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil
}

// The few Ignition types the stubs need, marshalled as typed values. Tests parse every
// stub back with Ignition's own config parser.
type ignConfig struct {
	Ignition ignIgnition `json:"ignition"`
	Storage  *ignStorage `json:"storage,omitempty"`
	Systemd  *ignSystemd `json:"systemd,omitempty"`
}

type ignIgnition struct {
	Version string      `json:"version"`
	Config  *ignConfigs `json:"config,omitempty"`
}

type ignConfigs struct {
	Replace *ignResource  `json:"replace,omitempty"`
	Merge   []ignResource `json:"merge,omitempty"`
}

type ignResource struct {
	Source      string `json:"source"`
	Compression string `json:"compression,omitempty"`
}

type ignStorage struct {
	Files []ignFile `json:"files"`
}

type ignFile struct {
	Path     string      `json:"path"`
	Mode     int         `json:"mode"`
	Contents ignResource `json:"contents"`
}

type ignSystemd struct {
	Units []ignUnit `json:"units"`
}

type ignUnit struct {
	Name     string `json:"name"`
	Enabled  bool   `json:"enabled"`
	Contents string `json:"contents"`
}

// ignitionStub is an Ignition config that replaces itself with ref or, when extra is
// given, merges ref into extra (which then also applies).
func ignitionStub(version string, ref ignResource, extra *ignConfig) ([]byte, error) {
	c := ignConfig{Ignition: ignIgnition{Version: version}}
	if extra == nil {
		c.Ignition.Config = &ignConfigs{Replace: &ref}
	} else {
		c.Storage, c.Systemd = extra.Storage, extra.Systemd
		c.Ignition.Config = &ignConfigs{Merge: []ignResource{ref}}
	}
	return json.Marshal(c)
}

// dataURL is an RFC 2397 data URL of b, percent-encoded (readable in the stub).
func dataURL(b []byte) string {
	var sb strings.Builder
	sb.WriteString("data:,")
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			sb.WriteByte(c)
			continue
		}
		fmt.Fprintf(&sb, "%%%02X", c)
	}
	return sb.String()
}
