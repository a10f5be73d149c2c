package main

// Benchmark scenario 7 (`baton bench sdk`): sdk-go's own source and ManifestWork agent, in one
// process, on one MQTT config, take N works through create → applied → update → applied →
// delete → confirmed, phase by phase. Both clients keep sdk-go's default options, so its
// default publish limiter (a token bucket of 50 events/s, burst 100, per client) is in force.
// Prints one JSON line: {"kind":"lifecycle", per-phase and total seconds}.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubetypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	workv1client "open-cluster-management.io/api/client/work/clientset/versioned/typed/work/v1"
	workinformers "open-cluster-management.io/api/client/work/informers/externalversions"
	workv1 "open-cluster-management.io/api/work/v1"

	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/options"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/statushash"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work"
	agentcodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/agent/codec"
	sourcecodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/source/codec"
	workstore "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/store"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/clients"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/types"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/utils"
)

// progress is the source's view: the generation each work was last reported Applied at, and
// which works were confirmed deleted. Waiters are woken on every change.
type progress struct {
	mu      sync.Mutex
	changed *sync.Cond
	applied map[string]int64
	deleted map[string]bool
}

func (p *progress) record(w *workv1.ManifestWork) {
	p.mu.Lock()
	defer p.mu.Unlock()
	uid := string(w.UID)
	if meta.IsStatusConditionTrue(w.Status.Conditions, "Deleted") {
		p.deleted[uid] = true
	} else if c := meta.FindStatusCondition(w.Status.Conditions, "Applied"); c != nil && c.Status == metav1.ConditionTrue {
		p.applied[uid] = c.ObservedGeneration
	}
	p.changed.Broadcast()
}

// wait blocks until done() holds for every uid, or the deadline passes.
func (p *progress) wait(uids []string, done func(uid string) bool, deadline time.Time) error {
	timer := time.AfterFunc(time.Until(deadline), func() {
		p.mu.Lock()
		p.changed.Broadcast()
		p.mu.Unlock()
	})
	defer timer.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		left := 0
		for _, uid := range uids {
			if !done(uid) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d works not there in time", left, len(uids))
		}
		p.changed.Wait()
	}
}

func runLifecycle(configType, configPath, sourceID, cluster string, n int, timeout time.Duration) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // see agent.go
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	_, config, err := builder.NewConfigLoader(configType, configPath).LoadConfig()
	if err != nil {
		fail("load %s config: %v", configType, err)
	}

	// The source: generic client, manifestbundles codec, default options (default limiter).
	codec := sourcecodec.NewManifestBundleCodec()
	sopts, err := builder.BuildCloudEventsSourceOptions(config, sourceID+"-lifecycle-source", sourceID, codec.EventDataType())
	if err != nil {
		fail("source options: %v", err)
	}
	store := &workList{works: map[string]*workv1.ManifestWork{}}
	source, err := clients.NewCloudEventSourceClient(ctx, sopts, store, statushash.StatusHash, codec)
	if err != nil {
		fail("start source client: %v", err)
	}
	prog := &progress{applied: map[string]int64{}, deleted: map[string]bool{}}
	prog.changed = sync.NewCond(&prog.mu)
	source.Subscribe(ctx, func(_ context.Context, w *workv1.ManifestWork) error {
		store.setStatus(w)
		prog.record(w)
		return nil
	})

	startAgent(ctx, config, cluster)
	// MQTT drops what no one subscribed to: let both subscriptions settle, as baton's side does.
	time.Sleep(500 * time.Millisecond)

	uids := make([]string, n)
	for i := range uids {
		uids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	publish := func(action types.EventAction, generation int64, deleting bool) error {
		ty := types.CloudEventsType{CloudEventsDataType: codec.EventDataType(),
			SubResource: types.SubResourceSpec, Action: action}
		for i, uid := range uids {
			w := lifecycleWork(cluster, uid, i, generation)
			if deleting {
				now := metav1.Now()
				w.DeletionTimestamp = &now
			}
			store.put(w)
			if err := source.Publish(ctx, ty, w); err != nil {
				return fmt.Errorf("publish %s %s: %w", action, uid, err)
			}
		}
		return nil
	}
	appliedAt := func(generation int64) func(string) bool {
		return func(uid string) bool { return prog.applied[uid] == generation }
	}
	started := time.Now()
	result := map[string]any{"kind": "lifecycle", "works": n,
		"limiter": map[string]any{"qps": utils.DefaultQPS, "burst": utils.DefaultBurst}}
	phases := []struct {
		name       string
		action     types.EventAction
		generation int64
		deleting   bool
		done       func(string) bool
	}{
		{"create", types.CreateRequestAction, 1, false, appliedAt(1)},
		{"update", types.UpdateRequestAction, 2, false, appliedAt(2)},
		{"delete", types.DeleteRequestAction, 2, true, func(uid string) bool { return prog.deleted[uid] }},
	}
	for _, ph := range phases {
		begin := time.Now()
		if err := publish(ph.action, ph.generation, ph.deleting); err != nil {
			fail("%s: %v", ph.name, err)
		}
		if err := prog.wait(uids, ph.done, begin.Add(timeout)); err != nil {
			fail("phase %s: %v", ph.name, err)
		}
		result[ph.name+"_s"] = time.Since(begin).Seconds()
	}
	total := time.Since(started).Seconds()
	result["total_s"] = total
	result["works_per_s"] = float64(n) / total
	emit(result)
}

func lifecycleWork(cluster, uid string, i int, generation int64) *workv1.ManifestWork {
	cm := fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-%d","namespace":"default"},"data":{"generation":"%d"}}`, i, generation)
	return &workv1.ManifestWork{
		ObjectMeta: metav1.ObjectMeta{Name: "work-" + strconv.Itoa(i), Namespace: cluster,
			UID: kubetypes.UID(uid), Generation: generation, ResourceVersion: strconv.FormatInt(generation, 10)},
		Spec: workv1.ManifestWorkSpec{Workload: workv1.ManifestsTemplate{
			Manifests: []workv1.Manifest{{RawExtension: runtime.RawExtension{Raw: []byte(cm)}}}}},
	}
}

// startAgent runs sdk-go's ManifestWork agent (client holder + informer, as agent.go) whose
// controller marks every work Applied at its generation (a status patch, as agent.go's
// "status" command) and finishes deletions by removing the finalizer (sdk-go then reports
// Deleted=True).
func startAgent(ctx context.Context, config any, cluster string) {
	store := workstore.NewAgentInformerWatcherStore()
	opt := options.NewGenericClientOptions(config, agentcodec.NewManifestBundleCodec(), cluster+"-lifecycle-agent").
		WithClientWatcherStore(store).
		WithClusterName(cluster)
	holder, err := work.NewAgentClientHolder(ctx, opt)
	if err != nil {
		fail("start agent client: %v", err)
	}
	factory := workinformers.NewSharedInformerFactoryWithOptions(holder.WorkInterface(), 5*time.Minute,
		workinformers.WithNamespace(cluster))
	informer := factory.Work().V1().ManifestWorks().Informer()
	works := holder.ManifestWorks(cluster)
	// As a work agent's controller does: events only queue a key; a worker reconciles the
	// work's latest state and requeues on failure. sdk-go's store signals its watcher before it
	// stores the work, so a patch right inside the event handler can see "not found".
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			queue.Add(key)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		fail("informer handler: %v", err)
	}
	go func() {
		for {
			key, quit := queue.Get()
			if quit {
				return
			}
			obj, exists, err := informer.GetStore().GetByKey(key)
			if err == nil && exists {
				err = reconcile(ctx, works, obj.(*workv1.ManifestWork))
			}
			if err != nil {
				queue.AddRateLimited(key)
			} else {
				queue.Forget(key)
			}
			queue.Done(key)
		}
	}()
	go informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		fail("informer never synced")
	}
}

// reconcile marks w Applied at its generation, or finishes its deletion.
func reconcile(ctx context.Context, works workv1client.ManifestWorkInterface, w *workv1.ManifestWork) error {
	if w.DeletionTimestamp != nil {
		if len(w.Finalizers) == 0 {
			return nil
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		_, err := works.Patch(ctx, w.Name, kubetypes.MergePatchType, patch, metav1.PatchOptions{})
		return err
	}
	if c := meta.FindStatusCondition(w.Status.Conditions, "Applied"); c != nil && c.ObservedGeneration == w.Generation {
		return nil
	}
	status := w.Status.DeepCopy()
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{Type: "Applied", Status: metav1.ConditionTrue,
		Reason: "AppliedManifestWorkComplete", Message: "applied", ObservedGeneration: w.Generation})
	patch, err := json.Marshal(map[string]any{"status": status})
	if err != nil {
		return err
	}
	_, err = works.Patch(ctx, w.Name, kubetypes.MergePatchType, patch, metav1.PatchOptions{}, "status")
	return err
}
