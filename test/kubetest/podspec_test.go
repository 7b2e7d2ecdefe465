package kubetest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpandVarsFollowsTheKubeletsRules(t *testing.T) {
	env := map[string]string{"POD_NAME": "p-1", "EMPTY": ""}
	for in, want := range map[string]string{
		"-Dtaskmanager.resource-id=$(POD_NAME)": "-Dtaskmanager.resource-id=p-1",
		"$$(POD_NAME) costs $5":                 "$(POD_NAME) costs $5",
		"$(UNSET) $(POD_NAME":                   "$(UNSET) $(POD_NAME",
		"[$(EMPTY)]":                            "[]",
		"no references":                         "no references",
		"trailing $":                            "trailing $",
	} {
		if got := ExpandVars(in, env); got != want {
			t.Errorf("ExpandVars(%q) = %q, want %q", in, got, want)
		}
	}
}

// flinkdLikePod is a TaskManager pod as flinkd's Kubernetes runtime makes them: an init
// container copies the ConfigMap into an emptyDir mounted on the conf folder, and the
// arguments refer to the pod's name and IP.
func flinkdLikePod() *corev1.Pod {
	uid, fsGroup := int64(9999), int64(9999)
	no := false
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("2G")}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "c1-taskmanager-abc", Namespace: "ns1", UID: "uid-1",
			Labels: map[string]string{"app": "tm"}, Annotations: map[string]string{"team": "a"}},
		Spec: corev1.PodSpec{
			NodeName:        "docker-node-0",
			SecurityContext: &corev1.PodSecurityContext{RunAsUser: &uid, RunAsGroup: &uid, FSGroup: &fsGroup},
			Volumes: []corev1.Volume{
				{Name: "flink-config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "c1-flink-config"}}}},
				{Name: "flink-conf", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
			InitContainers: []corev1.Container{{Name: "flink-config", Image: "flink-sim", Command: []string{"/bin/sh", "-c", "cp ..."},
				VolumeMounts: []corev1.VolumeMount{{Name: "flink-config", MountPath: "/flinkd/config"}, {Name: "flink-conf", MountPath: "/opt/flink/conf"}}}},
			Containers: []corev1.Container{{
				Name:  "taskmanager",
				Image: "localhost/flink-sim:1.20",
				Args:  []string{"taskmanager", "-Dtaskmanager.resource-id=$(POD_NAME)", "-Dtaskmanager.host=$(POD_IP)", "$$(KEPT)"},
				Env: []corev1.EnvVar{
					{Name: "KEY", Value: "VALUE"},
					{Name: "DERIVED", Value: "$(KEY)-$(LATER)"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "TEAM", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['team']"}}},
					{Name: "LATER", Value: "late"},
				},
				Resources:       corev1.ResourceRequirements{Limits: limits, Requests: limits},
				VolumeMounts:    []corev1.VolumeMount{{Name: "flink-conf", MountPath: "/opt/flink/conf"}},
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			}},
			RestartPolicy: corev1.RestartPolicyAlways,
		},
	}
}

func TestBuildRunTranslatesAFlinkdTaskManagerPod(t *testing.T) {
	pod := flinkdLikePod()
	in := podInputs{ConfigMaps: map[string]*corev1.ConfigMap{"c1-flink-config": {Data: map[string]string{
		"config.yaml": "taskmanager.numberOfTaskSlots: 1\n", "log4j-console.properties": "rootLogger.level = INFO\n"}}}}
	got, err := buildRun("r1", pod, "10.213.7.4", "127.0.0.1", in)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := container.Config{
		Image: "localhost/flink-sim:1.20",
		Cmd:   []string{"taskmanager", "-Dtaskmanager.resource-id=c1-taskmanager-abc", "-Dtaskmanager.host=10.213.7.4", "$(KEPT)"},
		Env: []string{"KEY=VALUE", "DERIVED=VALUE-$(LATER)", "POD_NAME=c1-taskmanager-abc", "POD_IP=10.213.7.4",
			"TEAM=a", "LATER=late"},
		Hostname: "c1-taskmanager-abc",
		User:     "9999:9999",
		Labels: map[string]string{labelRunner: "r1", labelPodNamespace: "ns1", labelPodName: "c1-taskmanager-abc",
			labelPodUID: "uid-1", labelContainer: "taskmanager", labelPodIP: "10.213.7.4"},
	}
	if diff := cmp.Diff(wantCfg, got.Config); diff != "" {
		t.Errorf("container config (-want +got):\n%s", diff)
	}
	if got.Name != "k8s_taskmanager_c1-taskmanager-abc_ns1_uid-1_0" {
		t.Errorf("name = %q", got.Name)
	}
	h := got.Host
	if h.Memory != 2_000_000_000 || h.NanoCPUs != 500_000_000 || h.CPUShares != 512 ||
		!cmp.Equal(h.GroupAdd, []string{"9999"}) || !cmp.Equal(h.SecurityOpt, []string{"no-new-privileges"}) ||
		!cmp.Equal([]string(h.CapDrop), []string{"ALL"}) {
		t.Errorf("host config: memory %d, nanoCPUs %d, shares %d, groups %v, securityOpt %v, capDrop %v",
			h.Memory, h.NanoCPUs, h.CPUShares, h.GroupAdd, h.SecurityOpt, h.CapDrop)
	}
	wantFiles := map[string]map[string][]byte{"/opt/flink/conf": {
		"config.yaml":              []byte("taskmanager.numberOfTaskSlots: 1\n"),
		"log4j-console.properties": []byte("rootLogger.level = INFO\n"),
	}}
	if diff := cmp.Diff(wantFiles, got.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if uid, gid := fileOwner(pod, pod.Spec.Containers[0]); uid != 9999 || gid != 9999 {
		t.Errorf("file owner = %d:%d, want 9999:9999", uid, gid)
	}
}

func TestBuildRunSaysWhyAPodCannotStartYet(t *testing.T) {
	for _, tt := range []struct {
		name   string
		edit   func(*corev1.Pod)
		in     podInputs
		reason string
	}{
		{"configmap of a volume missing", func(*corev1.Pod) {}, podInputs{}, reasonContainerCreating},
		{"unsupported field", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[2].ValueFrom.FieldRef.FieldPath = "status.phase"
		}, podInputs{ConfigMaps: map[string]*corev1.ConfigMap{"c1-flink-config": {}}}, reasonConfigError},
		{"secret of an env var missing", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, corev1.EnvVar{Name: "S",
				ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Key: "k"}}})
		}, podInputs{ConfigMaps: map[string]*corev1.ConfigMap{"c1-flink-config": {}}}, reasonConfigError},
		{"host path volume", func(p *corev1.Pod) {
			p.Spec.Volumes[1].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/tmp"}}
		}, podInputs{ConfigMaps: map[string]*corev1.ConfigMap{"c1-flink-config": {}}}, reasonUnsupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := flinkdLikePod()
			tt.edit(pod)
			_, err := buildRun("r1", pod, "10.213.7.4", "127.0.0.1", tt.in)
			var we *waitingError
			if !errors.As(err, &we) || we.Reason != tt.reason {
				t.Errorf("buildRun = %v, want a waiting error with reason %s", err, tt.reason)
			}
		})
	}
}

func TestPodStatusReportsPhasesAsAKubeletDoes(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: t0}}
	exited := func(code int32) corev1.ContainerState {
		return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
	}
	backOff := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonCrashLoopBackOff}}
	for _, tt := range []struct {
		name     string
		main     corev1.ContainerStatus
		created  bool
		phase    corev1.PodPhase
		ready    bool
		initDone bool
	}{
		{"not created", corev1.ContainerStatus{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reasonErrImagePull}}},
			false, corev1.PodPending, false, false},
		{"running", corev1.ContainerStatus{State: running}, true, corev1.PodRunning, true, true},
		{"backing off after a crash", corev1.ContainerStatus{State: backOff, RestartCount: 1,
			LastTerminationState: exited(1)}, true, corev1.PodRunning, false, true},
		{"completed", corev1.ContainerStatus{State: exited(0)}, true, corev1.PodSucceeded, false, true},
		{"failed", corev1.ContainerStatus{State: exited(2)}, true, corev1.PodFailed, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := flinkdLikePod()
			pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: t0}}
			in := statusInput{HostIP: "127.0.0.1", Main: tt.main, Now: t1}
			if tt.created {
				in.IP, in.Created = "10.213.7.4", t0
			}
			st := podStatus(pod, in)
			if st.Phase != tt.phase {
				t.Errorf("phase = %s, want %s", st.Phase, tt.phase)
			}
			conds := map[corev1.PodConditionType]corev1.ConditionStatus{}
			for _, c := range st.Conditions {
				conds[c.Type] = c.Status
			}
			want := map[corev1.PodConditionType]corev1.ConditionStatus{
				corev1.PodScheduled:              corev1.ConditionTrue,
				corev1.PodReadyToStartContainers: condition(tt.created),
				corev1.PodInitialized:            condition(tt.initDone),
				corev1.ContainersReady:           condition(tt.ready),
				corev1.PodReady:                  condition(tt.ready),
			}
			if diff := cmp.Diff(want, conds); diff != "" {
				t.Errorf("conditions (-want +got):\n%s", diff)
			}
			if tt.created && (st.PodIP != "10.213.7.4" || len(st.PodIPs) != 1 || st.HostIP != "127.0.0.1") {
				t.Errorf("IPs: pod %q %v host %q", st.PodIP, st.PodIPs, st.HostIP)
			}
			if len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].Name != "taskmanager" || st.ContainerStatuses[0].Ready != tt.ready {
				t.Errorf("container statuses = %+v", st.ContainerStatuses)
			}
			ic := st.InitContainerStatuses
			if len(ic) != 1 || (ic[0].State.Terminated != nil) != tt.initDone {
				t.Errorf("init container statuses = %+v, want done=%v", ic, tt.initDone)
			}
			// A second pass over the written status changes nothing, transition times included.
			pod.Status = st
			if again := podStatus(pod, statusInput{HostIP: in.HostIP, IP: in.IP, Main: tt.main, Created: in.Created,
				Now: metav1.NewTime(t1.Add(time.Hour))}); !cmp.Equal(st, again) {
				t.Errorf("a second pass changed the status:\n%s", cmp.Diff(st, again))
			}
		})
	}
}

func condition(ok bool) corev1.ConditionStatus {
	if ok {
		return corev1.ConditionTrue
	}
	return corev1.ConditionFalse
}

func TestRestartBackOffDoublesUpToItsCap(t *testing.T) {
	var got []time.Duration
	for n := int32(1); n <= 7; n++ {
		got = append(got, backoff(n))
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 16 * time.Second, 16 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
}

func TestContainerStateMapsDockerStates(t *testing.T) {
	for _, tt := range []struct {
		st   container.State
		want string
	}{
		{container.State{Status: container.StateRunning, Running: true, StartedAt: "2026-01-02T03:04:05.123Z"}, "running"},
		{container.State{Status: container.StateCreated}, "waiting " + reasonContainerCreating},
		{container.State{Status: container.StateExited, ExitCode: 143, FinishedAt: "2026-01-02T03:04:05Z"}, "terminated 143 Error"},
		{container.State{Status: container.StateExited, ExitCode: 137, OOMKilled: true}, "terminated 137 OOMKilled"},
		{container.State{Status: container.StateExited}, "terminated 0 Completed"},
	} {
		s := containerState("id", &tt.st)
		var got string
		switch {
		case s.Running != nil:
			got = "running"
			if s.Running.StartedAt.IsZero() || s.Running.StartedAt.Nanosecond() != 0 {
				t.Errorf("started at %v: want the Docker time at the second", s.Running.StartedAt)
			}
		case s.Waiting != nil:
			got = "waiting " + s.Waiting.Reason
		case s.Terminated != nil:
			got = "terminated " + strconv.Itoa(int(s.Terminated.ExitCode)) + " " + s.Terminated.Reason
		}
		if got != tt.want {
			t.Errorf("containerState(%+v) = %s, want %s", tt.st, got, tt.want)
		}
	}
}
