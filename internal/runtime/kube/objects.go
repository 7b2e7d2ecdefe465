package kube

import (
	"maps"
	"strconv"
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
	// copyConfigScript copies the ConfigMap's files into the writable conf folder, which the
	// image's entrypoint edits at start.
	copyConfigScript = "cp " + configMountPath + "/* " + flinkconf.Dir + "/"

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

// desiredObjects builds the four objects of cluster c in namespace ns. It does no I/O.
func desiredObjects(o runtime.Ownership, c runtime.Cluster, ns string) objects {
	k := c.Key
	hashAnn := o.Annotations()
	hashAnn[AnnotationSpecHash] = c.Hash
	confName, confData := flinkconf.Render(c.FlinkVersion, flinkConfig(c))

	cm := applycorev1.ConfigMap(configMapName(k), ns).
		WithLabels(o.Labels(k, "", c.Hash)).
		WithAnnotations(hashAnn).
		WithData(map[string]string{
			confName:                   string(confData),
			flinkconf.Log4jConsoleFile: c.Log4jProperties,
		})

	svcAnn := maps.Clone(hashAnn)
	if c.TLS != nil {
		svcAnn[annotationTLS] = "true"
	}
	svc := applycorev1.Service(serviceName(k), ns).
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

	jm := deployment(o, c, ns, runtime.ComponentJobManager, 1,
		applyappsv1.DeploymentStrategy().WithType(appsv1.RecreateDeploymentStrategyType),
		applycorev1.Container().
			WithName(runtime.ComponentJobManager).
			WithArgs("jobmanager").
			WithPorts(
				containerPort("rpc", flinkconf.DefaultRPCPort),
				containerPort("blob", flinkconf.DefaultBlobPort),
				containerPort("rest", flinkconf.DefaultRESTPort),
			).
			WithEnv(envVars(c.JobManager.Env, applycorev1.EnvVar().WithName(envRPCAddress).WithValue(serviceName(k)))...).
			WithResources(resources(c.JobManager)).
			WithLivenessProbe(tcpProbe(flinkconf.DefaultRPCPort)))

	tm := deployment(o, c, ns, runtime.ComponentTaskManager, int32(max(c.TaskManagers, 0)),
		nil,
		applycorev1.Container().
			WithName(runtime.ComponentTaskManager).
			WithArgs("taskmanager",
				"-Dtaskmanager.resource-id=$("+envPodName+")",
				"-Dtaskmanager.host=$("+envPodIP+")").
			WithPorts(containerPort("rpc", flinkconf.DefaultTMRPCPort)).
			WithEnv(envVars(c.TaskManager.Env,
				applycorev1.EnvVar().WithName(envRPCAddress).WithValue(serviceName(k)),
				applycorev1.EnvVar().WithName(envPodName).WithValueFrom(fieldRef("metadata.name")),
				applycorev1.EnvVar().WithName(envPodIP).WithValueFrom(fieldRef("status.podIP")),
			)...).
			WithResources(resources(c.TaskManager)).
			WithLivenessProbe(tcpProbe(flinkconf.DefaultTMRPCPort)))

	return objects{configMap: cm, secret: tlsSecret(o, c, ns), service: svc, jobManager: jm, taskManager: tm}
}

// flinkConfig is the cluster's Flink configuration plus what only this runtime knows; the
// runtime's keys win, because the Service and the probes depend on them.
func flinkConfig(c runtime.Cluster) map[string]string {
	conf := maps.Clone(c.FlinkConfig)
	if conf == nil {
		conf = map[string]string{}
	}
	maps.Copy(conf, map[string]string{
		"jobmanager.rpc.address": serviceName(c.Key),
		"jobmanager.rpc.port":    strconv.Itoa(flinkconf.DefaultRPCPort),
		"jobmanager.bind-host":   "0.0.0.0",
		"blob.server.port":       strconv.Itoa(flinkconf.DefaultBlobPort),
		"rest.port":              strconv.Itoa(flinkconf.DefaultRESTPort),
		"rest.address":           serviceName(c.Key),
		"rest.bind-address":      "0.0.0.0",
		"taskmanager.bind-host":  "0.0.0.0",
		"taskmanager.rpc.port":   strconv.Itoa(flinkconf.DefaultTMRPCPort),
	})
	return conf
}

func deployment(o runtime.Ownership, c runtime.Cluster, ns, component string, replicas int32,
	strategy *applyappsv1.DeploymentStrategyApplyConfiguration, main *applycorev1.ContainerApplyConfiguration,
) *applyappsv1.DeploymentApplyConfiguration {
	k := c.Key
	name := jobManagerName(k)
	if component == runtime.ComponentTaskManager {
		name = taskManagerName(k)
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
	tlsVol, tlsCopy := tlsPod(c, component, main)
	script := copyConfigScript
	if tlsCopy != "" {
		script += " && " + tlsCopy
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
			applycorev1.VolumeMount().WithName(volumeConf).WithMountPath(flinkconf.Dir),
		)
	volumes := []*applycorev1.VolumeApplyConfiguration{
		applycorev1.Volume().WithName(volumeConfigMap).
			WithConfigMap(applycorev1.ConfigMapVolumeSource().WithName(configMapName(k))),
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
