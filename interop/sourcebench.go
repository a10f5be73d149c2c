package main

// Benchmark scenario `baton bench grpc-source`: sdk-go's source client, as Maestro's grpcsource
// builds it (generic CloudEventSourceClient, grpc options, manifestbundles codec), publishes N
// create_request events spread over the given clusters to baton's gRPC source API, from 16
// goroutines, with its publish limiter at the given QPS and burst (0 = sdk-go's default, 50/s
// burst 100); baton's agents apply them. Prints one JSON line {"kind":"sourcebench", seconds to
// publish, seconds until every work is reported Applied, works/s}.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	kubetypes "k8s.io/apimachinery/pkg/types"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	workv1 "open-cluster-management.io/api/work/v1"

	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/statushash"
	clientutils "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/utils"
	sourcecodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/source/codec"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/clients"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/types"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/utils"
)

const sourceBenchPublishers = 16

func runSourceBench(configPath, sourceID, clusterList string, n int, qps float32, burst int, timeout time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, config, err := builder.NewConfigLoader("grpc", configPath).LoadConfig()
	if err != nil {
		fail("load grpc config: %v", err)
	}
	codec := sourcecodec.NewManifestBundleCodec()
	sopts, err := builder.BuildCloudEventsSourceOptions(config, sourceID+"-bench-source", sourceID, codec.EventDataType())
	if err != nil {
		fail("source options: %v", err)
	}
	sopts.EventRateLimit = utils.EventRateLimit{QPS: qps, Burst: burst}
	limiter := map[string]any{"qps": qps, "burst": burst}
	if qps <= 0 {
		limiter = map[string]any{"qps": utils.DefaultQPS, "burst": utils.DefaultBurst}
	}
	store := &workList{works: map[string]*workv1.ManifestWork{}}
	source, err := clients.NewCloudEventSourceClient(ctx, sopts, store, statushash.StatusHash, codec)
	if err != nil {
		fail("start source client: %v", err)
	}
	prog := &progress{applied: map[string]int64{}, deleted: map[string]bool{}}
	prog.changed = sync.NewCond(&prog.mu)
	source.Subscribe(ctx, func(_ context.Context, w *workv1.ManifestWork) error {
		prog.record(w)
		return nil
	})
	select {
	case <-source.SubscribedChan():
	case <-time.After(timeout):
		fail("not subscribed within %v", timeout)
	}

	clusters := strings.Split(clusterList, ",")
	works := make([]*workv1.ManifestWork, n)
	uids := make([]string, n)
	for i := range works {
		cluster := clusters[i%len(clusters)]
		name := fmt.Sprintf("%s-%d", sourceID, i) // names are unique per consumer across sources
		cm := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d","namespace":"default"},"data":{"i":"%d"}}`, i, i)
		uids[i] = clientutils.UID(sourceID, "manifestworks.work.open-cluster-management.io", cluster, name)
		works[i] = &workv1.ManifestWork{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster, UID: kubetypes.UID(uids[i])},
			Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{
				Manifests: []workv1.Manifest{{RawExtension: runtime.RawExtension{Raw: []byte(cm)}}}}},
		}
		store.put(works[i])
	}
	create := types.CloudEventsType{CloudEventsDataType: codec.EventDataType(),
		SubResource: types.SubResourceSpec, Action: types.CreateRequestAction}
	started := time.Now()
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range sourceBenchPublishers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := source.Publish(ctx, create, works[i]); err != nil {
					failed.Store(fmt.Sprintf("publish %s: %v", works[i].Name, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if msg := failed.Load(); msg != nil {
		fail("%s", msg)
	}
	published := time.Since(started)
	err = prog.wait(uids, func(uid string) bool { return prog.applied[uid] >= 1 }, started.Add(timeout))
	if err != nil {
		fail("applied: %v", err)
	}
	applied := time.Since(started)
	emit(map[string]any{"kind": "sourcebench", "works": n, "clusters": len(clusters),
		"publish_s": published.Seconds(), "applied_s": applied.Seconds(),
		"works_per_s": float64(n) / applied.Seconds(), "limiter": limiter})
}
