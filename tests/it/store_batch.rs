//! Store conformance, batched creates (`Store::create_resources`, the hub's group commit):
//! a batch creates what a row-by-row create would, each row with its own result, on both
//! backends.

use baton::store::StoreError;

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{fresh, new_consumer, new_resource, resource, spec};

async fn a_batch_creates_each_row_or_gives_it_its_own_error(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    for c in ["c1", "c2"] {
        store.create_consumer(new_consumer(c)).await.unwrap();
    }
    resource(&*store, "c1", Some("taken")).await;
    let batch = vec![
        new_resource("c1", Some("a"), spec("a")),
        new_resource("nobody", Some("b"), spec("b")),
        new_resource("c1", Some("taken"), spec("c")),
        new_resource("c2", None, spec("d")),
        new_resource("c2", Some("twice"), spec("e")),
        new_resource("c2", Some("twice"), spec("f")),
    ];
    let results = store.create_resources(batch).await;
    assert_eq!(results.len(), 6);
    let a = results[0].as_ref().expect("a is created");
    assert_eq!((a.name.as_deref(), a.version), (Some("a"), 1));
    assert_eq!(a.spec, spec("a"), "answered with the request's spec");
    assert_eq!(
        store.get_resource(a.id).await.unwrap(),
        *a,
        "stored as answered"
    );
    assert!(matches!(&results[1], Err(StoreError::ConsumerNotFound(n)) if n == "nobody"));
    assert!(
        matches!(&results[2], Err(StoreError::ResourceNameTaken { name, .. }) if name == "taken")
    );
    assert!(results[3].is_ok() && results[4].is_ok());
    assert!(
        matches!(&results[5], Err(StoreError::ResourceNameTaken { name, .. }) if name == "twice")
    );
    assert_eq!(
        store.pending_count().await.unwrap(),
        4,
        "the earlier `taken`, a, d and the first `twice`: nothing half-written"
    );
}

async fn a_batch_without_conflicts_is_created_in_order(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let batch = (0..10)
        .map(|i| new_resource("c1", Some(&format!("r{i}")), spec(&i.to_string())))
        .collect();
    let created: Vec<_> = store
        .create_resources(batch)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    for (i, r) in created.iter().enumerate() {
        assert_eq!(r.name.as_deref(), Some(format!("r{i}").as_str()));
        assert_eq!(
            store.get_resource(r.id).await.unwrap().spec,
            spec(&i.to_string())
        );
    }
    let unnamed = store
        .create_resources(vec![new_resource("nobody", None, spec("x"))])
        .await;
    assert!(matches!(
        &unnamed[..],
        [Err(StoreError::ConsumerNotFound(_))]
    ));
    assert_eq!(store.pending_count().await.unwrap(), 10);
}

backend_tests!(
    a_batch_creates_each_row_or_gives_it_its_own_error,
    a_batch_without_conflicts_is_created_in_order,
);
