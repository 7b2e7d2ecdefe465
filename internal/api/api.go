// Package api holds the JSON wire types of flinkd's HTTP API on its unix socket, shared by the
// daemon and its clients (flinkctl). Field names are lowerCamel and stable: scripts read
// `flinkctl status -o json`. Phases are spec.Phase, the one typed phase of daemon, database and
// clients alike (spec is pure: it does no I/O).
package api

import (
	"time"

	"github.com/flinkd/flinkd/internal/spec"
)

// Paths of the API (version 1). NS and NAME are path segments.
const (
	PathClusters = "/v1/clusters"                    // GET: []ClusterStatus; ?watch=VERSION long-polls for a change
	PathCluster  = "/v1/clusters/{ns}/{name}"        // GET: ClusterStatus
	PathEvents   = "/v1/clusters/{ns}/{name}/events" // GET: []Event; ?limit=N
	PathStop     = "/v1/clusters/{ns}/{name}/stop"   // POST StopRequest: StateChange | 409 Error with Jobs
	PathStart    = "/v1/clusters/{ns}/{name}/start"  // POST: StateChange
	PathLogs     = "/v1/clusters/{ns}/{name}/logs"   // GET ?instance=jobmanager|taskmanager-N&follow=1&tail=N: text stream
	PathCerts    = "/v1/clusters/{ns}/{name}/certs"  // GET: Certs of a secure cluster
	PathTargets  = "/v1/targets"                     // GET: []Target
	PathVersion  = "/v1/version"                     // GET: Version
	PathOthers   = "/v1/others"                      // GET: Others

	// HeaderVersion carries the state version of a /v1/clusters answer; pass it back as
	// ?watch=VERSION to wait for the next change.
	HeaderVersion = "Flinkd-State-Version"
)

// ClusterStatus is one row of `flinkctl status`: a SessionCluster, or a spec file that
// declares none (Name empty, or Refused as a duplicate).
type ClusterStatus struct {
	Name             string       `json:"name"`
	Namespace        string       `json:"namespace"`
	DeploymentTarget string       `json:"deploymentTarget"`
	DesiredState     string       `json:"desiredState"`
	Phase            spec.Phase   `json:"phase"`
	TaskManagers     TaskManagers `json:"taskManagers"`
	RESTURL          string       `json:"restURL"`
	Message          string       `json:"message"`
	File             string       `json:"file"`
	Image            string       `json:"image,omitempty"`
	// FileErrors are the errors of the cluster's file as it is now (the cluster keeps running
	// its last good spec), or of a file that declares no cluster.
	FileErrors []string `json:"fileErrors,omitempty"`
	// Refused says which changes of the file were not applied, and why.
	Refused  string   `json:"refused,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	// Deleted is true while a cluster whose file was removed is torn down.
	Deleted    bool      `json:"deleted,omitempty"`
	CreatedAt  time.Time `json:"createdAt,omitzero"`
	PhaseSince time.Time `json:"phaseSince,omitzero"`
}

// TaskManagers counts TaskManagers.
type TaskManagers struct {
	Desired int `json:"desired"`
	Ready   int `json:"ready"`
	// Autoscale is set while the cluster is autoscaled (annotation
	// flinkd.io/autoscale-max-taskmanagers): Desired then moves between its Min and Max.
	Autoscale *Autoscale `json:"autoscale,omitempty"`
}

// Autoscale is a cluster's autoscaling: its bounds and what holds it back.
type Autoscale struct {
	// Min is spec.numberOfTaskManagers, the floor; Max the annotation's maximum.
	Min int `json:"min"`
	Max int `json:"max"`
	// IdleTimeout is how long a TaskManager with no slot in use stays (a Go duration).
	IdleTimeout string `json:"idleTimeout"`
	// Limited says which demand the maximum holds back ("" when none).
	Limited string `json:"limited,omitempty"`
}

// Event is one entry of a cluster's event log.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"` // Normal | Warning
	Reason  string    `json:"reason"`
	Message string    `json:"message"`
}

// StopRequest asks to set spec.state: STOPPED in the cluster's file.
type StopRequest struct {
	// Force cancels the cluster's running jobs first (a stop is otherwise refused while jobs run).
	Force bool `json:"force"`
}

// StateChange is the answer to start and stop.
type StateChange struct {
	File         string `json:"file"`
	DesiredState string `json:"desiredState"`
	// Changed is false when the file already said so.
	Changed bool `json:"changed"`
	// Cancelled lists the jobs cancelled by a forced stop.
	Cancelled []Job `json:"cancelled,omitempty"`
	// Orphan is true when the stop removed an orphan: resources flinkd's labels give to a
	// cluster that no spec file declares (File is then empty).
	Orphan bool `json:"orphan,omitempty"`
	// Message says what the daemon found, when there is more to say (a stop forced past a
	// JobManager that could not say whether jobs run).
	Message string `json:"message,omitempty"`
}

// Job is a Flink job on a cluster.
type Job struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	State string `json:"state"`
}

// Target is a deployment target of the daemon's config.
type Target struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // docker | kubernetes
	Detail string `json:"detail"`
	OK     bool   `json:"ok"`
	Error  string `json:"error,omitempty"`
}

// Version describes the daemon.
type Version struct {
	Version string `json:"version"`
	// Owner is this flinkd's identity: the value of the flinkd.io/owner label on everything it creates.
	Owner string `json:"owner"`
	// FormerOwners are identities whose clusters this flinkd adopted (flinkd --adopt, the
	// identity an older flinkd kept in the database).
	FormerOwners []string `json:"formerOwners,omitempty"`
	Specs        string   `json:"specs"`
	Data         string   `json:"data"`
}

// Others lists the flinkd-labelled clusters on the daemon's targets that it does not own
// (`flinkctl status --all-owners`): other daemons' clusters, and leaks.
type Others struct {
	Clusters []OtherCluster `json:"clusters"`
	// Errors say which targets could not be listed.
	Errors []string `json:"errors,omitempty"`
}

// OtherCluster is a cluster another flinkd identity owns. flinkd never touches it.
type OtherCluster struct {
	Target    string `json:"target"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Owner is the value of its flinkd.io/owner label.
	Owner string `json:"owner"`
	// Specs is the specs folder of the flinkd that made it, when it recorded one.
	Specs string `json:"specs,omitempty"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	// Jobs are the running jobs that made a stop be refused (409).
	Jobs []Job `json:"jobs,omitempty"`
}

// Certs is what a user needs to reach a secure cluster's REST API (flinkctl certs): the
// authority that verifies its server certificate and the client certificate it requires.
type Certs struct {
	CACert     string `json:"caCert"`     // PEM
	ClientCert string `json:"clientCert"` // PEM
	ClientKey  string `json:"clientKey"`  // PEM, PKCS #8
	// ClientP12 holds the client key and certificate for a browser, under ClientP12Password.
	ClientP12         []byte    `json:"clientP12"`
	ClientP12Password string    `json:"clientP12Password"`
	RESTURL           string    `json:"restURL"`
	NotAfter          time.Time `json:"notAfter"`
}
