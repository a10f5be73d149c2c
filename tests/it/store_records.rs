//! Store conformance, records: consumers and resources behave the same on both backends
//! (create, read, unique names, filters, paging, ordering, optimistic concurrency, delete
//! marking, refusal to delete a consumer in use).

use baton::store::{
    ConsumerFilter, ConsumerKey, Direction, NewResource, OrderBy, ResourceFilter, SourceFilter,
    StoreError, Updated,
};

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{
    create, first_page, fresh, labels, names, new_consumer, new_resource, page, raw, resource, spec,
};

async fn consumers_have_unique_names_and_are_found_by_id_or_name(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let created = store.create_consumer(new_consumer("c1")).await.unwrap();
    assert_eq!(created.created_at, created.updated_at);
    let by_id = store
        .get_consumer(&ConsumerKey::Id(created.id))
        .await
        .unwrap();
    let by_name = store
        .get_consumer(&ConsumerKey::Name("c1".into()))
        .await
        .unwrap();
    assert_eq!((&by_id, &by_name), (&created, &created));
    assert!(matches!(
        store.create_consumer(new_consumer("c1")).await,
        Err(StoreError::ConsumerExists(name)) if name == "c1"
    ));
    assert!(matches!(
        store.get_consumer(&ConsumerKey::Name("c2".into())).await,
        Err(StoreError::ConsumerNotFound(_))
    ));
    let patched = store
        .update_consumer_labels(&ConsumerKey::Name("c1".into()), labels(&[("env", "prod")]))
        .await
        .unwrap();
    assert_eq!(patched.labels, labels(&[("env", "prod")]));
    assert!(patched.updated_at >= created.updated_at);
    assert!(matches!(
        store
            .update_consumer_labels(&ConsumerKey::Id(uuid::Uuid::new_v4()), labels(&[]))
            .await,
        Err(StoreError::ConsumerNotFound(_))
    ));
    store.create_consumer(new_consumer("a0")).await.unwrap();
    let listed = store
        .list_consumers(
            &ConsumerFilter::default(),
            page(2, 1, OrderBy::Name, Direction::Asc),
        )
        .await
        .unwrap();
    assert_eq!(listed.total, 2);
    assert_eq!(
        listed
            .items
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["c1"]
    );
}

async fn resources_start_at_version_1_pending_publication(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    let consumer = store.create_consumer(new_consumer("c1")).await.unwrap();
    let mut wanted = spec("v1");
    wanted.labels = labels(&[("app", "web")]);
    wanted.annotations = labels(&[("note", "x")]);
    wanted.delete_option = Some(raw(r#"{"propagationPolicy":"Orphan"}"#));
    wanted.manifest_configs = Some(raw(r#"[{"updateStrategy":{"type":"ServerSideApply"}}]"#));
    let created = create(&*store, new_resource("c1", Some("web"), wanted.clone()))
        .await
        .unwrap();
    assert_eq!(
        (
            created.version,
            created.consumer_id,
            created.name.as_deref()
        ),
        (1, consumer.id, Some("web"))
    );
    assert_eq!(created.spec, wanted, "every spec field round-trips");
    assert!(created.status.is_none() && created.deleted_at.is_none());
    assert_eq!(store.get_resource(created.id).await.unwrap(), created);
    assert_eq!(store.pending_count().await.unwrap(), 1);
    assert!(matches!(
        store.get_resource(uuid::Uuid::new_v4()).await,
        Err(StoreError::ResourceNotFound(_))
    ));
    assert!(matches!(
        create(&*store, new_resource("nobody", None, spec("v1"))).await,
        Err(StoreError::ConsumerNotFound(name)) if name == "nobody"
    ));
}

async fn resource_names_are_unique_per_consumer(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    for c in ["c1", "c2"] {
        store.create_consumer(new_consumer(c)).await.unwrap();
    }
    resource(&*store, "c1", Some("web")).await;
    assert!(matches!(
        create(&*store, new_resource("c1", Some("web"), spec("v2"))).await,
        Err(StoreError::ResourceNameTaken { consumer, name }) if consumer == "c1" && name == "web"
    ));
    resource(&*store, "c2", Some("web")).await;
    resource(&*store, "c1", None).await;
    resource(&*store, "c1", None).await; // unnamed resources never collide
    assert_eq!(
        store.pending_count().await.unwrap(),
        4,
        "nothing half-written"
    );
}

async fn lists_filter_by_consumer_name_and_labels(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    for c in ["c1", "c2"] {
        store.create_consumer(new_consumer(c)).await.unwrap();
    }
    let labelled = |name: &'static str, pairs: &[(&str, &str)]| {
        let mut s = spec("v1");
        s.labels = labels(pairs);
        new_resource("c1", Some(name), s)
    };
    let web_labels = [("env", "prod"), ("app.kubernetes.io/name", "web")];
    create(&*store, labelled("web", &web_labels)).await.unwrap();
    create(&*store, labelled("db", &[("env", "prod")]))
        .await
        .unwrap();
    create(&*store, labelled("dev", &[("env", "dev")]))
        .await
        .unwrap();
    resource(&*store, "c2", Some("web")).await;

    let list = |filter: ResourceFilter| {
        let store = store.clone();
        async move { store.list_resources(&filter, first_page()).await.unwrap() }
    };
    let by_labels = |pairs: &[(&str, &str)]| ResourceFilter {
        labels: labels(pairs),
        ..Default::default()
    };
    assert_eq!(
        names(&list(by_labels(&[("env", "prod")])).await.items),
        ["web", "db"]
    );
    let both = list(by_labels(&web_labels)).await;
    assert_eq!(
        (both.total, names(&both.items)),
        (1, vec!["web".to_owned()])
    );
    assert_eq!(list(by_labels(&[("env", "staging")])).await.total, 0);
    assert_eq!(
        list(by_labels(&[("app", "prod")])).await.total,
        0,
        "key matters"
    );
    let by_name = list(ResourceFilter {
        name: Some("web".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(by_name.total, 2, "web on c1 and on c2");
    let on_c2 = list(ResourceFilter {
        consumer_name: Some("c2".into()),
        name: Some("web".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(
        (on_c2.total, on_c2.items[0].consumer_name.as_str()),
        (1, "c2")
    );
    assert_eq!(list(ResourceFilter::default()).await.total, 4);
}

async fn lists_page_and_order(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let mut b = None;
    for name in [Some("b"), Some("a"), Some("c"), None] {
        let r = resource(&*store, "c1", name).await;
        if name == Some("b") {
            b = Some(r);
        }
    }
    let all = ResourceFilter::default();
    let names_of = |order_by, direction, n, size| {
        let (store, all) = (store.clone(), all.clone());
        async move {
            let p = store
                .list_resources(&all, page(n, size, order_by, direction))
                .await
                .unwrap();
            assert_eq!(p.total, 4, "total counts every match, not the page");
            names(&p.items)
        }
    };
    assert_eq!(
        names_of(OrderBy::CreatedAt, Direction::Asc, 1, 10).await,
        ["b", "a", "c", "-"]
    );
    assert_eq!(
        names_of(OrderBy::CreatedAt, Direction::Desc, 1, 10).await,
        ["-", "c", "a", "b"]
    );
    assert_eq!(
        names_of(OrderBy::Name, Direction::Asc, 1, 10).await,
        ["a", "b", "c", "-"]
    );
    assert_eq!(
        names_of(OrderBy::Name, Direction::Desc, 1, 10).await,
        ["c", "b", "a", "-"]
    );
    assert_eq!(
        names_of(OrderBy::CreatedAt, Direction::Asc, 2, 3).await,
        ["-"]
    );
    assert!(
        names_of(OrderBy::CreatedAt, Direction::Asc, 3, 2)
            .await
            .is_empty()
    );
    let b = b.unwrap();
    store.update_resource(b.id, 1, spec("v2")).await.unwrap();
    assert_eq!(
        names_of(OrderBy::UpdatedAt, Direction::Asc, 1, 10).await,
        ["a", "c", "-", "b"]
    );
}

async fn updates_check_the_version_and_identical_specs_change_nothing(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    let Updated {
        value: same,
        changed,
    } = store.update_resource(r.id, 1, spec("v1")).await.unwrap();
    assert!(!changed);
    assert_eq!(
        same, r,
        "an identical spec touches nothing, not even updated_at"
    );
    let Updated { value: v2, changed } = store.update_resource(r.id, 1, spec("v2")).await.unwrap();
    assert!(changed);
    assert_eq!((v2.version, &v2.spec), (2, &spec("v2")));
    assert!(v2.updated_at > r.updated_at && v2.created_at == r.created_at);
    assert!(matches!(
        store.update_resource(r.id, 1, spec("v3")).await,
        Err(StoreError::VersionConflict {
            expected: 1,
            current: 2,
            ..
        })
    ));
    assert!(matches!(
        store
            .update_resource(uuid::Uuid::new_v4(), 1, spec("v3"))
            .await,
        Err(StoreError::ResourceNotFound(_))
    ));
    assert_eq!(store.get_resource(r.id).await.unwrap(), v2);
}

async fn concurrent_updates_of_one_version_let_exactly_one_win(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    let attempts = (0..8).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.update_resource(r.id, 1, spec(&format!("w{i}"))).await })
    });
    let mut won = 0;
    for attempt in futures::future::join_all(attempts).await {
        match attempt.unwrap() {
            Ok(updated) => won += usize::from(updated.changed),
            Err(StoreError::VersionConflict { .. }) => {}
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(store.get_resource(r.id).await.unwrap().version, 2);
}

async fn deletes_mark_the_resource_once_and_refuse_later_updates(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let r = resource(&*store, "c1", None).await;
    store.mark_published(&[(r.id, 1, false)]).await.unwrap();
    assert_eq!(store.pending_count().await.unwrap(), 0);
    let deleted = store.delete_resource(r.id).await.unwrap();
    let first = deleted.deleted_at.expect("marked deleting");
    assert_eq!(deleted.version, 1, "a delete is not a spec change");
    assert_eq!(
        store.pending_count().await.unwrap(),
        1,
        "the delete awaits publication"
    );
    let again = store.delete_resource(r.id).await.unwrap();
    assert_eq!(
        again.deleted_at,
        Some(first),
        "idempotent: the first time stays"
    );
    assert!(matches!(
        store.update_resource(r.id, 1, spec("v2")).await,
        Err(StoreError::ResourceDeleting(_))
    ));
    assert!(matches!(
        store.delete_resource(uuid::Uuid::new_v4()).await,
        Err(StoreError::ResourceNotFound(_))
    ));
}

async fn a_consumer_with_resources_cannot_be_deleted(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let key = ConsumerKey::Name("c1".into());
    let rs = [
        resource(&*store, "c1", None).await,
        resource(&*store, "c1", None).await,
    ];
    assert!(matches!(
        store.delete_consumer(&key).await,
        Err(StoreError::ConsumerInUse(name, 2)) if name == "c1"
    ));
    for r in &rs {
        store.delete_resource(r.id).await.unwrap();
    }
    // Never reported on: each row goes once its delete is published.
    let published: Vec<_> = rs.iter().map(|r| (r.id, 1, true)).collect();
    store.mark_published(&published).await.unwrap();
    store.delete_consumer(&key).await.unwrap();
    assert!(matches!(
        store.get_consumer(&key).await,
        Err(StoreError::ConsumerNotFound(_))
    ));
    assert!(matches!(
        store.delete_consumer(&key).await,
        Err(StoreError::ConsumerNotFound(_))
    ));
}

async fn resources_of_lists_one_consumer_or_all(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    for c in ["c1", "c2"] {
        store.create_consumer(new_consumer(c)).await.unwrap();
    }
    let one = resource(&*store, "c1", None).await;
    resource(&*store, "c2", None).await;
    let of_c1 = store.resources_of(Some("c1")).await.unwrap();
    assert_eq!(of_c1, vec![one]);
    assert_eq!(store.resources_of(None).await.unwrap().len(), 2);
    assert!(store.resources_of(Some("c3")).await.unwrap().is_empty());
}

/// A resource keeps the source that created it (none for a REST create), read back by get, list
/// and `resources_of`, alone or in a batch; a source filter lists what that source owns, the
/// hub's own source id also owning the REST creates.
async fn resources_keep_their_source_and_list_by_owner(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let owned = |name: &str, source: Option<&str>| NewResource {
        source: source.map(str::to_owned),
        ..new_resource("c1", Some(name), spec("v1"))
    };
    let one = create(&*store, owned("alone", Some("maestro-a")))
        .await
        .unwrap();
    assert_eq!(one.source.as_deref(), Some("maestro-a"));
    let batch = store
        .create_resources(vec![
            owned("a", Some("maestro-a")),
            owned("b", Some("maestro-b")),
            owned("rest", None),
            owned("hub", Some("hub")),
        ])
        .await;
    let sources: Vec<Option<String>> = batch.into_iter().map(|r| r.unwrap().source).collect();
    assert_eq!(
        sources,
        [Some("maestro-a"), Some("maestro-b"), None, Some("hub")].map(|s| s.map(str::to_owned))
    );
    assert_eq!(store.get_resource(one.id).await.unwrap(), one);

    let owned_by = |source: &str| {
        let store = store.clone();
        let filter = ResourceFilter {
            source: Some(SourceFilter::owned_by(source, "hub")),
            ..Default::default()
        };
        async move {
            names(
                &store
                    .list_resources(&filter, first_page())
                    .await
                    .unwrap()
                    .items,
            )
        }
    };
    assert_eq!(owned_by("maestro-a").await, ["alone", "a"]);
    assert_eq!(owned_by("maestro-b").await, ["b"]);
    // One batch shares a `created_at`: its rows list in id order, which is random.
    let mut hubs = owned_by("hub").await;
    hubs.sort();
    assert_eq!(hubs, ["hub", "rest"], "REST creates are the hub's");
    assert!(owned_by("maestro-c").await.is_empty());
    let not_hub = ResourceFilter {
        source: Some(SourceFilter {
            source: "maestro-b".into(),
            or_unowned: false,
        }),
        consumer_name: Some("c1".into()),
        ..Default::default()
    };
    let listed = store.list_resources(&not_hub, first_page()).await.unwrap();
    assert_eq!(
        (listed.total, listed.items[0].source.as_deref()),
        (1, Some("maestro-b"))
    );
    let all = store.resources_of(Some("c1")).await.unwrap();
    assert_eq!(all.iter().filter(|r| r.source.is_none()).count(), 1);
}

backend_tests!(
    resources_keep_their_source_and_list_by_owner,
    consumers_have_unique_names_and_are_found_by_id_or_name,
    resources_start_at_version_1_pending_publication,
    resource_names_are_unique_per_consumer,
    lists_filter_by_consumer_name_and_labels,
    lists_page_and_order,
    updates_check_the_version_and_identical_specs_change_nothing,
    concurrent_updates_of_one_version_let_exactly_one_win,
    deletes_mark_the_resource_once_and_refuse_later_updates,
    a_consumer_with_resources_cannot_be_deleted,
    resources_of_lists_one_consumer_or_all,
);
