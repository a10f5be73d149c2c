// Command baton-interop drives OCM's sdk-go against baton. Every mode prints one JSON object per
// line on stdout (machine-readable results for baton's Rust test harness, tests/it/interop/) and
// reads JSON commands on stdin. Modes:
//
//	codec                       hashes and codec/protobuf round trips, no network (scenario 3)
//	agent  TYPE CONFIG CLUSTER [STATE]  sdk-go ManifestWork agent client holder (scenario 1)
//	source TYPE CONFIG SOURCE           sdk-go generic source client, manifestbundles (scenario 2)
//	lifecycle TYPE CONFIG SOURCE CLUSTER WORKS [TIMEOUT]  sdk-go's source and agent pair through
//	                                    the work lifecycle (`baton bench sdk`, lifecycle.go)
//	worksource CONFIG SOURCE [STATE]    sdk-go ManifestWork source client over gRPC against
//	                                    baton's gRPC source API (scenario 4, worksource.go)
//	sourcebench CONFIG SOURCE CLUSTERS WORKS QPS BURST TIMEOUT  creates through the gRPC source
//	                                    API until applied (`baton bench grpc-source`, sourcebench.go)
//
// TYPE is "grpc" or "mqtt"; CONFIG is an sdk-go client configuration file.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

var outMu sync.Mutex

// emit writes one JSON line on stdout.
func emit(v any) {
	line, err := json.Marshal(v)
	if err != nil {
		line, _ = json.Marshal(map[string]string{"kind": "error", "error": err.Error()})
	}
	outMu.Lock()
	defer outMu.Unlock()
	os.Stdout.Write(append(line, '\n'))
}

// fail reports a fatal error as a JSON line and exits non-zero.
func fail(format string, args ...any) {
	emit(map[string]string{"kind": "fatal", "error": fmt.Sprintf(format, args...)})
	os.Exit(1)
}

// commands yields each stdin line decoded as a JSON object; bad lines are reported.
func commands(handle func(raw json.RawMessage)) {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 1<<20), 16<<20)
	for scanner.Scan() {
		line := scanner.Bytes()
		if len(line) == 0 {
			continue
		}
		handle(json.RawMessage(append([]byte(nil), line...)))
	}
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: baton-interop codec | agent TYPE CONFIG CLUSTER [STATE] | source TYPE CONFIG SOURCE | lifecycle TYPE CONFIG SOURCE CLUSTER WORKS [TIMEOUT] | worksource CONFIG SOURCE [STATE]")
	}
	switch os.Args[1] {
	case "codec":
		runCodec()
	case "agent":
		if len(os.Args) < 5 {
			fail("usage: agent TYPE CONFIG CLUSTER [STATE]")
		}
		state := ""
		if len(os.Args) > 5 {
			state = os.Args[5]
		}
		runAgent(os.Args[2], os.Args[3], os.Args[4], state)
	case "source":
		if len(os.Args) < 5 {
			fail("usage: source TYPE CONFIG SOURCE")
		}
		runSource(os.Args[2], os.Args[3], os.Args[4])
	case "worksource":
		if len(os.Args) < 4 {
			fail("usage: worksource CONFIG SOURCE [STATE]")
		}
		state := ""
		if len(os.Args) > 4 {
			state = os.Args[4]
		}
		runWorkSource(os.Args[2], os.Args[3], state)
	case "sourcebench":
		if len(os.Args) < 9 {
			fail("usage: sourcebench CONFIG SOURCE CLUSTERS WORKS QPS BURST TIMEOUT")
		}
		n, err := strconv.Atoi(os.Args[5])
		if err != nil || n <= 0 {
			fail("WORKS must be a positive integer, got %q", os.Args[5])
		}
		qps, err := strconv.ParseFloat(os.Args[6], 32)
		if err != nil {
			fail("QPS: %v", err)
		}
		burst, err := strconv.Atoi(os.Args[7])
		if err != nil {
			fail("BURST: %v", err)
		}
		timeout, err := time.ParseDuration(os.Args[8])
		if err != nil {
			fail("TIMEOUT: %v", err)
		}
		runSourceBench(os.Args[2], os.Args[3], os.Args[4], n, float32(qps), burst, timeout)
	case "lifecycle":
		if len(os.Args) < 7 {
			fail("usage: lifecycle TYPE CONFIG SOURCE CLUSTER WORKS [TIMEOUT]")
		}
		n, err := strconv.Atoi(os.Args[6])
		if err != nil || n <= 0 {
			fail("WORKS must be a positive integer, got %q", os.Args[6])
		}
		timeout := 120 * time.Second
		if len(os.Args) > 7 {
			if timeout, err = time.ParseDuration(os.Args[7]); err != nil {
				fail("TIMEOUT: %v", err)
			}
		}
		runLifecycle(os.Args[2], os.Args[3], os.Args[4], os.Args[5], n, timeout)
	default:
		fail("unknown mode %q", os.Args[1])
	}
}
