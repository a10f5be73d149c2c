"""Drives every operation of a running hub through the Python client that openapi-python-client
generated from its document (scripts/contract): create, get, list with paging and filters,
patch, update with a stale version (409), delete; and Maestro's paths (docs/maestro.md) over
the same data. Exits non-zero on the first surprise.

Usage: PYTHONPATH=tests/contract/generated/python python drive.py BASE_URL
"""

import sys
import uuid
from http import HTTPStatus

from baton_client import Client
from baton_client.api.consumers import (
    create_consumer,
    delete_consumer,
    get_consumer,
    list_consumers,
    patch_consumer,
)
from baton_client.api.maestro import (
    maestro_create_consumer,
    maestro_delete_bundle,
    maestro_delete_consumer,
    maestro_get_bundle,
    maestro_get_consumer,
    maestro_list_bundles,
    maestro_list_consumers,
    maestro_patch_consumer,
)
from baton_client.api.resources import (
    create_resource,
    delete_resource,
    get_resource,
    list_resources,
    put_resource,
)
from baton_client.models import (
    ConsumerCreate,
    ConsumerList,
    ConsumerPatch,
    ConsumerView,
    Direction,
    ErrorBody,
    Labels,
    MaestroConsumer,
    MaestroConsumerCreate,
    MaestroConsumerList,
    MaestroConsumerPatchRequest,
    MaestroError,
    MaestroResourceBundle,
    MaestroResourceBundleList,
    Manifest,
    OrderBy,
    ResourceCreate,
    ResourceList,
    ResourceUpdate,
    ResourceView,
)

OPERATIONS = {
    create_consumer, list_consumers, get_consumer, patch_consumer, delete_consumer,
    create_resource, list_resources, get_resource, put_resource, delete_resource,
    maestro_create_consumer, maestro_list_consumers, maestro_get_consumer, maestro_patch_consumer,
    maestro_delete_consumer, maestro_list_bundles, maestro_get_bundle, maestro_delete_bundle,
}
called = set()
calls = 0


def call(operation, status, kind, **kwargs):
    """One request; its status and the type of its parsed body must be the expected ones."""
    global calls
    response = operation.sync_detailed(**kwargs)
    calls += 1
    called.add(operation)
    name = operation.__name__.rsplit(".", 1)[-1]
    if response.status_code != status or not isinstance(response.parsed, kind):
        sys.exit(f"{name}: expected {status} {kind.__name__}, got {response.status_code} "
                 f"{response.content[:500]!r}")
    return response.parsed


def labels(**pairs):
    return Labels.from_dict(pairs)


def configmap(name, value):
    return Manifest.from_dict({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": name, "namespace": "default"},
                               "data": {"value": value}})


def main(base):
    client = Client(base_url=base, raise_on_unexpected_status=True)
    run = uuid.uuid4().hex[:8]
    names = [f"py-{run}-a", f"py-{run}-b"]

    a = call(create_consumer, 201, ConsumerView, client=client,
             body=ConsumerCreate(name=names[0], labels=labels(env="contract")))
    call(create_consumer, 201, ConsumerView, client=client, body=ConsumerCreate(name=names[1]))
    assert a.name == names[0] and a.labels["env"] == "contract", a
    error = call(create_consumer, 409, ErrorBody, client=client, body=ConsumerCreate(name=names[0]))
    assert error.code == "conflict", error
    error = call(create_consumer, 400, ErrorBody, client=client, body=ConsumerCreate(name="Not_A_Name"))
    assert error.field == "name", error

    assert call(get_consumer, 200, ConsumerView, id_or_name=names[0], client=client).id == a.id
    assert call(get_consumer, 200, ConsumerView, id_or_name=str(a.id), client=client).name == names[0]
    call(get_consumer, 404, ErrorBody, id_or_name=f"py-{run}-none", client=client)

    first = call(list_consumers, 200, ConsumerList, client=client, page=1, size=1,
                 order_by=OrderBy.CREATED_AT, direction=Direction.ASC)
    total = first.total
    assert total >= 2 and first.size == 1 and len(first.items) == 1, first
    last = call(list_consumers, 200, ConsumerList, client=client, page=total, size=1)
    assert last.page == total and len(last.items) == 1, last
    call(list_consumers, 400, ErrorBody, client=client, page=0)

    patched = call(patch_consumer, 200, ConsumerView, id_or_name=names[0], client=client,
                   body=ConsumerPatch(labels=labels(env="prod", team="a")))
    assert patched.labels.to_dict() == {"env": "prod", "team": "a"}, patched

    web = call(create_resource, 201, ResourceView, client=client,
               body=ResourceCreate(consumer_name=names[0], name="web",
                                   manifests=[configmap("web", "1")], labels=labels(app="web")))
    assert web.version == 1 and web.status is None, web
    call(create_resource, 201, ResourceView, client=client,
         body=ResourceCreate(consumer_name=names[0], name="db",
                             manifests=[configmap("db", "1")], labels=labels(app="db")))
    call(create_resource, 404, ErrorBody, client=client,
         body=ResourceCreate(consumer_name=f"py-{run}-none", manifests=[configmap("x", "1")]))

    got = call(get_resource, 200, ResourceView, id=web.id, client=client)
    assert got.name == "web" and got.manifests[0]["data"]["value"] == "1", got
    call(get_resource, 404, ErrorBody, id=uuid.uuid4(), client=client)

    mine = call(list_resources, 200, ResourceList, client=client, consumer_name=names[0],
                order_by=OrderBy.NAME, direction=Direction.DESC)
    assert [r.name for r in mine.items] == ["web", "db"] and mine.total == 2, mine
    page2 = call(list_resources, 200, ResourceList, client=client,
                 consumer_name=names[0], order_by=OrderBy.NAME, page=2, size=1)
    assert [r.name for r in page2.items] == ["web"] and page2.total == 2, page2
    by_label = call(list_resources, 200, ResourceList, client=client,
                    consumer_name=names[0], labels="app=db")
    assert [r.name for r in by_label.items] == ["db"], by_label
    by_name = call(list_resources, 200, ResourceList, client=client,
                   consumer_name=names[0], name="web")
    assert [r.id for r in by_name.items] == [web.id], by_name
    call(list_resources, 400, ErrorBody, client=client, labels="novalue")

    update = ResourceUpdate(version=1, manifests=[configmap("web", "2")], labels=labels(app="web"))
    updated = call(put_resource, 200, ResourceView, id=web.id, client=client, body=update)
    assert updated.version == 2, updated
    stale = call(put_resource, 409, ErrorBody, id=web.id, client=client, body=update)
    assert stale.code == "conflict", stale

    deleting = call(delete_resource, 202, ResourceView, id=web.id, client=client)
    assert deleting.deleted_at is not None, deleting
    in_use = call(delete_consumer, 409, ErrorBody, id_or_name=names[0], client=client)
    assert in_use.code == "conflict", in_use
    response = delete_consumer.sync_detailed(id_or_name=names[1], client=client)
    assert response.status_code == HTTPStatus.NO_CONTENT, response
    called.add(delete_consumer)
    call(get_consumer, 404, ErrorBody, id_or_name=names[1], client=client)

    maestro(client, run, db_id=str(mine.items[1].id), consumer=names[0])

    missing = OPERATIONS - called
    assert not missing, f"operations never called: {sorted(m.__name__ for m in missing)}"
    print(f"python client: {len(called)} of {len(OPERATIONS)} operations, {calls + 1} calls, all as expected")


def maestro(client, run, db_id, consumer):
    """Maestro's paths: its consumers, and the resources created above as resource bundles."""
    name = f"py-{run}-m"
    m = call(maestro_create_consumer, 201, MaestroConsumer, client=client,
             body=MaestroConsumerCreate(name=name, labels=labels(env="maestro")))
    assert m.kind == "Consumer" and m.href == f"/api/maestro/v1/consumers/{m.id}", m
    error = call(maestro_create_consumer, 409, MaestroError, client=client,
                 body=MaestroConsumerCreate(name=name))
    assert error.code == "maestro-6", error
    assert call(maestro_get_consumer, 200, MaestroConsumer, id=str(m.id), client=client).name == name
    found = call(maestro_list_consumers, 200, MaestroConsumerList, client=client,
                 search=f"name = '{name}' and labels->>'env' = 'maestro'")
    assert [c.id for c in found.items] == [m.id] and found.kind == "ConsumerList", found
    error = call(maestro_list_consumers, 400, MaestroError, client=client, search="name like 'x%'")
    assert error.code == "maestro-23" and error.field == "search", error
    patched = call(maestro_patch_consumer, 200, MaestroConsumer, id=str(m.id), client=client,
                   body=MaestroConsumerPatchRequest(labels=labels(env="dev")))
    assert patched.labels["env"] == "dev", patched

    bundles = call(maestro_list_bundles, 200, MaestroResourceBundleList, client=client,
                   search=f"consumer_name = '{consumer}' and source = 'baton'", order_by="name asc")
    # `web` is being deleted: with no agent to confirm, the hub may already have removed it.
    assert "db" in [b.name for b in bundles.items], bundles
    assert all(b.consumer_name == consumer for b in bundles.items), bundles
    db = call(maestro_get_bundle, 200, MaestroResourceBundle, id=db_id, client=client)
    assert db.metadata["namespace"] == consumer and db.version == 1, db
    call(maestro_get_bundle, 404, MaestroError, id=str(uuid.uuid4()), client=client)
    response = maestro_delete_bundle.sync_detailed(id=db_id, client=client)
    assert response.status_code == HTTPStatus.NO_CONTENT, response
    called.add(maestro_delete_bundle)
    response = maestro_delete_consumer.sync_detailed(id=str(m.id), client=client)
    assert response.status_code == HTTPStatus.NO_CONTENT, response
    called.add(maestro_delete_consumer)
    call(maestro_get_consumer, 404, MaestroError, id=str(m.id), client=client)


if __name__ == "__main__":
    main(sys.argv[1])
