package roles

// Exported for the external tests: the add-on manifests as kisgen rendered them whole
// before they became kustomizations of a base.
var (
	CoreDNSManifest       = coreDNS
	MetricsServerManifest = metricsServer
)
