package main

// Scenario 3: status hashes and event encodings, through sdk-go's own codecs and its gRPC
// protobuf binding (protocol.WritePBMessage / protocol.NewMessage). No network.

import (
	"context"
	"encoding/json"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"google.golang.org/protobuf/proto"

	workv1 "open-cluster-management.io/api/work/v1"

	"open-cluster-management.io/sdk-go/pkg/cloudevents/clients/statushash"
	agentcodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/agent/codec"
	sourcecodec "open-cluster-management.io/sdk-go/pkg/cloudevents/clients/work/source/codec"
	pbv1 "open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/grpc/protobuf/v1"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/options/grpc/protocol"
	"open-cluster-management.io/sdk-go/pkg/cloudevents/generic/types"
)

type codecRequest struct {
	ID     string                     `json:"id"`
	Op     string                     `json:"op"`
	Status *workv1.ManifestWorkStatus `json:"status,omitempty"`
	Work   *workv1.ManifestWork       `json:"work,omitempty"`
	Type   string                     `json:"type,omitempty"`
	Source string                     `json:"source,omitempty"`
	PB     []byte                     `json:"pb,omitempty"`
}

type codecReply struct {
	ID         string                `json:"id"`
	Error      string                `json:"error,omitempty"`
	Hash       string                `json:"hash,omitempty"`
	Work       *workv1.ManifestWork  `json:"work,omitempty"`
	PB         []byte                `json:"pb,omitempty"`
	Event      *cloudevents.Event    `json:"event,omitempty"`
	Extensions map[string]typedValue `json:"extensions,omitempty"`
}

// typedValue is an extension as sdk-go holds it after decoding: its Go type and value.
type typedValue struct {
	GoType string `json:"goType"`
	Value  string `json:"value"`
}

func runCodec() {
	commands(func(raw json.RawMessage) {
		var req codecRequest
		if err := json.Unmarshal(raw, &req); err != nil {
			emit(codecReply{Error: "bad request: " + err.Error()})
			return
		}
		reply, err := handleCodec(&req)
		if err != nil {
			reply = codecReply{Error: err.Error()}
		}
		reply.ID = req.ID
		emit(reply)
	})
}

func handleCodec(req *codecRequest) (codecReply, error) {
	switch req.Op {
	case "hash":
		if req.Status == nil {
			return codecReply{}, fmt.Errorf("hash needs status")
		}
		hash, err := statushash.StatusHash(&workv1.ManifestWork{Status: *req.Status})
		return codecReply{Hash: hash}, err
	case "decode-spec": // baton source -> Go agent
		evt, exts, err := fromPB(req.PB)
		if err != nil {
			return codecReply{}, err
		}
		work, err := agentcodec.NewManifestBundleCodec().Decode(evt)
		return codecReply{Work: work, Event: evt, Extensions: exts}, err
	case "decode-status": // baton agent -> Go source
		evt, exts, err := fromPB(req.PB)
		if err != nil {
			return codecReply{}, err
		}
		work, err := sourcecodec.NewManifestBundleCodec().Decode(evt)
		return codecReply{Work: work, Event: evt, Extensions: exts}, err
	case "encode-spec": // Go source -> baton agent
		return encode(req, sourcecodec.NewManifestBundleCodec().Encode)
	case "encode-status": // Go agent -> baton source
		return encode(req, agentcodec.NewManifestBundleCodec().Encode)
	}
	return codecReply{}, fmt.Errorf("unknown op %q", req.Op)
}

type encodeFn func(string, types.CloudEventsType, *workv1.ManifestWork) (*cloudevents.Event, error)

func encode(req *codecRequest, enc encodeFn) (codecReply, error) {
	if req.Work == nil {
		return codecReply{}, fmt.Errorf("%s needs work", req.Op)
	}
	ty, err := types.ParseCloudEventsType(req.Type)
	if err != nil {
		return codecReply{}, err
	}
	evt, err := enc(req.Source, *ty, req.Work)
	if err != nil {
		return codecReply{}, err
	}
	pb, err := toPB(evt)
	return codecReply{PB: pb, Event: evt, Extensions: extensionTypes(evt)}, err
}

// toPB renders an event exactly as sdk-go's gRPC client sends it.
func toPB(evt *cloudevents.Event) ([]byte, error) {
	msg := &pbv1.CloudEvent{}
	if err := protocol.WritePBMessage(context.Background(), binding.ToMessage(evt), msg); err != nil {
		return nil, err
	}
	return proto.Marshal(msg)
}

// fromPB reads an event exactly as sdk-go's gRPC client receives it.
func fromPB(raw []byte) (*cloudevents.Event, map[string]typedValue, error) {
	msg := &pbv1.CloudEvent{}
	if err := proto.Unmarshal(raw, msg); err != nil {
		return nil, nil, err
	}
	evt, err := binding.ToEvent(context.Background(), protocol.NewMessage(msg))
	if err != nil {
		return nil, nil, err
	}
	return evt, extensionTypes(evt), nil
}

func extensionTypes(evt *cloudevents.Event) map[string]typedValue {
	out := map[string]typedValue{}
	for name, value := range evt.Extensions() {
		out[name] = typedValue{GoType: fmt.Sprintf("%T", value), Value: fmt.Sprintf("%v", value)}
	}
	return out
}
