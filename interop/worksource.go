package main

// Scenario 4: sdk-go's ManifestWork source client (the client holder over gRPC, as Maestro's
// grpcsource builds it) against baton's gRPC source API (--source-grpc-addr). Informer events
// are reported as JSON lines; stdin commands create, patch and delete works, and save the
// client's store so that a restarted source starts with what it held (as Maestro's clients do,
// which list their works at start) and resyncs.

import (
	"context"
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kubetypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	workinformers "open-cluster-management.io/api/client/work/informers/externalversions"
	workv1 "open-cluster-management.io/api/work/v1"

	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/options"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work"
	sourcecodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/source/codec"
	workstore "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/store"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/builder"
)

type workSourceCommand struct {
	Cmd       string               `json:"cmd"`
	ID        string               `json:"id,omitempty"`
	Work      *workv1.ManifestWork `json:"work,omitempty"`
	Namespace string               `json:"namespace,omitempty"`
	Name      string               `json:"name,omitempty"`
	Patch     json.RawMessage      `json:"patch,omitempty"`
}

// reply answers a command: its id, the work's uid when there is one, and the error with its
// Kubernetes reason (what a Maestro client tests with apierrors.IsConflict and the like).
func reply(id string, w *workv1.ManifestWork, err error) {
	out := map[string]any{"kind": "reply", "id": id}
	if w != nil {
		out["uid"] = string(w.UID)
	}
	if err != nil {
		out["error"] = err.Error()
		out["reason"] = string(apierrors.ReasonForError(err))
	}
	emit(out)
}

func runWorkSource(configPath, sourceID, statePath string) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false") // as in agent.go
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	_, config, err := builder.NewConfigLoader("grpc", configPath).LoadConfig()
	if err != nil {
		fail("load grpc config: %v", err)
	}
	store := workstore.NewSourceInformerWatcherStore(ctx)
	opt := options.NewGenericClientOptions(config, sourcecodec.NewManifestBundleCodec(), sourceID+"-interop-worksource").
		WithClientWatcherStore(store).
		WithSourceID(sourceID)
	holder, err := work.NewSourceClientHolder(ctx, opt)
	if err != nil {
		fail("start source client: %v", err)
	}
	factory := workinformers.NewSharedInformerFactoryWithOptions(holder.WorkInterface(), 30*time.Minute)
	informer := factory.Work().V1().ManifestWorks().Informer()
	// Works saved by an earlier run go into the informer's store before it starts, so the
	// client's first status resync lists them with the status hashes they had.
	preloaded := 0
	if statePath != "" {
		if raw, err := os.ReadFile(statePath); err == nil {
			var list []*workv1.ManifestWork
			if err := json.Unmarshal(raw, &list); err != nil {
				fail("parse state: %v", err)
			}
			for _, w := range list {
				if err := informer.GetStore().Add(w); err != nil {
					fail("preload %s: %v", w.Name, err)
				}
			}
			preloaded = len(list)
		}
	}
	store.SetInformer(informer)
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

	go func() {
		commands(func(raw json.RawMessage) {
			var cmd workSourceCommand
			if err := json.Unmarshal(raw, &cmd); err != nil {
				emit(map[string]string{"kind": "error", "error": "bad command: " + err.Error()})
				return
			}
			switch cmd.Cmd {
			case "create":
				if cmd.Work == nil {
					reply(cmd.ID, nil, apierrors.NewBadRequest("create needs a work"))
					return
				}
				created, err := holder.ManifestWorks(cmd.Work.Namespace).Create(ctx, cmd.Work, metav1.CreateOptions{})
				reply(cmd.ID, created, err)
			case "patch":
				patched, err := holder.ManifestWorks(cmd.Namespace).Patch(ctx, cmd.Name, kubetypes.MergePatchType, cmd.Patch, metav1.PatchOptions{})
				reply(cmd.ID, patched, err)
			case "delete":
				err := holder.ManifestWorks(cmd.Namespace).Delete(ctx, cmd.Name, metav1.DeleteOptions{})
				reply(cmd.ID, nil, err)
			case "save":
				raw, err := json.Marshal(informer.GetStore().List())
				if err == nil {
					err = os.WriteFile(statePath, raw, 0o600)
				}
				reply(cmd.ID, nil, err)
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
