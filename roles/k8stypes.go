package roles

import (
	"bytes"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// The Kubernetes documents kisgen writes onto nodes, as typed values (only the fields
// kisgen sets; the field names follow the Kubernetes API's JSON names). They are
// marshalled with yaml.v3, never written as text templates.

type objectMeta struct {
	Name        string            `yaml:"name"`
	Namespace   string            `yaml:"namespace,omitempty"`
	Labels      map[string]string `yaml:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty"`
}

type typeMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
}

// kubeletConfiguration is kubelet.config.k8s.io/v1beta1 KubeletConfiguration.
type kubeletConfiguration struct {
	typeMeta                 `yaml:",inline"`
	Authentication           kubeletAuthentication `yaml:"authentication"`
	Authorization            kubeletAuthorization  `yaml:"authorization"`
	CgroupDriver             string                `yaml:"cgroupDriver"`
	ClusterDNS               []string              `yaml:"clusterDNS,omitempty"`
	ClusterDomain            string                `yaml:"clusterDomain"`
	ContainerRuntimeEndpoint string                `yaml:"containerRuntimeEndpoint"`
	FailSwapOn               bool                  `yaml:"failSwapOn"`
	HealthzBindAddress       string                `yaml:"healthzBindAddress"`
	HealthzPort              int                   `yaml:"healthzPort"`
	MaxPods                  int                   `yaml:"maxPods,omitempty"`
	ReadOnlyPort             int                   `yaml:"readOnlyPort"`
	RotateCertificates       bool                  `yaml:"rotateCertificates"`
	ServerTLSBootstrap       bool                  `yaml:"serverTLSBootstrap"`
	TLSCertFile              string                `yaml:"tlsCertFile"`
	TLSPrivateKeyFile        string                `yaml:"tlsPrivateKeyFile"`
	TLSMinVersion            string                `yaml:"tlsMinVersion"`
}

type kubeletAuthentication struct {
	Anonymous struct {
		Enabled bool `yaml:"enabled"`
	} `yaml:"anonymous"`
	Webhook struct {
		Enabled  bool   `yaml:"enabled"`
		CacheTTL string `yaml:"cacheTTL"`
	} `yaml:"webhook"`
	X509 struct {
		ClientCAFile string `yaml:"clientCAFile"`
	} `yaml:"x509"`
}

type kubeletAuthorization struct {
	Mode string `yaml:"mode"`
}

// kubeProxyConfiguration is kubeproxy.config.k8s.io/v1alpha1 KubeProxyConfiguration.
type kubeProxyConfiguration struct {
	typeMeta           `yaml:",inline"`
	BindAddress        string              `yaml:"bindAddress"`
	ClientConnection   kubeProxyClientConn `yaml:"clientConnection"`
	ClusterCIDR        string              `yaml:"clusterCIDR"`
	Conntrack          *kubeProxyConntrack `yaml:"conntrack,omitempty"`
	DetectLocalMode    string              `yaml:"detectLocalMode,omitempty"`
	EnableProfiling    bool                `yaml:"enableProfiling,omitempty"`
	FeatureGates       map[string]bool     `yaml:"featureGates,omitempty"`
	HealthzBindAddress string              `yaml:"healthzBindAddress"`
	HostnameOverride   string              `yaml:"hostnameOverride"`
	IPTables           *kubeProxyIPTables  `yaml:"iptables,omitempty"`
	IPVS               *kubeProxyIPVS      `yaml:"ipvs,omitempty"`
	Logging            *kubeProxyLogging   `yaml:"logging,omitempty"`
	MetricsBindAddress string              `yaml:"metricsBindAddress"`
	Mode               string              `yaml:"mode"`
	NodePortAddresses  []string            `yaml:"nodePortAddresses,omitempty"`
}

type kubeProxyClientConn struct {
	Kubeconfig string `yaml:"kubeconfig"`
}

type kubeProxyConntrack struct {
	MaxPerCore *int32 `yaml:"maxPerCore,omitempty"`
	Min        *int32 `yaml:"min,omitempty"`
}

type kubeProxyIPTables struct {
	MasqueradeAll bool   `yaml:"masqueradeAll,omitempty"`
	MinSyncPeriod string `yaml:"minSyncPeriod,omitempty"`
	SyncPeriod    string `yaml:"syncPeriod,omitempty"`
}

type kubeProxyIPVS struct {
	Scheduler string `yaml:"scheduler,omitempty"`
	StrictARP bool   `yaml:"strictARP,omitempty"`
}

type kubeProxyLogging struct {
	Verbosity int `yaml:"verbosity"`
}

// kubeconfig is a client configuration (clientcmd v1 Config) that refers to certificate
// files on the node instead of embedding them: each certificate is on the node once.
type kubeconfig struct {
	typeMeta       `yaml:",inline"`
	Clusters       []kubeconfigNamedCluster `yaml:"clusters"`
	Contexts       []kubeconfigNamedContext `yaml:"contexts"`
	CurrentContext string                   `yaml:"current-context"`
	Users          []kubeconfigNamedUser    `yaml:"users"`
}

type kubeconfigNamedCluster struct {
	Name    string `yaml:"name"`
	Cluster struct {
		Server               string `yaml:"server"`
		CertificateAuthority string `yaml:"certificate-authority"`
	} `yaml:"cluster"`
}

type kubeconfigNamedContext struct {
	Name    string `yaml:"name"`
	Context struct {
		Cluster string `yaml:"cluster"`
		User    string `yaml:"user"`
	} `yaml:"context"`
}

type kubeconfigNamedUser struct {
	Name string `yaml:"name"`
	User struct {
		ClientCertificate string `yaml:"client-certificate"`
		ClientKey         string `yaml:"client-key"`
	} `yaml:"user"`
}

func newKubeconfig(cluster, server, user, certFile, keyFile string) kubeconfig {
	k := kubeconfig{typeMeta: typeMeta{APIVersion: "v1", Kind: "Config"}, CurrentContext: user + "@" + cluster}
	var c kubeconfigNamedCluster
	c.Name = cluster
	c.Cluster.Server = server
	c.Cluster.CertificateAuthority = CACert
	var x kubeconfigNamedContext
	x.Name = k.CurrentContext
	x.Context.Cluster = cluster
	x.Context.User = user
	var u kubeconfigNamedUser
	u.Name = user
	u.User.ClientCertificate = certFile
	u.User.ClientKey = keyFile
	k.Clusters, k.Contexts, k.Users = []kubeconfigNamedCluster{c}, []kubeconfigNamedContext{x}, []kubeconfigNamedUser{u}
	return k
}

// Manifests of the add-ons.

type serviceAccount struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
}

type policyRule struct {
	APIGroups     []string `yaml:"apiGroups"`
	Resources     []string `yaml:"resources"`
	ResourceNames []string `yaml:"resourceNames,omitempty"`
	Verbs         []string `yaml:"verbs"`
}

type clusterRole struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta   `yaml:"metadata"`
	Rules    []policyRule `yaml:"rules"`
}

type roleRef struct {
	APIGroup string `yaml:"apiGroup"`
	Kind     string `yaml:"kind"`
	Name     string `yaml:"name"`
}

type subject struct {
	APIGroup  string `yaml:"apiGroup,omitempty"`
	Kind      string `yaml:"kind"`
	Name      string `yaml:"name"`
	Namespace string `yaml:"namespace,omitempty"`
}

type clusterRoleBinding struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	RoleRef  roleRef    `yaml:"roleRef"`
	Subjects []subject  `yaml:"subjects"`
}

type configMap struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta        `yaml:"metadata"`
	Data     map[string]string `yaml:"data"`
}

type servicePort struct {
	Name       string `yaml:"name"`
	Port       int    `yaml:"port"`
	Protocol   string `yaml:"protocol"`
	TargetPort int    `yaml:"targetPort"`
}

type service struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Selector  map[string]string `yaml:"selector"`
		ClusterIP string            `yaml:"clusterIP"`
		Ports     []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

type deployment struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta     `yaml:"metadata"`
	Spec     deploymentSpec `yaml:"spec"`
}

type deploymentSpec struct {
	Replicas int           `yaml:"replicas"`
	Selector labelSelector `yaml:"selector"`
	Strategy struct {
		Type          string `yaml:"type"`
		RollingUpdate struct {
			MaxUnavailable int `yaml:"maxUnavailable"`
		} `yaml:"rollingUpdate"`
	} `yaml:"strategy"`
	Template podTemplate `yaml:"template"`
}

// workloadPatch is a strategic merge patch of a DaemonSet's or a Deployment's containers.
type workloadPatch struct {
	typeMeta `yaml:",inline"`
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Template struct {
			Spec struct {
				Containers []containerPatch `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// containerPatch is the part of a container a strategic merge patch changes: its
// environment (merged by name) and its probes (probePatch: the timing, merged into the
// probe, and where asked another handler).
type containerPatch struct {
	Name           string      `yaml:"name"`
	Env            []envVar    `yaml:"env,omitempty"`
	LivenessProbe  *probePatch `yaml:"livenessProbe,omitempty"`
	ReadinessProbe *probePatch `yaml:"readinessProbe,omitempty"`
}

// probePatch is a strategic merge patch of a probe: its schedule, and optionally an HTTP
// handler in place of the manifest's exec handler. A probe has exactly one handler and the
// patch merges into the manifest's, so replacing exec sets it to null, which deletes it.
type probePatch struct {
	Exec        *yaml.Node     `yaml:"exec,omitempty"`
	HTTPGet     *httpGetAction `yaml:"httpGet,omitempty"`
	probeTiming `yaml:",inline"`
}

// httpGetAction is a probe's HTTP handler.
type httpGetAction struct {
	Host string `yaml:"host,omitempty"`
	Path string `yaml:"path"`
	Port int    `yaml:"port"`
}

// schedule is a probe patch that keeps the manifest's handler.
func schedule(t probeTiming) *probePatch { return &probePatch{probeTiming: t} }

// httpInsteadOfExec is a probe patch that replaces the manifest's exec handler by an HTTP
// GET of path on host:port.
func httpInsteadOfExec(host, path string, port int, t probeTiming) *probePatch {
	return &probePatch{Exec: &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, HTTPGet: &httpGetAction{Host: host, Path: path, Port: port}, probeTiming: t}
}

// probeTiming is a probe's schedule without its handler.
type probeTiming struct {
	InitialDelaySeconds int `yaml:"initialDelaySeconds,omitempty"`
	PeriodSeconds       int `yaml:"periodSeconds,omitempty"`
	TimeoutSeconds      int `yaml:"timeoutSeconds,omitempty"`
	FailureThreshold    int `yaml:"failureThreshold,omitempty"`
}

type podTemplate struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec podSpec `yaml:"spec"`
}

type podSpec struct {
	PriorityClassName  string            `yaml:"priorityClassName,omitempty"`
	ServiceAccountName string            `yaml:"serviceAccountName,omitempty"`
	Tolerations        []toleration      `yaml:"tolerations,omitempty"`
	NodeSelector       map[string]string `yaml:"nodeSelector,omitempty"`
	Affinity           *affinity         `yaml:"affinity,omitempty"`
	Containers         []container       `yaml:"containers"`
	DNSPolicy          string            `yaml:"dnsPolicy,omitempty"`
	Volumes            []volume          `yaml:"volumes,omitempty"`
}

type toleration struct {
	Key      string `yaml:"key"`
	Operator string `yaml:"operator,omitempty"`
	Effect   string `yaml:"effect,omitempty"`
}

type affinity struct {
	PodAntiAffinity struct {
		Preferred []weightedPodAffinityTerm `yaml:"preferredDuringSchedulingIgnoredDuringExecution"`
	} `yaml:"podAntiAffinity"`
}

type weightedPodAffinityTerm struct {
	Weight int `yaml:"weight"`
	Term   struct {
		LabelSelector labelSelector `yaml:"labelSelector"`
		TopologyKey   string        `yaml:"topologyKey"`
	} `yaml:"podAffinityTerm"`
}

type envVar struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

type container struct {
	Name            string           `yaml:"name"`
	Image           string           `yaml:"image,omitempty"`
	ImagePullPolicy string           `yaml:"imagePullPolicy,omitempty"`
	Args            []string         `yaml:"args,omitempty"`
	Env             []envVar         `yaml:"env,omitempty"`
	Ports           []containerPort  `yaml:"ports,omitempty"`
	Resources       *resources       `yaml:"resources,omitempty"`
	VolumeMounts    []volumeMount    `yaml:"volumeMounts,omitempty"`
	LivenessProbe   *probe           `yaml:"livenessProbe,omitempty"`
	ReadinessProbe  *probe           `yaml:"readinessProbe,omitempty"`
	SecurityContext *securityContext `yaml:"securityContext,omitempty"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type resources struct {
	Limits   map[string]string `yaml:"limits,omitempty"`
	Requests map[string]string `yaml:"requests,omitempty"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly,omitempty"`
}

type probe struct {
	HTTPGet struct {
		Path   string `yaml:"path"`
		Port   int    `yaml:"port"`
		Scheme string `yaml:"scheme"`
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds,omitempty"`
	TimeoutSeconds      int `yaml:"timeoutSeconds,omitempty"`
	SuccessThreshold    int `yaml:"successThreshold,omitempty"`
	FailureThreshold    int `yaml:"failureThreshold,omitempty"`
}

type securityContext struct {
	AllowPrivilegeEscalation bool `yaml:"allowPrivilegeEscalation"`
	Capabilities             struct {
		Add  []string `yaml:"add,omitempty"`
		Drop []string `yaml:"drop,omitempty"`
	} `yaml:"capabilities"`
	ReadOnlyRootFilesystem bool `yaml:"readOnlyRootFilesystem"`
	RunAsNonRoot           bool `yaml:"runAsNonRoot,omitempty"`
	RunAsUser              int  `yaml:"runAsUser,omitempty"`
}

type volume struct {
	Name      string           `yaml:"name"`
	ConfigMap *configMapVolume `yaml:"configMap,omitempty"`
	// EmptyDir is a scratch directory (the pod's /tmp under a read-only root).
	EmptyDir *struct{} `yaml:"emptyDir,omitempty"`
}

type configMapVolume struct {
	Name  string      `yaml:"name"`
	Items []keyToPath `yaml:"items"`
}

type keyToPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

// kustomization is kustomize.config.k8s.io/v1beta1 Kustomization (kubectl apply -k).
type kustomization struct {
	typeMeta  `yaml:",inline"`
	Resources []string           `yaml:"resources"`
	Images    []kustomizeImage   `yaml:"images,omitempty"`
	Replicas  []kustomizeReplica `yaml:"replicas,omitempty"`
	Patches   []kustomizePatch   `yaml:"patches,omitempty"`
}

// kustomizePatch is a strategic merge patch: a file (Path) or inline (Patch).
type kustomizePatch struct {
	Path  string `yaml:"path,omitempty"`
	Patch string `yaml:"patch,omitempty"`
}

// kustomizeImage sets the tag of every container image called Name.
type kustomizeImage struct {
	Name   string `yaml:"name"`
	NewTag string `yaml:"newTag"`
}

// kustomizeReplica sets the replicas of the Deployment called Name.
type kustomizeReplica struct {
	Name  string `yaml:"name"`
	Count int    `yaml:"count"`
}

// cniConfList is a CNI network configuration list (/etc/cni/net.d/*.conflist), written
// as JSON.
type cniConfList struct {
	CNIVersion string `json:"cniVersion"`
	Name       string `json:"name"`
	Plugins    []any  `json:"plugins"`
}

type cniBridge struct {
	Type        string  `json:"type"`
	Bridge      string  `json:"bridge"`
	IsGateway   bool    `json:"isGateway"`
	IPMasq      bool    `json:"ipMasq"`
	HairpinMode bool    `json:"hairpinMode"`
	MTU         int     `json:"mtu,omitempty"`
	IPAM        cniIPAM `json:"ipam"`
}

type cniIPAM struct {
	Type    string       `json:"type"`
	Ranges  [][]cniRange `json:"ranges"`
	Routes  []cniRoute   `json:"routes"`
	DataDir string       `json:"dataDir"`
}

type cniRange struct {
	Subnet string `json:"subnet"`
}

type cniRoute struct {
	Dst string `json:"dst"`
}

type cniPortMap struct {
	Type         string          `json:"type"`
	Capabilities map[string]bool `json:"capabilities"`
}

// marshalYAML marshals one document with two-space indentation.
func marshalYAML(v any) (string, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("marshal %T: %w", v, err)
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// marshalYAMLDocs marshals several documents separated by "---".
func marshalYAMLDocs(docs ...any) (string, error) {
	var b bytes.Buffer
	for i, d := range docs {
		if i > 0 {
			b.WriteString("---\n")
		}
		s, err := marshalYAML(d)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}
