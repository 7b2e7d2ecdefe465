package kube

import (
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	applyappsv1 "k8s.io/client-go/applyconfigurations/apps/v1"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applymetav1 "k8s.io/client-go/applyconfigurations/meta/v1"

	"github.com/flinkd/flinkd/internal/flinkconf"
	"github.com/flinkd/flinkd/internal/runtime"
)

// Paths inside the pods.
const (
	// configMountPath is where the init container sees the ConfigMap (read-only).
	configMountPath = "/flinkd/config"
	// stageMountPath is where the init container sees the emptyDir that the main container
	// mounts over the image's conf folder (flinkconf.Dir).
	stageMountPath = "/flinkd/conf"

	volumeConfigMap = "flink-config"
	volumeConf      = "flink-conf"

	containerInit = "flink-config"

	envRPCAddress = "JOB_MANAGER_RPC_ADDRESS"
	envPodName    = "POD_NAME"
	envPodIP      = "POD_IP"
)

// objects is what Apply wants to exist for one cluster.
type objects struct {
	configMap   *applycorev1.ConfigMapApplyConfiguration
	secret      *applycorev1.SecretApplyConfiguration // nil without TLS
	service     *applycorev1.ServiceApplyConfiguration
	jobManager  *applyappsv1.DeploymentApplyConfiguration
	taskManager *applyappsv1.DeploymentApplyConfiguration
}

// desiredObjects builds the objects of cluster c in namespace ns, named n. It does no I/O. It
// fails when the configuration file cannot carry the cluster's configuration as written.
func desiredObjects(o runtime.Ownership, c runtime.Cluster, ns string, n names) (objects, error) {
	k := c.Key
	hashAnn := o.Annotations()
	hashAnn[AnnotationSpecHash] = c.Hash
	conf, err := configFile(c, n.service)
	if err != nil {
		return objects{}, err
	}

	cm := applycorev1.ConfigMap(n.configMap, ns).
		WithLabels(o.Labels(k, "", c.Hash)).
		WithAnnotations(hashAnn).
		WithData(map[string]string{
			conf.Name:                  string(conf.Data),
			flinkconf.Log4jConsoleFile: c.Log4jProperties,
		})

	svcAnn := maps.Clone(hashAnn)
	if c.TLS != nil {
		svcAnn[annotationTLS] = "true"
	}
	svc := applycorev1.Service(n.service, ns).
		WithLabels(o.Labels(k, runtime.ComponentJobManager, c.Hash)).
		WithAnnotations(svcAnn).
		WithSpec(applycorev1.ServiceSpec().
			WithType(corev1.ServiceTypeClusterIP).
			WithSelector(selectorLabels(o, k, runtime.ComponentJobManager)).
			WithPorts(
				servicePort("rpc", flinkconf.DefaultRPCPort),
				servicePort("blob", flinkconf.DefaultBlobPort),
				servicePort("rest", flinkconf.DefaultRESTPort),
			))

	jm := deployment(o, c, ns, n, runtime.ComponentJobManager, 1,
		applyappsv1.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType),
		applycorev1.Container().
			WithName(runtime.ComponentJobManager).
			WithArgs("jobmanager").
			WithPorts(
				containerPort("rpc", flinkconf.DefaultRPCPort),
				containerPort("blob", flinkconf.DefaultBlobPort),
				containerPort("rest", flinkconf.DefaultRESTPort),
			).
			WithEnv(envVars(c.JobManager.Env, applycorev1.EnvVar().WithName(envRPCAddress).WithValue(n.service))...).
			WithResources(resources(c.JobManager)).
			WithLivenessProbe(tcpProbe(flinkconf.DefaultRPCPort)))

	tm := deployment(o, c, ns, n, runtime.ComponentTaskManager, int32(max(c.TaskManagers, 0)),
		nil,
		applycorev1.Container().
			WithName(runtime.ComponentTaskManager).
			WithArgs("taskmanager",
				flinkconf.DynamicProperty(flinkconf.KeyTaskManagerResource, "$("+envPodName+")"),
				flinkconf.DynamicProperty(flinkconf.KeyTaskManagerHost, "$("+envPodIP+")")).
			WithPorts(containerPort("rpc", flinkconf.DefaultTMRPCPort)).
			WithEnv(envVars(c.TaskManager.Env,
				applycorev1.EnvVar().WithName(envRPCAddress).WithValue(n.service),
				applycorev1.EnvVar().WithName(envPodName).WithValueFrom(fieldRef("metadata.name")),
				applycorev1.EnvVar().WithName(envPodIP).WithValueFrom(fieldRef("status.podIP")),
			)...).
			WithResources(resources(c.TaskManager)).
			WithLivenessProbe(tcpProbe(flinkconf.DefaultTMRPCPort)))

	return objects{configMap: cm, secret: tlsSecret(o, c, ns, n), service: svc, jobManager: jm, taskManager: tm}, nil
}

// configFile renders the ConfigMap's Flink configuration: flink-dist's defaults for the
// version, the cluster's configuration, and what only this runtime knows, which wins (the
// Service and the probes depend on it). The TaskManagers' own address and ID are dynamic
// properties of their command, as the pod IP is known only when the pod runs. service is the
// JobManager's Service.
//
// The image's own config.yaml cannot be read here: flinkd sees the image only through pods.
// The init container (initScript) copies the image's conf folder into the pod's writable one
// first, so every other file the image ships there survives, but flinkd's config file
// replaces the image's; it carries flinkconf.DistDefaults, the defaults the official image
// ships (the Java 17 module flags of env.java.opts.all among them), as the stated fallback.
// Keys a custom image adds to its own config.yaml are not seen on Kubernetes.
func configFile(c runtime.Cluster, service string) (flinkconf.File, error) {
	v := flinkconf.VersionOf(c.FlinkVersion)
	_, legacy := flinkconf.FileName(v, false)
	return flinkconf.Render(flinkconf.Layers{
		Version: v, Legacy: legacy, Base: flinkconf.DistDefaults(v), Cluster: c.FlinkConfig,
		Runtime: flinkconf.RuntimeOptions(flinkconf.Instance{JobManagerHost: service, PinTaskManagerRPCPort: true}),
	})
}

// initScript is what the init container runs, in the pod's image (its /bin/sh and cp): it
// fails with a message naming what is missing when the image has no conf folder; copies the
// image's conf folder into the emptyDir the main container mounts over it (so the image's
// other conf files survive), from 1.19 on removes a flink-conf.yaml the image ships (1.19 and
// 1.20 would read it instead of flinkd's config.yaml), and copies the ConfigMap's files over.
// The emptyDir stays writable: the image's entrypoint rewrites the configuration at start.
func initScript(v flinkconf.Version) string {
	lines := []string{
		"set -e",
		fmt.Sprintf("if [ ! -d %[1]s ]; then echo \"flinkd: the image has no %[1]s, the folder the official Flink image reads its "+
			"configuration from and flinkd writes it to\" >&2; exit 1; fi", flinkconf.Dir),
		"cp -R " + flinkconf.Dir + "/. " + stageMountPath + "/",
	}
	if v.StandardYAML() {
		lines = append(lines, "rm -f "+stageMountPath+"/"+flinkconf.LegacyConfigYAML)
	}
	lines = append(lines, "cp "+configMountPath+"/* "+stageMountPath+"/")
	return strings.Join(lines, "\n")
}

func deployment(o runtime.Ownership, c runtime.Cluster, ns string, n names, component string, replicas int32,
	strategy *applyappsv1.DeploymentStrategyApplyConfiguration, main *applycorev1.ContainerApplyConfiguration,
) *applyappsv1.DeploymentApplyConfiguration {
	k := c.Key
	name := n.jobManager
	if component == runtime.ComponentTaskManager {
		name = n.taskManager
	}
	podLabels := maps.Clone(c.Labels)
	if podLabels == nil {
		podLabels = map[string]string{}
	}
	maps.Copy(podLabels, o.Labels(k, component, c.Hash))
	podAnn := maps.Clone(c.Annotations)
	if podAnn == nil {
		podAnn = map[string]string{}
	}
	podAnn[AnnotationSpecHash] = c.Hash
	if c.TLS != nil {
		podAnn[annotationFingerprint] = c.TLS.Fingerprint
	}

	pullPolicy := corev1.PullPolicy(c.PullPolicy)
	if pullPolicy == "" {
		pullPolicy = corev1.PullIfNotPresent
	}
	proc := c.JobManager
	if component == runtime.ComponentTaskManager {
		proc = c.TaskManager
	}
	confMount := applycorev1.VolumeMount().WithName(volumeConf).WithMountPath(flinkconf.Dir)
	main.WithImage(c.Image).WithImagePullPolicy(pullPolicy).WithVolumeMounts(confMount).
		WithSecurityContext(containerSecurity())
	tlsVol, tlsCopy := tlsPod(c, n, component, main)
	script := initScript(flinkconf.VersionOf(c.FlinkVersion))
	if tlsCopy != "" {
		script += "\n" + tlsCopy
	}
	init := applycorev1.Container().
		WithName(containerInit).
		WithImage(c.Image).
		WithImagePullPolicy(pullPolicy).
		WithSecurityContext(containerSecurity()).
		WithCommand("/bin/sh", "-c", script).
		WithResources(resources(proc)).
		WithVolumeMounts(
			applycorev1.VolumeMount().WithName(volumeConfigMap).WithMountPath(configMountPath).WithReadOnly(true),
			applycorev1.VolumeMount().WithName(volumeConf).WithMountPath(stageMountPath),
		)
	volumes := []*applycorev1.VolumeApplyConfiguration{
		applycorev1.Volume().WithName(volumeConfigMap).
			WithConfigMap(applycorev1.ConfigMapVolumeSource().WithName(n.configMap)),
		applycorev1.Volume().WithName(volumeConf).
			WithEmptyDir(applycorev1.EmptyDirVolumeSource()),
	}
	if tlsVol != nil {
		init.WithVolumeMounts(applycorev1.VolumeMount().WithName(volumeTLS).WithMountPath(tlsMountPath).WithReadOnly(true))
		volumes = append(volumes, tlsVol)
	}

	spec := applyappsv1.DeploymentSpec().
		WithReplicas(replicas).
		WithRevisionHistoryLimit(2).
		WithSelector(applymetav1.LabelSelector().WithMatchLabels(selectorLabels(o, k, component))).
		WithTemplate(applycorev1.PodTemplateSpec().
			WithLabels(podLabels).
			WithAnnotations(podAnn).
			WithSpec(applycorev1.PodSpec().
				WithEnableServiceLinks(false).
				WithSecurityContext(applycorev1.PodSecurityContext().
					WithRunAsNonRoot(true).
					WithRunAsUser(flinkconf.ImageUID).
					WithRunAsGroup(flinkconf.ImageUID).
					WithFSGroup(flinkconf.ImageUID).
					WithSeccompProfile(applycorev1.SeccompProfile().WithType(corev1.SeccompProfileTypeRuntimeDefault))).
				WithVolumes(volumes...).
				WithInitContainers(init).
				WithContainers(main)))
	if strategy != nil {
		spec.WithStrategy(strategy)
	}
	depAnn := o.Annotations()
	depAnn[AnnotationSpecHash] = c.Hash
	return applyappsv1.Deployment(name, ns).
		WithLabels(o.Labels(k, component, c.Hash)).
		WithAnnotations(depAnn).
		WithSpec(spec)
}

// containerSecurity, with the pod's security context, meets the "restricted" Pod Security
// Standard, so that namespaces enforcing it accept the pods. The image's processes run as
// its own user (9999) and need no privilege.
func containerSecurity() *applycorev1.SecurityContextApplyConfiguration {
	return applycorev1.SecurityContext().
		WithAllowPrivilegeEscalation(false).
		WithCapabilities(applycorev1.Capabilities().WithDrop("ALL"))
}

func servicePort(name string, port int32) *applycorev1.ServicePortApplyConfiguration {
	return applycorev1.ServicePort().WithName(name).WithProtocol(corev1.ProtocolTCP).
		WithPort(port).WithTargetPort(intstr.FromInt32(port))
}

func containerPort(name string, port int32) *applycorev1.ContainerPortApplyConfiguration {
	return applycorev1.ContainerPort().WithName(name).WithContainerPort(port).WithProtocol(corev1.ProtocolTCP)
}

// tcpProbe is the liveness probe of Flink's reference manifests.
func tcpProbe(port int32) *applycorev1.ProbeApplyConfiguration {
	return applycorev1.Probe().
		WithTCPSocket(applycorev1.TCPSocketAction().WithPort(intstr.FromInt32(port))).
		WithInitialDelaySeconds(30).
		WithPeriodSeconds(60)
}

// resources sets requests equal to limits (VVP's default), leaving out what is zero.
func resources(p runtime.Process) *applycorev1.ResourceRequirementsApplyConfiguration {
	list := corev1.ResourceList{}
	if p.CPUMillis > 0 {
		list[corev1.ResourceCPU] = *resource.NewMilliQuantity(p.CPUMillis, resource.DecimalSI)
	}
	if p.MemoryBytes > 0 {
		list[corev1.ResourceMemory] = *resource.NewQuantity(p.MemoryBytes, resource.BinarySI)
	}
	rr := applycorev1.ResourceRequirements()
	if len(list) > 0 {
		rr.WithRequests(list).WithLimits(list.DeepCopy())
	}
	return rr
}

func fieldRef(path string) *applycorev1.EnvVarSourceApplyConfiguration {
	return applycorev1.EnvVarSource().WithFieldRef(applycorev1.ObjectFieldSelector().WithFieldPath(path))
}

// envVars returns the user's variables, in order and with "$(" escaped so that Kubernetes
// does not expand them (Docker passes values verbatim), followed by the runtime's, which
// replace a user variable of the same name.
func envVars(user []runtime.EnvVar, ours ...*applycorev1.EnvVarApplyConfiguration) []*applycorev1.EnvVarApplyConfiguration {
	taken := map[string]bool{}
	for _, o := range ours {
		taken[*o.Name] = true
	}
	out := make([]*applycorev1.EnvVarApplyConfiguration, 0, len(user)+len(ours))
	seen := map[string]int{}
	for _, e := range user {
		if taken[e.Name] {
			continue
		}
		v := applycorev1.EnvVar().WithName(e.Name).WithValue(strings.ReplaceAll(e.Value, "$(", "$$("))
		if i, dup := seen[e.Name]; dup {
			out[i] = v // the last value wins, as in Docker
			continue
		}
		seen[e.Name] = len(out)
		out = append(out, v)
	}
	return append(out, ours...)
}
