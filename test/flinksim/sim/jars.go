package sim

import (
	"archive/zip"
	"bufio"
	"bytes"
	"io"
	"strings"
)

// What the JobManager reads of an uploaded jar. Flink's JarListHandler lists a jar's entry
// classes from its manifest: the program-class attribute (PackagedProgram
// .MANIFEST_ATTRIBUTE_ASSEMBLER_CLASS), else Main-Class, split at ',' and trimmed; a file
// that is no jar, or has neither attribute, lists none. The stand-in runs no user code: the
// program a class stands for is known only for the examples of flink-examples-streaming
// (examplePrograms); any other jar runs as the stand-in's own pretend job.

// jarEntryClasses reads the entry classes of a jar's manifest (META-INF/MANIFEST.MF).
func jarEntryClasses(r io.ReaderAt, size int64) []string {
	z, err := zip.NewReader(r, size)
	if err != nil {
		return nil
	}
	for _, f := range z.File {
		if !strings.EqualFold(f.Name, "META-INF/MANIFEST.MF") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil
		}
		data, err := io.ReadAll(io.LimitReader(rc, 1<<20))
		_ = rc.Close()
		if err != nil {
			return nil
		}
		attrs := manifestMainAttributes(data)
		class := attrs["program-class"]
		if class == "" {
			class = attrs["main-class"]
		}
		if class == "" {
			return nil
		}
		var out []string
		for _, c := range strings.Split(class, ",") {
			out = append(out, strings.TrimSpace(c))
		}
		return out
	}
	return nil
}

// manifestMainAttributes parses the main section of a jar manifest (java.util.jar.Manifest:
// "Name: value" lines up to the first blank one, a line starting with a space continuing the
// one before), with lower-cased names (attribute names are case-insensitive).
func manifestMainAttributes(data []byte) map[string]string {
	attrs := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break
		}
		if strings.HasPrefix(line, " ") && last != "" {
			attrs[last] += line[1:]
			continue
		}
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		last = strings.ToLower(name)
		attrs[last] = value
	}
	return attrs
}

// exampleProgram is what a flink-examples-streaming program builds, as far as a client of
// the REST API sees it: the job's name (what the program passes to env.execute) and its
// job vertices in topological order (the chains of StreamingJobGraphGenerator, all in the
// default slot sharing group).
type exampleProgram struct {
	name     string
	vertices []exampleVertex
}

type exampleVertex struct {
	name        string
	parallelism int // 0: the job's parallelism
	inputs      []int
	ship        string // the ship strategy of the edges from the inputs
}

// exampleProgramOf is the example program of an entry class, when the stand-in knows it:
//   - WindowJoin (flink-examples-streaming org/apache/flink/streaming/examples/join/
//     WindowJoin.java with WindowJoinSampleData): two rate-limited generator sources of
//     parallelism 1, each chained with a map, joined by name in tumbling event-time windows
//     at the job's parallelism, printed by a sink of parallelism 1; executed as "Windowed
//     Join Example". So parallelism p is p+3 tasks in p slots. Seen on the 1.20.0 and
//     2.3.0 example jars (flink-real 1.20 and 2.2): the vertex names below, both sources
//     named after the grades generator.
func exampleProgramOf(class string) (exampleProgram, bool) {
	switch class {
	case "org.apache.flink.streaming.examples.join.WindowJoin":
		return exampleProgram{name: "Windowed Join Example", vertices: []exampleVertex{
			{name: "Source: Grades Data Generator -> Map", parallelism: 1},
			{name: "Source: Grades Data Generator -> Map", parallelism: 1},
			{name: "TumblingEventTimeWindows", inputs: []int{0, 1}, ship: "HASH"},
			{name: "Sink: Print to Std. Out", parallelism: 1, inputs: []int{2}, ship: "REBALANCE"},
		}}, true
	}
	return exampleProgram{}, false
}
