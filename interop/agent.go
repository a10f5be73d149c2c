package main

// Scenario 1: sdk-go's ManifestWork agent (client holder + informer, as the OCM work agent builds
// it) for one cluster against baton's hub. Watch events are reported as JSON lines; stdin
// commands patch status, remove finalizers (finishing a deletion) and save the store.

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubetypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	workinformers "open-cluster-management.io/api/client/work/informers/externalversions"
	workv1 "open-cluster-management.io/api/work/v1"

	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/options"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work"
	agentcodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/agent/codec"
	workstore "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/store"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/metrics"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
)

type agentCommand struct {
	Cmd    string                     `json:"cmd"`
	Name   string                     `json:"name,omitempty"`
	Status *workv1.ManifestWorkStatus `json:"status,omitempty"`
}

type watchEvent struct {
	Kind string               `json:"kind"`
	Type string               `json:"type"`
	Work *workv1.ManifestWork `json:"work"`
}

func runAgent(configType, configPath, cluster, statePath string) {
	// client-go >= 0.35 informers use watch-list (initial state streamed by Watch) unless told
	// otherwise; sdk-go's agent watcher store answers Watch with a bookmark only, so works
	// already in the store at start would never reach the informer (docs/interop.md).
	// Read lazily by client-go, so setting it here, before any informer, is enough.
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	_, config, err := builder.NewConfigLoader(configType, configPath).LoadConfig()
	if err != nil {
		fail("load %s config: %v", configType, err)
	}
	registry := prometheus.NewRegistry()
	metrics.RegisterClientCloudEventsMetrics(registry)
	store := workstore.NewAgentInformerWatcherStore()
	preloaded := loadState(store, statePath)

	opt := options.NewGenericClientOptions(config, agentcodec.NewManifestBundleCodec(), cluster+"-interop-agent").
		WithClientWatcherStore(store).
		WithClusterName(cluster)
	holder, err := work.NewAgentClientHolder(ctx, opt)
	if err != nil {
		fail("start agent client: %v", err)
	}
	factory := workinformers.NewSharedInformerFactoryWithOptions(holder.WorkInterface(), 5*time.Minute,
		workinformers.WithNamespace(cluster))
	informer := factory.Work().V1().ManifestWorks().Informer()
	report := func(kind string) func(any) {
		return func(obj any) {
			if w, ok := obj.(*workv1.ManifestWork); ok {
				emit(watchEvent{Kind: "watch", Type: kind, Work: w})
			}
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    report("added"),
		UpdateFunc: func(_, obj any) { report("modified")(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			report("deleted")(obj)
		},
	}); err != nil {
		fail("informer handler: %v", err)
	}
	go informer.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		fail("informer never synced")
	}
	emit(map[string]any{"kind": "ready", "preloaded": preloaded})

	works := holder.ManifestWorks(cluster)
	go func() {
		commands(func(raw json.RawMessage) {
			var cmd agentCommand
			if err := json.Unmarshal(raw, &cmd); err != nil {
				emit(map[string]string{"kind": "error", "error": "bad command: " + err.Error()})
				return
			}
			switch cmd.Cmd {
			case "status":
				patch, _ := json.Marshal(map[string]any{"status": cmd.Status})
				_, err := works.Patch(ctx, cmd.Name, kubetypes.MergePatchType, patch, metav1.PatchOptions{}, "status")
				emitResult("status", cmd.Name, err)
			case "finalize":
				patch := []byte(`{"metadata":{"finalizers":null}}`)
				_, err := works.Patch(ctx, cmd.Name, kubetypes.MergePatchType, patch, metav1.PatchOptions{})
				emitResult("finalize", cmd.Name, err)
			case "list":
				emit(map[string]any{"kind": "result", "cmd": "list", "works": store.Store.List(),
					"events": eventCounts(registry)})
			case "save":
				emitResult("save", statePath, saveState(store, statePath))
			case "quit":
				cancel()
			default:
				emit(map[string]string{"kind": "error", "error": "unknown command " + cmd.Cmd})
			}
		})
		cancel() // stdin closed: the harness is gone
	}()
	<-ctx.Done()
	emit(map[string]string{"kind": "stopped"})
}

func emitResult(cmd, name string, err error) {
	result := map[string]string{"kind": "result", "cmd": cmd, "name": name}
	if err != nil {
		result["error"] = err.Error()
	}
	emit(result)
}

// loadState fills the store with works saved by an earlier run ("works in hand"), before the
// client starts, so its first spec resync request lists them.
func loadState(store *workstore.AgentInformerWatcherStore, path string) int {
	if path == "" {
		return 0
	}
	raw, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0
	} else if err != nil {
		fail("read state: %v", err)
	}
	var list []*workv1.ManifestWork
	if err := json.Unmarshal(raw, &list); err != nil {
		fail("parse state: %v", err)
	}
	for _, w := range list {
		if err := store.Store.Add(w); err != nil {
			fail("preload %s: %v", w.Name, err)
		}
	}
	return len(list)
}

func saveState(store *workstore.AgentInformerWatcherStore, path string) error {
	items := store.Store.List()
	raw, err := json.Marshal(items)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// eventCounts sums sdk-go's own CloudEvents counters as "sent|received subresource action".
func eventCounts(registry *prometheus.Registry) map[string]float64 {
	out := map[string]float64{}
	families, err := registry.Gather()
	if err != nil {
		return out
	}
	for _, family := range families {
		direction := ""
		switch family.GetName() {
		case "cloudevents_sent_total":
			direction = "sent"
		case "cloudevents_received_total":
			direction = "received"
		default:
			continue
		}
		for _, m := range family.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			key := direction + " " + labels["subresource"] + " " + labels["action"]
			out[key] += m.GetCounter().GetValue()
		}
	}
	return out
}
