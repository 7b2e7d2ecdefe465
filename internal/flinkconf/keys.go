package flinkconf

import (
	"slices"
	"strconv"
)

// Keys a runtime or the image's entrypoint sets on every instance.
const (
	KeyJobManagerRPCAddress = "jobmanager.rpc.address"
	KeyJobManagerRPCPort    = "jobmanager.rpc.port"
	KeyJobManagerBindHost   = "jobmanager.bind-host"
	KeyRESTAddress          = "rest.address"
	KeyRESTBindAddress      = "rest.bind-address"
	KeyRESTPort             = "rest.port"
	KeyBlobServerPort       = "blob.server.port"
	KeyQueryServerPort      = "query.server.port"
	KeyTaskManagerBindHost  = "taskmanager.bind-host"
	KeyTaskManagerHost      = "taskmanager.host"
	KeyTaskManagerRPCPort   = "taskmanager.rpc.port"
	KeyTaskManagerResource  = "taskmanager.resource-id"
)

// The process sizes flinkd derives from spec.resources (the container limits, to the byte)
// unless a spec sets them; package flinkmem has the other memory options.
const (
	KeyJobManagerProcessSize  = "jobmanager.memory.process.size"
	KeyTaskManagerProcessSize = "taskmanager.memory.process.size"
)

// An OwnedKey is a Flink option whose value a runtime or the image's entrypoint decides for
// every instance. A spec may not set one: its value would be overwritten (silently, were it
// allowed), or the runtime's Services, probes and peers would stop matching Flink.
type OwnedKey struct {
	Key string
	// By says who sets it and why, for the error a spec that sets it gets.
	By string
}

// OwnedKeys is the one list of the keys the runtimes own. RuntimeOptions writes only these,
// the Kubernetes runtime passes only these as dynamic properties, and spec validation
// refuses them.
func OwnedKeys() []OwnedKey {
	addr := "flinkd sets it to the runtime's address of the JobManager"
	bind := "flinkd binds every process to 0.0.0.0 inside its container"
	return []OwnedKey{
		{KeyBlobServerPort, "flinkd and the image's entrypoint set it to 6124, the port the JobManager's Service and peers use"},
		{KeyJobManagerBindHost, bind},
		{KeyJobManagerRPCAddress, addr},
		{KeyJobManagerRPCPort, "flinkd sets it to 6123, the port the JobManager's Service and probe use"},
		{KeyQueryServerPort, "the image's entrypoint sets it to 6125 at every start"},
		{KeyRESTAddress, addr},
		{KeyRESTBindAddress, bind},
		{KeyRESTPort, "flinkd sets it to 8081, the port it reaches the REST API on"},
		{KeyTaskManagerBindHost, bind},
		{KeyTaskManagerHost, "flinkd sets it to each TaskManager's own address"},
		{KeyTaskManagerResource, "flinkd sets it to each TaskManager's instance ID, which its status and logs use"},
		{KeyTaskManagerRPCPort, "flinkd sets it to 6122 on Kubernetes, where the TaskManager's liveness probe connects to it"},
	}
}

// Owned returns who owns key, if a runtime or the entrypoint does.
func Owned(key string) (by string, ok bool) {
	i := slices.IndexFunc(OwnedKeys(), func(o OwnedKey) bool { return o.Key == key })
	if i < 0 {
		return "", false
	}
	return OwnedKeys()[i].By, true
}

// Instance is what a runtime knows about one instance's place in its cluster.
type Instance struct {
	// JobManagerHost is the name TaskManagers and clients reach the JobManager by.
	JobManagerHost string
	// TaskManagerHost and ResourceID are a TaskManager's own address and ID; empty for the
	// JobManager, or when the runtime passes them as dynamic properties at start (the pod
	// IP is not known before the pod runs).
	TaskManagerHost string
	ResourceID      string
	// PinTaskManagerRPCPort fixes taskmanager.rpc.port to DefaultTMRPCPort (Flink picks a
	// free port otherwise), for a runtime that probes it.
	PinTaskManagerRPCPort bool
}

// RuntimeOptions returns the options a runtime writes for one instance. They win over the
// cluster's configuration and the image's. Every key is one of OwnedKeys.
func RuntimeOptions(in Instance) map[string]string {
	opts := map[string]string{
		KeyJobManagerRPCAddress: in.JobManagerHost,
		KeyJobManagerRPCPort:    strconv.Itoa(DefaultRPCPort),
		KeyJobManagerBindHost:   "0.0.0.0",
		KeyRESTAddress:          in.JobManagerHost,
		KeyRESTBindAddress:      "0.0.0.0",
		KeyRESTPort:             strconv.Itoa(DefaultRESTPort),
		KeyTaskManagerBindHost:  "0.0.0.0",
		KeyBlobServerPort:       strconv.Itoa(DefaultBlobPort),
	}
	if in.TaskManagerHost != "" {
		opts[KeyTaskManagerHost] = in.TaskManagerHost
	}
	if in.ResourceID != "" {
		opts[KeyTaskManagerResource] = in.ResourceID
	}
	if in.PinTaskManagerRPCPort {
		opts[KeyTaskManagerRPCPort] = strconv.Itoa(DefaultTMRPCPort)
	}
	return opts
}

// EntrypointKeys returns the keys the image's docker-entrypoint.sh writes into the
// configuration file at every start (prepare_configuration): jobmanager.rpc.address from
// JOB_MANAGER_RPC_ADDRESS, blob.server.port 6124, query.server.port 6125, and
// taskmanager.numberOfTaskSlots when TASK_MANAGER_NUMBER_OF_TASK_SLOTS is set. From 1.19 on
// they take part in the nested rewrite, so they count for prefix pairs too.
func EntrypointKeys() []string {
	return []string{KeyJobManagerRPCAddress, KeyBlobServerPort, KeyQueryServerPort, "taskmanager.numberOfTaskSlots"}
}

// DynamicProperty renders key and value as the "-Dkey=value" argument the entrypoint passes
// through to bin/jobmanager.sh and bin/taskmanager.sh, which Flink applies over the file.
func DynamicProperty(key, value string) string { return "-D" + key + "=" + value }
