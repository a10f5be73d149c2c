#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/TARGET/) from the wire vectors in tests/data/vectors:
protobuf events (.pb.hex), structured events (.json), MQTT v5 PUBLISH packets built from the
captured publishes (.mqtt.json), their status and resync data, and REST bodies."""
import base64, glob, hashlib, json, os

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
vectors = os.path.join(root, "tests/data/vectors/v1.0.0")
corpus = os.path.join(root, "fuzz/corpus")

def seed(target, data):
    os.makedirs(os.path.join(corpus, target), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(corpus, target, name), "wb") as f:
        f.write(data)

def varint(n):
    out = b""
    while True:
        byte, n = n & 0x7F, n >> 7
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out

def utf8(text):
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw

def publish(capture):
    """An MQTT v5 PUBLISH (QoS 1, packet id 1) as a broker sends it."""
    props = b""
    if capture.get("contentType"):
        props += b"\x03" + utf8(capture["contentType"])
    for p in capture.get("userProperties", []):
        props += b"\x26" + utf8(p["key"]) + utf8(p["value"])
    body = utf8(capture["topic"]) + b"\x00\x01" + varint(len(props)) + props
    body += base64.b64decode(capture["payloadBase64"])
    return bytes([0x32]) + varint(len(body)) + body

for path in sorted(glob.glob(os.path.join(vectors, "*", "*"))):
    name = os.path.basename(path)
    if name.endswith(".pb.hex"):
        seed("grpc_event", bytes.fromhex(open(path).read().strip()))
    elif name.endswith(".mqtt.json"):
        seed("mqtt_publish", publish(json.load(open(path))))
    elif name[:2].isdigit() and name.endswith(".json") and name.count(".") == 1:
        event = json.load(open(path))
        seed("json_event", json.dumps(event))
        data = json.dumps(event.get("data", {}))
        if ".status." in event["type"] and "resync_request" not in event["type"]:
            seed("status_payload", data)
        if "resync_request" in event["type"]:
            seed("resync_payloads", data)

configmap = {"apiVersion": "v1", "kind": "ConfigMap",
             "metadata": {"name": "web-config", "namespace": "default"}, "data": {"value": "v1"}}
for body in [
    {"name": "cluster-a", "labels": {"env": "dev"}},
    {"labels": {"env": "prod", "team": "a"}},
    {"consumer_name": "cluster-a", "name": "web", "manifests": [configmap],
     "labels": {"app": "web"}, "delete_option": {"propagationPolicy": "Foreground"}},
    {"version": 1, "manifests": [configmap], "manifest_configs": [
        {"resourceIdentifier": {"group": "", "resource": "configmaps", "name": "web-config",
                                "namespace": "default"}, "updateStrategy": {"type": "ServerSideApply"}}]},
]:
    seed("rest_bodies", json.dumps(body))
