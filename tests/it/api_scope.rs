//! Scoped REST access (issue 20): token roles, consumer label selectors and JWTs, checked on
//! every operation of the OpenAPI document, so that a route added later cannot skip the gate.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use baton::hub::api::auth::{ApiAuth, JwtSettings, JwtVerifier, Principal, Role};
use baton::hub::state::NoConnections;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, TestApi, backend_tests, resource_body};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "baton";

/// A signing key and the JWKS file that publishes its public half.
struct Issuer {
    key: jsonwebtoken::EncodingKey,
    _dir: tempfile::TempDir,
    jwks: std::path::PathBuf,
}

impl Issuer {
    fn new() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let point = pair.public_key_raw(); // 0x04 || x || y
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        }]});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks.to_string()).unwrap();
        Self {
            key: jsonwebtoken::EncodingKey::from_ec_der(&pair.serialize_der()),
            _dir: dir,
            jwks: path,
        }
    }

    fn verifier(&self) -> JwtVerifier {
        JwtVerifier::load(&JwtSettings {
            jwks_file: self.jwks.clone(),
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            role_claim: "baton_role".into(),
            scope_claim: "baton_scope".into(),
        })
        .unwrap()
    }

    /// A token; `expires_in` seconds from now (negative: already expired).
    fn token(&self, audience: &str, role: &str, scope: Option<&str>, expires_in: i64) -> String {
        let mut claims = json!({
            "iss": ISSUER, "aud": audience, "sub": "someone",
            "exp": chrono::Utc::now().timestamp() + expires_in,
            "baton_role": role,
        });
        if let Some(scope) = scope {
            claims["baton_scope"] = json!(scope);
        }
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        jsonwebtoken::encode(&header, &claims, &self.key).unwrap()
    }
}

fn principal(role: Role, scope: &[(&str, &str)]) -> Principal {
    Principal {
        role,
        scope: scope
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

/// An API with static tokens of each kind and the issuer's JWTs; a consumer and a resource
/// on each of `dev-1` (env=dev) and `prod-1` (env=prod).
struct Fixture {
    api: TestApi,
    issuer: Issuer,
    dev_resource: String,
    prod_resource: String,
}

impl Fixture {
    async fn new(backend: Backend) -> Self {
        let issuer = Issuer::new();
        let tokens = [
            ("admin", principal(Role::Admin, &[])),
            ("reader", principal(Role::Read, &[])),
            ("writer", principal(Role::Write, &[])),
            ("dev-admin", principal(Role::Admin, &[("env", "dev")])),
            ("dev-reader", principal(Role::Read, &[("env", "dev")])),
        ];
        let auth = ApiAuth {
            tokens: tokens.into_iter().map(|(t, p)| (t.to_owned(), p)).collect(),
            jwt: Some(issuer.verifier()),
        };
        let api = TestApi::spawn_with(backend, Arc::new(NoConnections), Some(Arc::new(auth))).await;
        let mut fixture = Self {
            api,
            issuer,
            dev_resource: String::new(),
            prod_resource: String::new(),
        };
        for (name, env) in [("dev-1", "dev"), ("prod-1", "prod")] {
            let (status, body) = fixture
                .call(
                    "admin",
                    Method::POST,
                    "/api/v1/consumers",
                    Some(json!({"name": name, "labels": {"env": env}})),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        fixture.dev_resource = fixture.create_resource("admin", "dev-1").await.1["id"]
            .as_str()
            .unwrap()
            .to_owned();
        fixture.prod_resource = fixture.create_resource("admin", "prod-1").await.1["id"]
            .as_str()
            .unwrap()
            .to_owned();
        fixture
    }

    async fn create_resource(&self, token: &str, consumer: &str) -> (u16, Value) {
        let body = resource_body(consumer, None, "v1");
        self.call(token, Method::POST, "/api/v1/resources", Some(body))
            .await
    }

    async fn call(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.api.http.request(method, self.api.url(path));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Every operation of the OpenAPI document, its path filled in to address `consumer`
    /// and `resource`, with a body that would be valid for it.
    fn operations(&self, consumer: &str, resource: &str) -> Vec<(Method, String, Option<Value>)> {
        let doc: Value = serde_json::from_str(&baton::hub::api::openapi_json()).unwrap();
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().unwrap() {
            for (method, _) in item.as_object().unwrap() {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                let mut path = Vec::new();
                let mut before = "";
                for segment in template.split('/') {
                    if segment.starts_with('{') {
                        path.push(if before == "consumers" {
                            consumer
                        } else {
                            resource
                        });
                    } else {
                        path.push(segment);
                    }
                    before = segment;
                }
                let path = path.join("/");
                let body = match (method.as_str(), template.as_str()) {
                    ("POST", "/api/v1/consumers") => {
                        Some(json!({"name": "new-one", "labels": {"env": "prod"}}))
                    }
                    ("POST", "/api/v1/resources") => Some(resource_body(consumer, None, "v2")),
                    ("PUT", _) => {
                        let mut body = resource_body(consumer, None, "v2");
                        body["version"] = json!(1);
                        Some(body)
                    }
                    ("PATCH", _) => Some(json!({"labels": {"env": "prod", "x": "y"}})),
                    ("GET" | "DELETE", _) => None,
                    _ => Some(json!({})),
                };
                operations.push((method, path, body));
            }
        }
        assert!(operations.len() >= 10, "{operations:?}");
        operations
    }
}

async fn every_operation_refuses_missing_expired_and_wrong_audience_tokens(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let expired = fx.issuer.token(AUDIENCE, "admin", None, -3600);
    let wrong_audience = fx.issuer.token("someone-else", "admin", None, 600);
    let other_issuer = Issuer::new().token(AUDIENCE, "admin", None, 600);
    for (method, path, body) in fx.operations("prod-1", &fx.prod_resource) {
        for token in ["", "not-a-token", &expired, &wrong_audience, &other_issuer] {
            let (status, reply) = fx.call(token, method.clone(), &path, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {reply}");
            // Maestro's paths answer in Maestro's error shape (its number 15).
            let code = if path.starts_with("/api/maestro/") {
                "maestro-15"
            } else {
                "unauthorized"
            };
            assert_eq!(reply["code"], code, "{method} {path}");
        }
    }
    // The same routes answer a valid JWT.
    let valid = fx.issuer.token(AUDIENCE, "read", None, 600);
    let (status, body) = fx
        .call(
            &valid,
            Method::GET,
            &format!("/api/v1/resources/{}", fx.prod_resource),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn scoped_tokens_reach_only_their_consumers_on_every_operation(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let jwt = fx.issuer.token(AUDIENCE, "admin", Some("env=dev"), 600);
    for token in ["dev-admin", jwt.as_str()] {
        for (method, path, body) in fx.operations("prod-1", &fx.prod_resource) {
            let (status, reply) = fx.call(token, method.clone(), &path, body).await;
            let addressed = path.contains("prod-1") || path.contains(&fx.prod_resource);
            let what = format!("{method} {path}: {reply}");
            match (method.as_str(), addressed) {
                ("GET", true) => assert_eq!(status, 404, "{what}"),
                (_, true) => assert_eq!(status, 403, "{what}"),
                // A collection: out-of-reach items are left out, or the operation is refused.
                ("GET", false) => {
                    assert!(status == 200 || status == 403, "{what}");
                    assert!(!reply.to_string().contains("prod-1"), "{what}");
                    assert!(!reply.to_string().contains(&fx.prod_resource), "{what}");
                }
                (_, false) => assert_eq!(status, 403, "{what}"),
            }
        }
        // Within reach, the same operations are not refused.
        for (method, path, body) in fx.operations("dev-1", &fx.dev_resource) {
            let body = body.map(|mut b| {
                if b.get("labels").is_some() && b.get("manifests").is_none() {
                    b["labels"]["env"] = json!("dev");
                    if b.get("name").is_some() {
                        b["name"] = json!(format!("dev-{}", uuid::Uuid::new_v4().simple()));
                    }
                }
                b
            });
            let (status, reply) = fx.call(token, method.clone(), &path, body).await;
            assert!(
                ![401, 403, 404].contains(&status),
                "{method} {path} within reach: {status} {reply}"
            );
        }
    }
    // Lists hold what is in reach.
    let (_, list) = fx
        .call("dev-reader", Method::GET, "/api/v1/resources", None)
        .await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["consumer_name"] == "dev-1")
    );
    assert!(list["total"].as_i64().unwrap() >= 1, "{list}");
    let (_, list) = fx
        .call("dev-reader", Method::GET, "/api/v1/consumers", None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert!(items.iter().all(|c| c["labels"]["env"] == "dev"), "{list}");
    assert!(items.iter().any(|c| c["name"] == "dev-1"), "{list}");
    assert_eq!(list["total"], items.len(), "{list}");
}

async fn roles_limit_what_a_token_may_do(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let read_jwt = fx.issuer.token(AUDIENCE, "read", None, 600);
    for reader in ["reader", read_jwt.as_str()] {
        let (status, _) = fx
            .call(reader, Method::GET, "/api/v1/resources", None)
            .await;
        assert_eq!(status, 200);
        let (status, body) = fx.create_resource(reader, "dev-1").await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["code"], "forbidden");
    }
    let (status, body) = fx.create_resource("writer", "prod-1").await;
    assert_eq!(status, 201, "{body}");
    let consumer = json!({"name": "by-writer", "labels": {}});
    let (status, _) = fx
        .call(
            "writer",
            Method::POST,
            "/api/v1/consumers",
            Some(consumer.clone()),
        )
        .await;
    assert_eq!(status, 403, "consumers need an admin");
    let (status, _) = fx
        .call("admin", Method::POST, "/api/v1/consumers", Some(consumer))
        .await;
    assert_eq!(status, 201);
    // A scoped admin cannot move a consumer out of its reach, nor create one outside it.
    let (status, _) = fx
        .call(
            "dev-admin",
            Method::PATCH,
            "/api/v1/consumers/dev-1",
            Some(json!({"labels": {"env": "prod"}})),
        )
        .await;
    assert_eq!(status, 403);
    // /metrics shows the whole fleet: unscoped admins only; health stays open.
    assert_eq!(fx.call("", Method::GET, "/metrics", None).await.0, 401);
    assert_eq!(
        fx.call("reader", Method::GET, "/metrics", None).await.0,
        403
    );
    assert_eq!(
        fx.call("dev-admin", Method::GET, "/metrics", None).await.0,
        403
    );
    assert_eq!(fx.call("admin", Method::GET, "/metrics", None).await.0, 200);
    assert_eq!(fx.call("", Method::GET, "/healthz", None).await.0, 200);
    assert_ne!(fx.call("", Method::GET, "/readyz", None).await.0, 401);
}

async fn a_scoped_watch_streams_only_resources_in_reach(backend: Backend) {
    let fx = Fixture::new(backend).await;
    let response = fx
        .api
        .http
        .get(fx.api.url("/api/v1/resources?watch=true"))
        .bearer_auth("dev-reader")
        .send()
        .await
        .unwrap();
    let mut watch = crate::watch::SseReader::new(response);
    // The out-of-reach change comes first in the feed: the watch must pass over it.
    assert_eq!(fx.create_resource("admin", "prod-1").await.0, 201);
    let (status, dev) = fx.create_resource("admin", "dev-1").await;
    assert_eq!(status, 201);
    // "From now" is from the pump's last event: the fixture's own creates may come first.
    loop {
        let event = watch.next(std::time::Duration::from_secs(10)).await;
        assert_eq!(event.event, "ADDED");
        assert_eq!(event.data["consumer_name"], "dev-1", "{:?}", event.data);
        if event.data["object"]["id"] == dev["id"] {
            break;
        }
    }
}

backend_tests!(
    a_scoped_watch_streams_only_resources_in_reach,
    every_operation_refuses_missing_expired_and_wrong_audience_tokens,
    scoped_tokens_reach_only_their_consumers_on_every_operation,
    roles_limit_what_a_token_may_do,
);
