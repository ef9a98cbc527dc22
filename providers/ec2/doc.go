// Package ec2 is the AWS provider: one EC2 instance per node, launched with the node's
// rendered user-data, IMDSv2 required, in the plan's subnet that holds the node's address,
// in security groups made from the Kismatic guide's firewall table, and tagged so that a
// second run finds every instance again. With two or more masters it puts them behind a
// Network Load Balancer (loadbalancer.go), whose DNS name the plan's load balancer name is
// pointed at.
//
// Who can read the user-data: EC2 user-data is not a secret store. Anyone allowed
// ec2:DescribeInstanceAttribute on the instance, and any process on the instance that can
// reach the metadata service (including pods, unless the hop limit blocks them; kisgen sets
// it to 1), can read it, and the rendered user-data holds the node's private keys. With
// provider.aws.secrets set to s3 or ssm the user-data is only a small stub: the real
// user-data is stored in an S3 object or SSM SecureString parameters that only the node's
// instance role can read, fetched once at boot with that role, then deleted.
//
// Credentials come from the AWS configuration chain (environment, shared config and
// credentials files, SSO, instance or container roles), never from flags or the plan.
package ec2
