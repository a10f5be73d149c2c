//! Resource ids given by the creator (a gRPC source names its resources, docs/maestro.md): kept
//! as given, alone or in a batch, and refused as `ResourceExists` when taken, on both stores.

use baton::store::{NewResource, StoreError};
use uuid::Uuid;

use crate::harness::{Backend, backend_tests};
use crate::store_fixtures::{create, fresh, new_consumer, new_resource, spec};

async fn a_given_id_is_kept_and_taken_only_once(backend: Backend) {
    let (_db, store) = fresh(backend).await;
    store.create_consumer(new_consumer("c1")).await.unwrap();
    let named = |id: Uuid, name: &str| NewResource {
        id: Some(id),
        ..new_resource("c1", Some(name), spec("v1"))
    };
    let id = Uuid::new_v4();
    assert_eq!(create(&*store, named(id, "one")).await.unwrap().id, id);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let batch = store
        .create_resources(vec![
            named(a, "a"),
            named(b, "b"),
            new_resource("c1", Some("c"), spec("v1")),
        ])
        .await;
    let ids: Vec<Uuid> = batch.into_iter().map(|r| r.unwrap().id).collect();
    assert_eq!(&ids[..2], &[a, b]);
    assert!(
        ![a, b, id].contains(&ids[2]),
        "a new id for the unnamed one"
    );
    match create(&*store, named(id, "other-name")).await {
        Err(StoreError::ResourceExists(taken)) => assert_eq!(taken, id),
        other => panic!("expected ResourceExists, got {other:?}"),
    }
    // In a batch, the taken id fails alone.
    let batch = store
        .create_resources(vec![named(a, "again"), named(Uuid::new_v4(), "fresh")])
        .await;
    assert!(matches!(batch[0], Err(StoreError::ResourceExists(taken)) if taken == a));
    assert!(batch[1].is_ok());
}

backend_tests!(a_given_id_is_kept_and_taken_only_once);
