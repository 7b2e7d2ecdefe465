package sim

import (
	"maps"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testConf is a cluster configuration with fast heartbeats and retries.
func testConf(extra map[string]string) map[string]string {
	c := map[string]string{
		"jobmanager.rpc.address":             "jm.test",
		"jobmanager.memory.process.size":     "1600m",
		"taskmanager.memory.process.size":    "1728m",
		"heartbeat.interval":                 "50",
		"heartbeat.timeout":                  "5 s",
		"cluster.registration.error-delay":   "50 ms",
		"restart-strategy.type":              "fixed-delay",
		"restart-strategy.fixed-delay.delay": "50 ms",
	}
	maps.Copy(c, extra)
	return c
}

type testCluster struct {
	jm   *JobManager
	log  *syncBuffer
	conf map[string]string
	rest string
}

func startJobManager(t *testing.T, conf map[string]string) *testCluster {
	t.Helper()
	return startJobManagerAt(t, conf, "127.0.0.1:0")
}

func startJobManagerAt(t *testing.T, conf map[string]string, rpcAddr string) *testCluster {
	t.Helper()
	log := &syncBuffer{}
	jm, err := StartJobManager(t.Context(), JobManagerConfig{
		Config: conf, RPCAddr: rpcAddr, RESTAddr: "127.0.0.1:0", Log: log, Levels: &Levels{Root: LevelDebug},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jm.Close() })
	return &testCluster{jm: jm, log: log, conf: conf, rest: jm.RESTURL()}
}

func (c *testCluster) addTaskManager(t *testing.T, id string, slots int, extra map[string]string) (*TaskManager, *syncBuffer) {
	t.Helper()
	return startTaskManager(t, c.jm.RPCAddr(), id, slots, testConf(mergeConf(c.conf, extra)))
}

func mergeConf(a, b map[string]string) map[string]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

func startTaskManager(t *testing.T, dial, id string, slots int, conf map[string]string) (*TaskManager, *syncBuffer) {
	t.Helper()
	log := &syncBuffer{}
	tm, err := StartTaskManager(t.Context(), TaskManagerConfig{
		JobManagerRPC: dial, ResourceID: id, Slots: slots, Config: conf, Log: log, Levels: &Levels{Root: LevelDebug},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tm.Kill)
	return tm, log
}

func (c *testCluster) overview(t *testing.T) map[string]any {
	t.Helper()
	return obj(t, getJSON(t, c.rest+"/overview", 200))
}

// waitTaskManagers waits until n TaskManagers are registered and each has reported its
// slots (they follow the registration in a second RPC, as on Flink).
func (c *testCluster) waitTaskManagers(t *testing.T, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, strconv.Itoa(n)+" registered TaskManagers with their slots", func() bool {
		if c.overview(t)["taskmanagers"] != float64(n) {
			return false
		}
		tms := arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers", 200))["taskmanagers"])
		for _, tm := range tms {
			if obj(t, tm)["slotsNumber"] == float64(0) {
				return false
			}
		}
		return len(tms) == n
	})
}

// A TaskManager is counted once it registers, with no slot until its slot report comes
// in (TaskExecutor.establishResourceManagerConnection sends it after the registration);
// a report under a registration the JobManager does not know is refused.
func TestARegisteredTaskManagerHasNoSlotsUntilItsSlotReport(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	rpc := "http://" + c.jm.RPCAddr()
	client := &http.Client{}
	target := rpcAddress(Version{1, 20}, "jm.test", 6123, "resourcemanager_*") // the JobManager's jobmanager.rpc.address
	var reg registerResponse
	if err := postJSON(t.Context(), client, rpc+rpcRegister, registerRequest{ResourceID: "tm-x", Target: target, Address: "pekko.tcp://flink@127.0.0.1:1/user/rpc/taskmanager_0", Host: "127.0.0.1"}, &reg); err != nil {
		t.Fatalf("register: %v", err)
	}
	o := c.overview(t)
	if o["taskmanagers"] != float64(1) || o["slots-total"] != float64(0) || o["slots-available"] != float64(0) {
		t.Errorf("overview after the registration alone = %v, want 1 TaskManager with no slots", o)
	}
	tms := arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers", 200))["taskmanagers"])
	if len(tms) != 1 || obj(t, tms[0])["slotsNumber"] != float64(0) || obj(t, tms[0])["freeSlots"] != float64(0) {
		t.Errorf("/taskmanagers after the registration alone = %v, want tm-x with 0 slots", tms)
	}
	if err := postJSON(t.Context(), client, rpc+rpcSlotReport, slotReportRequest{ResourceID: "tm-x", RegistrationID: "stale", Slots: 4}, nil); err == nil {
		t.Error("a slot report under an unknown registration id was taken")
	}
	if err := postJSON(t.Context(), client, rpc+rpcSlotReport, slotReportRequest{ResourceID: "tm-x", RegistrationID: reg.RegistrationID, Slots: 4}, nil); err != nil {
		t.Fatalf("slot report: %v", err)
	}
	if o := c.overview(t); o["slots-total"] != float64(4) || o["slots-available"] != float64(4) {
		t.Errorf("overview after the slot report = %v, want 4 slots, 4 free", o)
	}
}

func TestTaskManagersRegisterAndOfferTheirSlots(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	c.addTaskManager(t, "tm-a", 2, nil)
	tmB, logB := c.addTaskManager(t, "", 0, map[string]string{"taskmanager.numberOfTaskSlots": "3"})
	c.waitTaskManagers(t, 2)
	o := c.overview(t)
	if o["slots-total"] != float64(5) || o["slots-available"] != float64(5) {
		t.Errorf("overview = %v, want 5 slots total and available", o)
	}
	if !regexpMatch(`^127\.0\.0\.1:\d+-[0-9a-f]{6}$`, tmB.ResourceID()) {
		t.Errorf("default resource id %q is not <host>:<port>-<6 hex>", tmB.ResourceID())
	}
	waitFor(t, 10*time.Second, "Registered() of a registered TaskManager", tmB.Registered)
	waitForLog(t, logB, "Successful registration at resource manager pekko.tcp://flink@jm.test:")
	waitForLog(t, c.log, "Registering TaskManager with ResourceID tm-a (pekko.tcp://flink@127.0.0.1:")
	// Heartbeats are logged at DEBUG by the runtime loggers.
	waitForLog(t, c.log, "DEBUG org.apache.flink.runtime.resourcemanager.StandaloneResourceManager [] - Received heartbeat from tm-a.")
}

func TestKilledTaskManagerIsDroppedAfterHeartbeatTimeout(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"heartbeat.timeout": "1500 ms"}))
	tm, _ := c.addTaskManager(t, "tm-a", 1, nil)
	c.addTaskManager(t, "tm-b", 1, nil)
	c.waitTaskManagers(t, 2)
	// The JobManager's clock for tm-a runs from its last heartbeat; kill it just after one.
	const beat = "Received heartbeat from tm-a."
	seen := strings.Count(c.log.String(), beat)
	waitFor(t, 10*time.Second, "a heartbeat of tm-a", func() bool { return strings.Count(c.log.String(), beat) > seen })
	killed := time.Now()
	tm.Kill()
	if n := c.overview(t)["taskmanagers"]; n != float64(2) && time.Since(killed) < 1500*time.Millisecond {
		t.Errorf("a killed TaskManager vanished before the heartbeat timeout (taskmanagers = %v)", n)
	}
	c.waitTaskManagers(t, 1)
	if since := time.Since(killed); since < 1400*time.Millisecond {
		t.Errorf("dropped after %s, before the 1500 ms heartbeat timeout", since)
	}
	waitForLog(t, c.log, "The heartbeat of TaskManager with id tm-a timed out.")
	tms := arr(t, obj(t, getJSON(t, c.rest+"/taskmanagers", 200))["taskmanagers"])
	if len(tms) != 1 || obj(t, tms[0])["id"] != "tm-b" {
		t.Errorf("/taskmanagers = %v, want only tm-b", tms)
	}
}

func TestClosedTaskManagerDeregistersAtOnce(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"heartbeat.timeout": "1 h"}))
	tm, _ := c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	if err := tm.Close(); err != nil {
		t.Fatal(err)
	}
	if n := c.overview(t)["taskmanagers"]; n != float64(0) {
		t.Errorf("taskmanagers right after Close = %v, want 0", n)
	}
	waitForLog(t, c.log, "Closing TaskExecutor connection tm-a because: The TaskExecutor is shutting down.")
}

func TestTaskManagerNamingTheJobManagerDifferentlyIsDropped(t *testing.T) {
	// Pekko delivers only to the exact host name the JobManager calls itself, even when
	// another name reaches the same socket.
	c := startJobManager(t, testConf(nil))
	_, tmLog := c.addTaskManager(t, "tm-a", 1, map[string]string{"jobmanager.rpc.address": "jm-alias.test"})
	waitForLog(t, tmLog, "Could not resolve ResourceManager address pekko.tcp://flink@jm-alias.test:")
	waitForLog(t, tmLog, "retrying in 50 ms")
	waitForLog(t, c.log, "dropping message [class org.apache.pekko.actor.ActorSelectionMessage] for non-local recipient [Actor[pekko.tcp://flink@jm-alias.test:")
	if n := c.overview(t)["taskmanagers"]; n != float64(0) {
		t.Errorf("taskmanagers = %v, want 0", n)
	}
}

func TestJobManagerNameWithUnderscoreIsUnreachable(t *testing.T) {
	c := startJobManager(t, testConf(map[string]string{"jobmanager.rpc.address": "flinkd_default_demo_jobmanager"}))
	_, tmLog := c.addTaskManager(t, "tm-a", 1, nil)
	waitForLog(t, tmLog, "java.net.MalformedURLException")
	if n := c.overview(t)["taskmanagers"]; n != float64(0) {
		t.Errorf("taskmanagers = %v, want 0", n)
	}
}

func TestTaskManagerRegistersOnceTheJobManagerComesUp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tm, tmLog := startTaskManager(t, addr, "tm-a", 1, testConf(nil))
	waitForLog(t, tmLog, "Could not resolve ResourceManager address pekko.tcp://flink@jm.test:")
	c := startJobManagerAt(t, testConf(nil), addr)
	c.waitTaskManagers(t, 1)
	waitFor(t, 10*time.Second, "the TaskManager to see its registration", tm.Registered)
}

func TestTaskManagerReregistersWithARestartedJobManager(t *testing.T) {
	c := startJobManager(t, testConf(nil))
	addr := c.jm.RPCAddr()
	_, tmLog := c.addTaskManager(t, "tm-a", 1, nil)
	c.waitTaskManagers(t, 1)
	if err := c.jm.Close(); err != nil {
		t.Fatal(err)
	}
	c2 := startJobManagerAt(t, testConf(nil), addr)
	c2.waitTaskManagers(t, 1)
	waitFor(t, 10*time.Second, "a second registration in the TaskManager log", func() bool {
		return strings.Count(tmLog.String(), "Successful registration") >= 2
	})
}

func TestTaskManagerGivesUpAfterRegistrationTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	tm, tmLog := startTaskManager(t, addr, "tm-a", 1, testConf(map[string]string{"taskmanager.registration.timeout": "300 ms"}))
	select {
	case <-tm.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("TaskManager did not give up")
	}
	if err := tm.Err(); err == nil || !strings.Contains(err.Error(), "Could not register at the ResourceManager within the specified maximum registration duration 300 ms") {
		t.Errorf("Err() = %v", err)
	}
	waitForLog(t, tmLog, "RegistrationTimeoutException")
}

func TestStartTaskManagerFailsOnAConfigurationFlinkRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		slots int
		conf  map[string]string
		want  string
	}{
		"no memory size":    {1, map[string]string{"jobmanager.rpc.address": "jm"}, "need to be configured explicitly"},
		"negative slots":    {-1, testConf(nil), "numberOfTaskSlots must be at least one"},
		"no jobmanager set": {1, map[string]string{"taskmanager.memory.process.size": "1728m"}, "jobmanager.rpc.address"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := StartTaskManager(t.Context(), TaskManagerConfig{Slots: tc.slots, Config: tc.conf})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
