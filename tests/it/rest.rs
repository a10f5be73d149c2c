//! [`Rest`]: a client of the hub's REST API at a base URL, with the helpers tests share. It
//! holds no store, so it also drives a `baton serve` process that owns its database.

use crate::harness::resource_body;

pub struct Rest {
    pub base: String,
    pub http: reqwest::Client,
}

impl Rest {
    pub fn new(base: String) -> Self {
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// A new connection per request: a kept-alive connection that the server side closes just
    /// as a request is written on it fails that request (hyper's `IncompleteMessage`), which a
    /// load balancer draining a replica does at any moment.
    pub fn without_keep_alive(base: String) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        Self { base, http }
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

    /// A request that may find no server (a replica going away): the transport error as
    /// text instead of a panic.
    pub async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(|e| format!("{e:?}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("{e:?}"))?;
        Ok((status, serde_json::from_str(&text).unwrap_or_default()))
    }

    pub async fn try_post(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(u16, serde_json::Value), String> {
        self.try_send(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn try_put(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> Result<(u16, serde_json::Value), String> {
        self.try_send(reqwest::Method::PUT, path, Some(body)).await
    }

    pub async fn try_delete(&self, path: &str) -> Result<(u16, serde_json::Value), String> {
        self.try_send(reqwest::Method::DELETE, path, None).await
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

    /// Creates a resource like [`Rest::resource`] and returns its id.
    pub async fn resource_id(&self, consumer: &str, name: Option<&str>) -> String {
        self.resource(consumer, name).await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        response.text().await.unwrap()
    }
}
