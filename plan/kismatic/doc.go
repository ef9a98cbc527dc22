// Package kismatic is the plan file schema of Apprenda's Kismatic installer v1.12
// (kismatic-cluster.yaml as the release wrote and read it), deprecated keys included, so
// that existing plans load as they are. Package plan converts it into the kisgen schema
// (plan.UpgradeKismatic); nothing else uses it.
package kismatic
