package kubetest

import (
	"archive/tar"
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels the pod runner puts on its Docker containers and networks. Pod labels are never
// copied to containers: flinkd's Docker runtime lists containers by flinkd's labels and
// must not see pods as its own.
const (
	labelRunner       = "flinkd-test.podrunner"
	labelPodNamespace = "io.kubernetes.pod.namespace"
	labelPodName      = "io.kubernetes.pod.name"
	labelPodUID       = "io.kubernetes.pod.uid"
	labelContainer    = "io.kubernetes.container.name"
	labelPodIP        = "flinkd-test.podrunner.ip"
)

// Waiting reasons the runner reports, as a kubelet would.
const (
	reasonContainerCreating = "ContainerCreating"
	reasonConfigError       = "CreateContainerConfigError"
	reasonPodInitializing   = "PodInitializing"
	reasonErrImagePull      = "ErrImagePull"
	reasonErrImageNeverPull = "ErrImageNeverPull"
	reasonCrashLoopBackOff  = "CrashLoopBackOff"
	reasonUnsupported       = "UnsupportedByPodRunner"
)

// podInputs are the API objects a pod refers to, fetched before the pod is translated
// (nil when absent).
type podInputs struct {
	ConfigMaps map[string]*corev1.ConfigMap
	Secrets    map[string]*corev1.Secret
}

// waitingError says why a pod's container cannot be created; it becomes the container's
// Waiting state.
type waitingError struct {
	Reason  string
	Message string
}

func (e *waitingError) Error() string { return e.Reason + ": " + e.Message }

// runSpec is what the runner creates for a pod: one Docker container for the pod's first
// container, and the files to copy into it before it starts.
type runSpec struct {
	Name   string
	Config container.Config
	Host   container.HostConfig
	// Files maps a folder inside the container to the files copied there (name → content).
	Files map[string]map[string][]byte
	// Env is the resolved environment, by name (for tests and messages).
	Env map[string]string
}

// referencedObjects lists the ConfigMaps and Secrets a pod refers to (volumes, env, envFrom).
func referencedObjects(pod *corev1.Pod) (configMaps, secrets []string) {
	cms, secs := map[string]bool{}, map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.ConfigMap != nil:
			cms[v.ConfigMap.Name] = true
		case v.Secret != nil:
			secs[v.Secret.SecretName] = true
		}
	}
	if len(pod.Spec.Containers) > 0 {
		c := pod.Spec.Containers[0]
		for _, ef := range c.EnvFrom {
			switch {
			case ef.ConfigMapRef != nil:
				cms[ef.ConfigMapRef.Name] = true
			case ef.SecretRef != nil:
				secs[ef.SecretRef.Name] = true
			}
		}
		for _, e := range c.Env {
			switch {
			case e.ValueFrom == nil:
			case e.ValueFrom.ConfigMapKeyRef != nil:
				cms[e.ValueFrom.ConfigMapKeyRef.Name] = true
			case e.ValueFrom.SecretKeyRef != nil:
				secs[e.ValueFrom.SecretKeyRef.Name] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(cms)), slices.Sorted(maps.Keys(secs))
}

// containerName is the Docker name of a pod's container, as the kubelet's Docker shim named
// them.
func containerName(pod *corev1.Pod, ctr string) string {
	return fmt.Sprintf("k8s_%s_%s_%s_%s_0", ctr, pod.Name, pod.Namespace, pod.UID)
}

// buildRun translates pod (whose IP will be ip on a node whose address is hostIP) into the
// Docker container that runs its first container. It does no I/O: in holds the objects the
// pod refers to. A *waitingError says why the container cannot be created.
func buildRun(runner string, pod *corev1.Pod, ip, hostIP string, in podInputs) (runSpec, error) {
	if len(pod.Spec.Containers) == 0 {
		return runSpec{}, &waitingError{reasonConfigError, "pod has no containers"}
	}
	ctr := pod.Spec.Containers[0]
	env, err := resolveEnv(pod, ctr, ip, hostIP, in)
	if err != nil {
		return runSpec{}, err
	}
	files, err := volumeFiles(pod, ctr, in)
	if err != nil {
		return runSpec{}, err
	}

	envList := make([]string, 0, len(env.order))
	for _, n := range env.order {
		envList = append(envList, n+"="+env.values[n])
	}
	expandAll := func(in []string) []string {
		if in == nil {
			return nil
		}
		out := make([]string, len(in))
		for i, s := range in {
			out[i] = ExpandVars(s, env.values)
		}
		return out
	}
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	cfg := container.Config{
		Image:      ctr.Image,
		Entrypoint: expandAll(ctr.Command),
		Cmd:        expandAll(ctr.Args),
		Env:        envList,
		Hostname:   hostname,
		WorkingDir: ctr.WorkingDir,
		User:       user(pod, ctr),
		Labels: map[string]string{
			labelRunner:       runner,
			labelPodNamespace: pod.Namespace,
			labelPodName:      pod.Name,
			labelPodUID:       string(pod.UID),
			labelContainer:    ctr.Name,
			labelPodIP:        ip,
		},
	}
	host := container.HostConfig{}
	if lim, ok := ctr.Resources.Limits[corev1.ResourceMemory]; ok {
		host.Memory = lim.Value()
	}
	if lim, ok := ctr.Resources.Limits[corev1.ResourceCPU]; ok {
		host.NanoCPUs = lim.MilliValue() * 1_000_000
	}
	if req, ok := ctr.Resources.Requests[corev1.ResourceCPU]; ok {
		host.CPUShares = max(req.MilliValue()*1024/1000, 2)
	}
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		host.GroupAdd = []string{strconv.FormatInt(*sc.FSGroup, 10)}
	}
	if sc := ctr.SecurityContext; sc != nil {
		if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			host.SecurityOpt = append(host.SecurityOpt, "no-new-privileges")
		}
		if sc.Privileged != nil && *sc.Privileged {
			host.Privileged = true
		}
		if c := sc.Capabilities; c != nil {
			for _, cp := range c.Add {
				host.CapAdd = append(host.CapAdd, string(cp))
			}
			for _, cp := range c.Drop {
				host.CapDrop = append(host.CapDrop, string(cp))
			}
		}
	}
	return runSpec{Name: containerName(pod, ctr.Name), Config: cfg, Host: host, Files: files, Env: env.values}, nil
}

// user is the container's "uid[:gid]" from the container's, else the pod's, security
// context; "" leaves the image's user.
func user(pod *corev1.Pod, ctr corev1.Container) string {
	var uid, gid *int64
	if sc := pod.Spec.SecurityContext; sc != nil {
		uid, gid = sc.RunAsUser, sc.RunAsGroup
	}
	if sc := ctr.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	switch {
	case uid == nil:
		return ""
	case gid == nil:
		return strconv.FormatInt(*uid, 10)
	}
	return fmt.Sprintf("%d:%d", *uid, *gid)
}

type environment struct {
	order  []string
	values map[string]string
}

func (e *environment) set(name, value string) {
	if _, ok := e.values[name]; !ok {
		e.order = append(e.order, name)
	}
	e.values[name] = value
}

// resolveEnv builds a container's environment as the kubelet does: envFrom first, then env
// in order, each value expanded with the variables defined before it.
func resolveEnv(pod *corev1.Pod, ctr corev1.Container, ip, hostIP string, in podInputs) (environment, error) {
	env := environment{values: map[string]string{}}
	for _, ef := range ctr.EnvFrom {
		var data map[string]string
		switch {
		case ef.ConfigMapRef != nil:
			cm := in.ConfigMaps[ef.ConfigMapRef.Name]
			if cm == nil {
				if ef.ConfigMapRef.Optional != nil && *ef.ConfigMapRef.Optional {
					continue
				}
				return env, &waitingError{reasonConfigError, fmt.Sprintf("configmap %q not found", ef.ConfigMapRef.Name)}
			}
			data = cm.Data
		case ef.SecretRef != nil:
			s := in.Secrets[ef.SecretRef.Name]
			if s == nil {
				if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
					continue
				}
				return env, &waitingError{reasonConfigError, fmt.Sprintf("secret %q not found", ef.SecretRef.Name)}
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(data)) {
			env.set(ef.Prefix+k, data[k])
		}
	}
	for _, e := range ctr.Env {
		if e.ValueFrom == nil {
			env.set(e.Name, ExpandVars(e.Value, env.values))
			continue
		}
		v, ok, err := envSource(pod, e.ValueFrom, ip, hostIP, in)
		if err != nil {
			return env, &waitingError{reasonConfigError, fmt.Sprintf("env %s: %v", e.Name, err)}
		}
		if ok {
			env.set(e.Name, v)
		}
	}
	return env, nil
}

// envSource resolves one valueFrom; ok is false for an optional reference that is absent.
func envSource(pod *corev1.Pod, src *corev1.EnvVarSource, ip, hostIP string, in podInputs) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := fieldValue(pod, src.FieldRef.FieldPath, ip, hostIP)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm := in.ConfigMaps[ref.Name]
		if cm == nil {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("key %q not in configmap %q", ref.Key, ref.Name)
		}
		return v, ok, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s := in.Secrets[ref.Name]
		if s == nil {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		v, ok := s.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("key %q not in secret %q", ref.Key, ref.Name)
		}
		return string(v), ok, nil
	}
	return "", false, fmt.Errorf("value source not supported by the pod runner (only fieldRef, configMapKeyRef, secretKeyRef)")
}

// fieldValue is the downward API's value of a pod field.
func fieldValue(pod *corev1.Pod, field, ip, hostIP string) (string, error) {
	if k, ok := strings.CutPrefix(field, "metadata.labels['"); ok {
		return pod.Labels[strings.TrimSuffix(k, "']")], nil
	}
	if k, ok := strings.CutPrefix(field, "metadata.annotations['"); ok {
		return pod.Annotations[strings.TrimSuffix(k, "']")], nil
	}
	switch field {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return ip, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	return "", fmt.Errorf("field %q not supported", field)
}

// ExpandVars expands $(VAR) from env and turns $$ into $, as the kubelet does for env
// values, command and args; a reference to an unknown variable stays as written.
func ExpandVars(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			if v, ok := env[s[i+2:i+2+end]]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// volumeFiles lists the files the runner copies into the container before it starts, by
// folder: a ConfigMap or Secret volume mounted by the container lands at its mount path,
// and one mounted only by an init container lands where the container mounts the emptyDir
// that init container also mounts (init containers are not run: the runner assumes they
// copy their ConfigMaps and Secrets into the emptyDir they share with the container, which
// is what flinkd's does). An emptyDir is otherwise the image's own folder. Other volume
// kinds are not supported.
func volumeFiles(pod *corev1.Pod, ctr corev1.Container, in podInputs) (map[string]map[string][]byte, error) {
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		vols[v.Name] = v
	}
	files := map[string]map[string][]byte{}
	add := func(dir string, v corev1.Volume) error {
		data, err := volumeData(v, in)
		if err != nil {
			return err
		}
		if files[dir] == nil {
			files[dir] = map[string][]byte{}
		}
		maps.Copy(files[dir], data)
		return nil
	}
	mainMounts := map[string]string{} // volume → mount path in the container
	for _, m := range ctr.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, &waitingError{reasonConfigError, fmt.Sprintf("volume mount %q names no volume", m.Name)}
		}
		mainMounts[m.Name] = m.MountPath
		switch {
		case v.EmptyDir != nil:
		case (v.ConfigMap != nil || v.Secret != nil) && m.SubPath != "":
			// One key mounted as the file MountPath.
			data, err := volumeData(v, in)
			if err != nil {
				return nil, err
			}
			if d, ok := data[m.SubPath]; ok {
				dir := path.Dir(m.MountPath)
				if files[dir] == nil {
					files[dir] = map[string][]byte{}
				}
				files[dir][path.Base(m.MountPath)] = d
			}
		case v.ConfigMap != nil, v.Secret != nil:
			if err := add(m.MountPath, v); err != nil {
				return nil, err
			}
		default:
			return nil, &waitingError{reasonUnsupported, fmt.Sprintf("volume %q: only emptyDir, configMap and secret volumes are supported", m.Name)}
		}
	}
	for _, ic := range pod.Spec.InitContainers {
		var sources []corev1.Volume
		var shared []string
		for _, m := range ic.VolumeMounts {
			v, ok := vols[m.Name]
			switch {
			case !ok:
				return nil, &waitingError{reasonConfigError, fmt.Sprintf("init container %s: volume mount %q names no volume", ic.Name, m.Name)}
			case v.ConfigMap != nil, v.Secret != nil:
				if _, mounted := mainMounts[m.Name]; !mounted {
					sources = append(sources, v)
				}
			case v.EmptyDir != nil:
				if p, mounted := mainMounts[m.Name]; mounted {
					shared = append(shared, p)
				}
			}
		}
		for _, dir := range shared {
			for _, v := range sources {
				if err := add(dir, v); err != nil {
					return nil, err
				}
			}
		}
	}
	return files, nil
}

// volumeData returns the files of a ConfigMap or Secret volume (its items, when listed).
func volumeData(v corev1.Volume, in podInputs) (map[string][]byte, error) {
	var all map[string][]byte
	var items []corev1.KeyToPath
	switch {
	case v.ConfigMap != nil:
		cm := in.ConfigMaps[v.ConfigMap.Name]
		if cm == nil {
			if v.ConfigMap.Optional != nil && *v.ConfigMap.Optional {
				return nil, nil
			}
			return nil, &waitingError{reasonContainerCreating,
				fmt.Sprintf("MountVolume.SetUp failed for volume %q: configmap %q not found", v.Name, v.ConfigMap.Name)}
		}
		all = map[string][]byte{}
		for k, s := range cm.Data {
			all[k] = []byte(s)
		}
		maps.Copy(all, cm.BinaryData)
		items = v.ConfigMap.Items
	case v.Secret != nil:
		s := in.Secrets[v.Secret.SecretName]
		if s == nil {
			if v.Secret.Optional != nil && *v.Secret.Optional {
				return nil, nil
			}
			return nil, &waitingError{reasonContainerCreating,
				fmt.Sprintf("MountVolume.SetUp failed for volume %q: secret %q not found", v.Name, v.Secret.SecretName)}
		}
		all = maps.Clone(s.Data)
		items = v.Secret.Items
	}
	if len(items) == 0 {
		return all, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		if d, ok := all[it.Key]; ok {
			out[it.Path] = d
		}
	}
	return out, nil
}

// tarFiles archives files (name → content) owned by uid:gid, for CopyToContainer.
func tarFiles(files map[string][]byte, uid, gid int) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(files)) {
		data := files[name]
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)),
			Uid: uid, Gid: gid, ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fileOwner is the uid and gid files copied into a container get: the container's user
// and its fsGroup (group), as a kubelet's volumes would give them; 0 when unset.
func fileOwner(pod *corev1.Pod, ctr corev1.Container) (uid, gid int) {
	u := user(pod, ctr)
	if u == "" {
		return 0, 0
	}
	us, gs, _ := strings.Cut(u, ":")
	uid, _ = strconv.Atoi(us)
	gid, _ = strconv.Atoi(gs)
	if sc := pod.Spec.SecurityContext; sc != nil && sc.FSGroup != nil {
		gid = int(*sc.FSGroup)
	}
	return uid, gid
}

// containerState maps a Docker container's state to a Kubernetes one.
func containerState(id string, st *container.State) corev1.ContainerState {
	if st == nil {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonContainerCreating}}
	}
	switch {
	case st.Running && !st.Restarting:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: dockerTime(st.StartedAt)}}
	case st.Status == container.StateCreated:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonContainerCreating}}
	}
	return corev1.ContainerState{Terminated: terminated(id, st)}
}

// terminated describes how a Docker container ended.
func terminated(id string, st *container.State) *corev1.ContainerStateTerminated {
	reason := "Error"
	switch {
	case st.OOMKilled:
		reason = "OOMKilled"
	case st.ExitCode == 0:
		reason = "Completed"
	}
	return &corev1.ContainerStateTerminated{
		ExitCode:    int32(st.ExitCode),
		Reason:      reason,
		Message:     st.Error,
		StartedAt:   dockerTime(st.StartedAt),
		FinishedAt:  dockerTime(st.FinishedAt),
		ContainerID: "docker://" + id,
	}
}

// dockerTime parses a Docker timestamp, at the second (what the API server keeps).
func dockerTime(s string) metav1.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 2000 {
		return metav1.Time{}
	}
	return metav1.NewTime(t.Truncate(time.Second))
}

// statusInput is what the runner knows about a pod's container on one pass.
type statusInput struct {
	HostIP string
	// IP is the pod's IP; "" while no container exists.
	IP string
	// Main is the status of the pod's first container.
	Main corev1.ContainerStatus
	// Created is when the container was created (init containers "ran" then); zero if none.
	Created metav1.Time
	Now     metav1.Time
}

// podStatus is the status the runner reports for pod, built on the pod's current status
// (conditions it does not manage, QoS class and the start time are kept; transition times
// move only when a condition changes). It does no I/O.
func podStatus(pod *corev1.Pod, in statusInput) corev1.PodStatus {
	st := *pod.Status.DeepCopy()
	main := in.Main
	running := main.State.Running != nil
	everRan := running || main.RestartCount > 0 || main.LastTerminationState.Terminated != nil

	switch t := main.State.Terminated; {
	case running, t == nil && everRan:
		st.Phase = corev1.PodRunning
	case t != nil && t.ExitCode == 0:
		st.Phase = corev1.PodSucceeded
	case t != nil:
		st.Phase = corev1.PodFailed
	default:
		st.Phase = corev1.PodPending
	}
	if in.HostIP != "" {
		st.HostIP = in.HostIP
		st.HostIPs = []corev1.HostIP{{IP: in.HostIP}}
	}
	if in.IP != "" {
		st.PodIP = in.IP
		st.PodIPs = []corev1.PodIP{{IP: in.IP}}
	}
	if st.StartTime == nil {
		now := in.Now
		st.StartTime = &now
	}

	initDone := !in.Created.IsZero()
	st.InitContainerStatuses = nil
	for _, ic := range pod.Spec.InitContainers {
		s := corev1.ContainerStatus{Name: ic.Name, Image: ic.Image}
		if initDone {
			s.Ready = true
			s.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed",
				StartedAt: in.Created, FinishedAt: in.Created}
		} else {
			s.State.Waiting = &corev1.ContainerStateWaiting{Reason: reasonPodInitializing}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, s)
	}
	main.Ready = running
	main.Started = &running
	if len(pod.Spec.Containers) > 0 {
		main.Name, main.Image = pod.Spec.Containers[0].Name, pod.Spec.Containers[0].Image
	}
	st.ContainerStatuses = []corev1.ContainerStatus{main}
	for _, c := range pod.Spec.Containers[min(1, len(pod.Spec.Containers)):] {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonUnsupported,
				Message: "the pod runner runs a pod's first container only"}}})
	}

	ready := running && len(pod.Spec.Containers) == 1
	setCondition(&st, corev1.PodReadyToStartContainers, in.IP != "", in.Now)
	setCondition(&st, corev1.PodInitialized, initDone || len(pod.Spec.InitContainers) == 0, in.Now)
	setCondition(&st, corev1.ContainersReady, ready, in.Now)
	setCondition(&st, corev1.PodReady, ready, in.Now)
	return st
}

// setCondition sets a pod condition, keeping its transition time unless its status changes.
func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, ok bool, now metav1.Time) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.Status, c.LastTransitionTime = status, now
		}
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, LastTransitionTime: now})
}

// nodeResources are the capacity and allocatable resources of the runner's Node: plenty,
// as kwok's nodes have, since the containers' limits are what binds.
func nodeResources() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
}
