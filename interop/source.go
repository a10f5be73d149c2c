package main

// Scenario 2: sdk-go's generic CloudEventSourceClient with the manifestbundles source codec,
// publishing ManifestWorks to a baton agent. Received statuses are reported as JSON lines;
// stdin commands publish specs and ask for a status resync.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"k8s.io/apimachinery/pkg/api/meta"

	workv1 "open-cluster-management.io/api/work/v1"

	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/statushash"
	sourcecodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/source/codec"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/clients"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/types"
)

type sourceCommand struct {
	Cmd     string               `json:"cmd"`
	Action  string               `json:"action,omitempty"`
	Work    *workv1.ManifestWork `json:"work,omitempty"`
	Cluster string               `json:"cluster,omitempty"`
	UID     string               `json:"uid,omitempty"`
}

// workList is the source's own store: what it published, with the status it last accepted.
type workList struct {
	mu    sync.Mutex
	works map[string]*workv1.ManifestWork
}

func (l *workList) List(_ context.Context, opts types.ListOptions) ([]*workv1.ManifestWork, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*workv1.ManifestWork
	for _, w := range l.works {
		if opts.ClusterName == "" || opts.ClusterName == w.Namespace {
			out = append(out, w.DeepCopy())
		}
	}
	return out, nil
}

func (l *workList) put(w *workv1.ManifestWork) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.works[string(w.UID)] = w.DeepCopy()
}

// setStatus keeps the status a work reported; Deleted=True ends the work (docs/protocol.md §5.2).
func (l *workList) setStatus(w *workv1.ManifestWork) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if meta.IsStatusConditionTrue(w.Status.Conditions, "Deleted") {
		delete(l.works, string(w.UID))
		return
	}
	if cur, ok := l.works[string(w.UID)]; ok {
		cur.Status = w.Status
	}
}

// forgetStatus clears the status the source holds for uid, so its hash no longer matches.
func (l *workList) forgetStatus(uid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	cur, ok := l.works[uid]
	if ok {
		cur.Status = workv1.ManifestWorkStatus{}
	}
	return ok
}

func runSource(configType, configPath, sourceID string) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	_, config, err := builder.NewConfigLoader(configType, configPath).LoadConfig()
	if err != nil {
		fail("load %s config: %v", configType, err)
	}
	codec := sourcecodec.NewManifestBundleCodec()
	opts, err := builder.BuildCloudEventsSourceOptions(config, sourceID+"-interop-source", sourceID, codec.EventDataType())
	if err != nil {
		fail("source options: %v", err)
	}
	store := &workList{works: map[string]*workv1.ManifestWork{}}
	client, err := clients.NewCloudEventSourceClient(ctx, opts, store, statushash.StatusHash, codec)
	if err != nil {
		fail("start source client: %v", err)
	}
	client.Subscribe(ctx, func(_ context.Context, w *workv1.ManifestWork) error {
		store.setStatus(w)
		emit(map[string]any{"kind": "status", "work": w})
		return nil
	})
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-client.SubscribedChan():
				emit(map[string]string{"kind": "subscribed"})
			}
		}
	}()
	emit(map[string]string{"kind": "ready"})

	go func() {
		commands(func(raw json.RawMessage) {
			var cmd sourceCommand
			if err := json.Unmarshal(raw, &cmd); err != nil {
				emit(map[string]string{"kind": "error", "error": "bad command: " + err.Error()})
				return
			}
			switch cmd.Cmd {
			case "publish":
				ty := types.CloudEventsType{CloudEventsDataType: codec.EventDataType(),
					SubResource: types.SubResourceSpec, Action: types.EventAction(cmd.Action)}
				if cmd.Work != nil {
					store.put(cmd.Work)
				}
				emitResult("publish", cmd.Action, client.Publish(ctx, ty, cmd.Work))
			case "put": // change the store without publishing (an update the agent missed)
				store.put(cmd.Work)
				emitResult("put", string(cmd.Work.UID), nil)
			case "forget-status":
				var err error
				if !store.forgetStatus(cmd.UID) {
					err = fmt.Errorf("no work %s", cmd.UID)
				}
				emitResult("forget-status", cmd.UID, err)
			case "resync":
				emitResult("resync", cmd.Cluster, client.Resync(ctx, cmd.Cluster))
			case "quit":
				cancel()
			default:
				emit(map[string]string{"kind": "error", "error": "unknown command " + cmd.Cmd})
			}
		})
		cancel()
	}()
	<-ctx.Done()
	emit(map[string]string{"kind": "stopped"})
}
