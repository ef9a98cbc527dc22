package pki

import (
	"bytes"
	"encoding/base64"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// KubeconfigFile is a kubeconfig (client-go's clientcmd v1 Config), reduced to the fields
// kisgen writes. It is built as a value and marshalled, never templated as text.
type KubeconfigFile struct {
	APIVersion     string                   `yaml:"apiVersion"`
	Kind           string                   `yaml:"kind"`
	Clusters       []KubeconfigNamedCluster `yaml:"clusters"`
	Users          []KubeconfigNamedUser    `yaml:"users"`
	Contexts       []KubeconfigNamedContext `yaml:"contexts"`
	CurrentContext string                   `yaml:"current-context"`
}

// KubeconfigNamedCluster is one entry of clusters.
type KubeconfigNamedCluster struct {
	Name    string            `yaml:"name"`
	Cluster KubeconfigCluster `yaml:"cluster"`
}

// KubeconfigCluster is where the API server is and which CAs to trust (base64 PEM).
type KubeconfigCluster struct {
	Server                   string `yaml:"server"`
	CertificateAuthorityData string `yaml:"certificate-authority-data"`
}

// KubeconfigNamedUser is one entry of users.
type KubeconfigNamedUser struct {
	Name string         `yaml:"name"`
	User KubeconfigUser `yaml:"user"`
}

// KubeconfigUser holds the client certificate and key (base64 PEM).
type KubeconfigUser struct {
	ClientCertificateData string `yaml:"client-certificate-data"`
	ClientKeyData         string `yaml:"client-key-data"`
}

// KubeconfigNamedContext is one entry of contexts.
type KubeconfigNamedContext struct {
	Name    string            `yaml:"name"`
	Context KubeconfigContext `yaml:"context"`
}

// KubeconfigContext ties a user to a cluster.
type KubeconfigContext struct {
	Cluster string `yaml:"cluster"`
	User    string `yaml:"user"`
}

// newKubeconfig builds the kubeconfig for user (a certificate name) of cluster.
func newKubeconfig(cluster, server string, caPEM []byte, user string, pair *Pair) *KubeconfigFile {
	ctx := user + "@" + cluster
	return &KubeconfigFile{
		APIVersion: "v1",
		Kind:       "Config",
		Clusters: []KubeconfigNamedCluster{{Name: cluster, Cluster: KubeconfigCluster{
			Server:                   server,
			CertificateAuthorityData: base64.StdEncoding.EncodeToString(caPEM),
		}}},
		Users: []KubeconfigNamedUser{{Name: user, User: KubeconfigUser{
			ClientCertificateData: base64.StdEncoding.EncodeToString(pair.CertPEM),
			ClientKeyData:         base64.StdEncoding.EncodeToString(pair.KeyPEM),
		}}},
		Contexts:       []KubeconfigNamedContext{{Name: ctx, Context: KubeconfigContext{Cluster: cluster, User: user}}},
		CurrentContext: ctx,
	}
}

// Marshal renders the kubeconfig as YAML (2-space indent; same value, same bytes).
func (k *KubeconfigFile) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(k); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ParseKubeconfig decodes a kubeconfig kisgen wrote (unknown fields are an error) and
// checks that its base64 fields decode.
func ParseKubeconfig(data []byte) (*KubeconfigFile, error) {
	var k KubeconfigFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&k); err != nil {
		return nil, fmt.Errorf("not a kubeconfig kisgen wrote: %v", err)
	}
	if k.Kind != "Config" || len(k.Clusters) != 1 || len(k.Users) != 1 {
		return nil, fmt.Errorf("not a kubeconfig kisgen wrote: want kind Config with one cluster and one user")
	}
	for _, s := range []string{k.Clusters[0].Cluster.CertificateAuthorityData, k.Users[0].User.ClientCertificateData, k.Users[0].User.ClientKeyData} {
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return nil, fmt.Errorf("bad base64 data: %v", err)
		}
	}
	return &k, nil
}

// Decoded returns the kubeconfig's CA bundle, client certificate and key as PEM.
func (k *KubeconfigFile) Decoded() (caPEM, certPEM, keyPEM []byte, err error) {
	if len(k.Clusters) != 1 || len(k.Users) != 1 {
		return nil, nil, nil, fmt.Errorf("want one cluster and one user")
	}
	dec := func(s string) []byte {
		b, e := base64.StdEncoding.DecodeString(s)
		if e != nil && err == nil {
			err = e
		}
		return b
	}
	return dec(k.Clusters[0].Cluster.CertificateAuthorityData), dec(k.Users[0].User.ClientCertificateData), dec(k.Users[0].User.ClientKeyData), err
}
