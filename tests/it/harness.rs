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
                // Databases left by earlier runs; this run's are created after this point.
                let stale: Vec<String> = sqlx::query_scalar(
                    "SELECT datname FROM pg_database WHERE datname LIKE 'baton_test_%'",
                )
                .fetch_all(&mut admin)
                .await
                .unwrap();
                for name in stale {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                        .execute(&mut admin)
                        .await;
                }
            })
            .await;
        let name = format!("baton_test_{}", uuid::Uuid::new_v4().simple());
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

/// The REST API alone (no transport) on a loopback port.
pub struct TestApi {
    pub base: String,
    pub http: reqwest::Client,
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
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self {
            base,
            http: reqwest::Client::new(),
            store,
            state,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .put(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let response = self
            .http
            .patch(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        Self::read(response).await
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.get(self.url(path)).send().await.unwrap();
        Self::read(response).await
    }

    pub async fn delete(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self.http.delete(self.url(path)).send().await.unwrap();
        Self::read(response).await
    }

    pub async fn read(response: reqwest::Response) -> (u16, serde_json::Value) {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        };
        (status, body)
    }

    /// Registers a consumer and returns its id.
    pub async fn consumer(&self, name: &str) -> String {
        let (status, body) = self
            .post("/api/v1/consumers", serde_json::json!({ "name": name }))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Creates a resource with one ConfigMap and returns its view.
    pub async fn resource(&self, consumer: &str, name: Option<&str>) -> serde_json::Value {
        let (status, body) = self
            .post("/api/v1/resources", resource_body(consumer, name, "v1"))
            .await;
        assert_eq!(status, 201, "{body}");
        body
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
        let store = db.store().await;
        let service = baton::hub::service::HubService::start(
            store.clone(),
            transport,
            Arc::new(NoConnections),
            Arc::new(HubMetrics::new()),
            baton::hub::service::HubOptions {
                source_id: "baton".into(),
                ..Default::default()
            },
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
