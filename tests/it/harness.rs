//! Test fixtures for the hub: a fresh PostgreSQL database per test (on the server the test
//! command starts), and the REST API served on a loopback port.

#![allow(dead_code)]

use std::sync::Arc;

use baton::hub::api;
use baton::hub::metrics::HubMetrics;
use baton::hub::state::{AppState, Connections, NoConnections};
use baton::store::Store;
use baton::store::postgres::PgStore;
use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

use crate::support::database_url;

static CLEANED: OnceCell<()> = OnceCell::const_new();

/// A database of its own for one test; created empty and migrated.
pub struct TestDb {
    pub url: String,
    pub name: String,
}

impl TestDb {
    pub async fn new() -> Self {
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
            url: format!("{base}/{name}"),
            name,
        }
    }

    pub async fn store(&self) -> Arc<PgStore> {
        let store = PgStore::connect(&self.url, 5).await.unwrap();
        store.migrate().await.unwrap();
        Arc::new(store)
    }
}

/// The REST API alone (no transport) on a loopback port.
pub struct TestApi {
    pub base: String,
    pub http: reqwest::Client,
    pub store: Arc<PgStore>,
    pub state: AppState,
    pub db: TestDb,
}

impl TestApi {
    pub async fn spawn() -> Self {
        Self::spawn_with(Arc::new(NoConnections), None).await
    }

    pub async fn spawn_with(connections: Arc<dyn Connections>, tokens: api::ApiTokens) -> Self {
        let db = TestDb::new().await;
        let store = db.store().await;
        let state = AppState::new(store.clone(), connections, Arc::new(HubMetrics::new()));
        Self::serve(api::router(state.clone(), tokens), state, store, db).await
    }

    /// Serves `app` on a loopback port.
    pub async fn serve(
        app: axum::Router,
        state: AppState,
        store: Arc<PgStore>,
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
