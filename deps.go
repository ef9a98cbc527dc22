//go:build tools

package tools

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/service/ec2"
	_ "github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/aws/aws-sdk-go-v2/service/ssm"
	_ "github.com/cloudflare/cfssl/csr"
	_ "github.com/cloudflare/cfssl/initca"
	_ "github.com/cloudflare/cfssl/signer/local"
	_ "github.com/coreos/butane/config"
	_ "github.com/coreos/ignition/v2/config/v3_4"
	_ "github.com/creack/pty"
	_ "github.com/equinix/equinix-sdk-go/services/metalv1"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/spf13/cobra"
	_ "github.com/vmware/govmomi"
	_ "github.com/vmware/govmomi/simulator"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/term"
	_ "gopkg.in/amz.v3/ec2/ec2test"
)
