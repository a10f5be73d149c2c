//! Test fixtures for the hub: a fresh database per test on either backend (a PostgreSQL
//! database on the server the test command starts, or a SQLite file in a temporary data
//! directory), and the REST API served on a loopback port. [`backend_tests!`] runs a test on
//! both backends.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use baton::hub::api;
use baton::hub::metrics::HubMetrics;
use baton::hub::state::{AppState, Connections, NoConnections};
use baton::store::Store;
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;
use tokio::sync::OnceCell;

pub use crate::rest::Rest;
use crate::support::database_url;

static CLEANED: OnceCell<()> = OnceCell::const_new();

/// Which [`Store`] implementation a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// Turns each `async fn NAME(backend: Backend)` of the calling module into two tests,
/// `postgres::NAME` and `sqlite::NAME`.
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::harness::Backend::Postgres).await
            })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $name() {
                super::$name($crate::harness::Backend::Sqlite).await
            })*
        }
    };
}
pub(crate) use backend_tests;

/// A database of its own for one test, created empty. Clones name the same database (to
/// reopen it, as a restarted hub does); a SQLite data directory goes with the last clone.
#[derive(Clone)]
pub struct TestDb {
    pub backend: Backend,
    /// Postgres: the database URL. SQLite: empty (the store opens the data directory).
    pub url: String,
    pub name: String,
    data_dir: Option<Arc<TempDir>>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Self::postgres().await,
            Backend::Sqlite => Self {
                backend,
                url: String::new(),
                name: "baton.db".into(),
                data_dir: Some(Arc::new(tempfile::tempdir().unwrap())),
            },
        }
    }

    async fn postgres() -> Self {
        let admin_url = database_url();
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL (run scripts/services)");
        CLEANED
            .get_or_init(|| async {
                // Databases left by earlier runs, more than an hour old (other test processes
                // may be running now: their databases are younger).
                let names: Vec<String> = sqlx::query_scalar(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'baton_test_%'",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap();
                let hour_ago = chrono::Utc::now().timestamp() - 3600;
                let created = |name: &str| {
                    let rest = name.trim_start_matches("baton_test_");
                    rest.split('_').next().and_then(|t| t.parse::<i64>().ok())
                };
                let stale = names
                    .into_iter()
                    .filter(|n| created(n).is_none_or(|t| t < hour_ago));
                for name in stale {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                }
            })
            .await;
        let name = format!(
            "baton_test_{}_{}",
            chrono::Utc::now().timestamp(),
            uuid::Uuid::new_v4().simple()
        );
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url.rsplit_once('/').unwrap().0;
        Self {
            backend: Backend::Postgres,
            url: format!("{base}/{name}"),
            name,
            data_dir: None,
        }
    }

    /// The SQLite data directory (`None` on Postgres).
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref().map(TempDir::path)
    }

    /// Opens the store the way `baton serve` does (`store::open`) and migrates it.
    pub async fn store(&self) -> Arc<dyn Store> {
        let url = (!self.url.is_empty()).then_some(self.url.as_str());
        let dir = self.data_dir().unwrap_or(Path::new("/nonexistent"));
        let store = baton::store::open(url, dir, 5).await.unwrap();
        store.migrate().await.unwrap();
        store
    }
}

/// The REST API alone (no transport) on a loopback port; its [`Rest`] client helpers are
/// reached through `Deref`.
pub struct TestApi {
    pub rest: Rest,
    pub store: Arc<dyn Store>,
    pub state: AppState,
    pub db: TestDb,
}

impl TestApi {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, Arc::new(NoConnections), None).await
    }

    pub async fn spawn_with(
        backend: Backend,
        connections: Arc<dyn Connections>,
        tokens: api::ApiTokens,
    ) -> Self {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let state = AppState::new(store.clone(), connections, Arc::new(HubMetrics::new()));
        Self::serve(api::router(state.clone(), tokens), state, store, db).await
    }

    /// Serves `app` on a loopback port.
    pub async fn serve(
        app: axum::Router,
        state: AppState,
        store: Arc<dyn Store>,
        db: TestDb,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rest = Rest::new(format!("http://{}", listener.local_addr().unwrap()));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            rest,
            store,
            state,
            db,
        }
    }
}

impl std::ops::Deref for TestApi {
    type Target = Rest;
    fn deref(&self) -> &Rest {
        &self.rest
    }
}

/// A bundle with one ConfigMap whose data carries `value`.
pub fn configmap(value: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "web-config", "namespace": "default" },
        "data": { "value": value }
    })
}

pub fn resource_body(consumer: &str, name: Option<&str>, value: &str) -> serde_json::Value {
    let mut body =
        serde_json::json!({ "consumer_name": consumer, "manifests": [configmap(value)] });
    if let Some(name) = name {
        body["name"] = name.into();
    }
    body
}

/// A whole hub (REST API, publisher, status writer, source client) over a given transport.
pub struct TestHub {
    pub api: TestApi,
    pub service: baton::hub::service::HubService,
}

impl TestHub {
    pub async fn start(db: TestDb, transport: Arc<dyn baton::cloudevents::Transport>) -> Self {
        let options = baton::hub::service::HubOptions {
            source_id: "baton".into(),
            ..Default::default()
        };
        Self::start_with(db, transport, options).await
    }

    pub async fn start_with(
        db: TestDb,
        transport: Arc<dyn baton::cloudevents::Transport>,
        options: baton::hub::service::HubOptions,
    ) -> Self {
        let store = db.store().await;
        let service = baton::hub::service::HubService::start(
            store.clone(),
            transport,
            Arc::new(NoConnections),
            Arc::new(HubMetrics::new()),
            options,
        )
        .await
        .unwrap();
        let api = TestApi::serve(service.router(None), service.state().clone(), store, db).await;
        Self { api, service }
    }

    /// The resource as the API shows it, or `None` once it is gone (404).
    pub async fn resource(&self, id: &str) -> Option<serde_json::Value> {
        let (status, body) = self.api.get(&format!("/api/v1/resources/{id}")).await;
        match status {
            200 => Some(body),
            404 => None,
            other => panic!("GET resource {id}: {other} {body}"),
        }
    }

    /// True when the resource's reported status says Applied=`want` for its current version.
    pub async fn applied(&self, id: &str, want: &str) -> bool {
        let Some(resource) = self.resource(id).await else {
            return false;
        };
        let version = resource["version"].as_i64();
        resource["status"]["conditions"]
            .as_array()
            .is_some_and(|conditions| {
                conditions.iter().any(|c| {
                    c["type"] == "Applied"
                        && c["status"] == want
                        && c["observedGeneration"].as_i64() == version
                })
            })
    }
}
