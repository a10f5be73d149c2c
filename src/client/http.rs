//! [`Hub`]: the REST API over HTTP(S) with reqwest (rustls, the system's roots plus an optional
//! CA file), a bearer token, and the API's error bodies turned into [`ClientError`]s.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::args::ConnectArgs;
use super::config::{self, Target};
use super::error::ClientError;
use crate::hub::api::views::{ListView, ResourceView};
use crate::hub::error::ErrorBody;

/// One request's limit; watches have none (they stream until stopped).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The API's largest page.
const PAGE_SIZE: u32 = 1000;

pub struct Hub {
    http: reqwest::Client,
    server: String,
    token: Option<SecretString>,
    config_path: String,
}

impl Hub {
    /// A client for the hub the flags, environment and config file name.
    pub fn connect(conn: &ConnectArgs) -> Result<Self, ClientError> {
        Self::new(config::resolve(conn)?)
    }

    pub fn new(target: Target) -> Result<Self, ClientError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &target.certificate_authority {
            let pem = std::fs::read(ca).map_err(|e| ClientError::File {
                path: ca.clone(),
                message: e.to_string(),
            })?;
            let certificates =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::File {
                    path: ca.clone(),
                    message: format!("not a PEM certificate bundle: {e}"),
                })?;
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        let http = builder.build().map_err(|e| ClientError::Http {
            server: target.server.clone(),
            cause: e.to_string(),
        })?;
        Ok(Self {
            http,
            server: target.server,
            token: target.token,
            config_path: target.config_path.display().to_string(),
        })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// A request to `path` (from `/api/v1/...`) with the token.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.server));
        match &self.token {
            Some(token) => request.bearer_auth(token.expose_secret()),
            None => request,
        }
    }

    /// Sends and maps transport failures and error statuses to [`ClientError`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, ClientError> {
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| self.transport_error(&e))?;
        Err(match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => ClientError::Api {
                status,
                body: Box::new(body),
            },
            Err(_) => ClientError::Unexpected {
                server: self.server.clone(),
                status,
                text: text.chars().take(200).collect(),
            },
        })
    }

    /// Sends (with the per-request timeout) and decodes the JSON answer.
    pub async fn call<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        let response = self.send(request.timeout(REQUEST_TIMEOUT)).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(&e))?;
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Http {
            server: self.server.clone(),
            cause: format!("the answer is not the API's JSON: {e}"),
        })
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.call(self.request(Method::GET, path)).await
    }

    pub async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.call(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.call(self.request(Method::PUT, path).json(body)).await
    }

    pub async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        self.call(self.request(Method::PATCH, path).json(body))
            .await
    }

    /// DELETE; the answer's body (if any) is not needed.
    pub async fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.request(Method::DELETE, path).timeout(REQUEST_TIMEOUT))
            .await
            .map(drop)
    }

    /// Every page of a list, as one list (`query`: the list's filters).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<ListView<T>, ClientError> {
        let mut all: Option<ListView<T>> = None;
        for page in 1u32.. {
            let request = self
                .request(Method::GET, path)
                .query(query)
                .query(&[("page", page.to_string()), ("size", PAGE_SIZE.to_string())]);
            let mut list: ListView<T> = self.call(request).await?;
            let last = list.items.len() < PAGE_SIZE as usize;
            match &mut all {
                Some(all) => all.items.append(&mut list.items),
                None => all = Some(list),
            }
            if last {
                break;
            }
        }
        let mut all = all.ok_or_else(|| ClientError::Failed("no page".into()))?;
        all.page = 1;
        all.size = u32::try_from(all.items.len()).unwrap_or(u32::MAX);
        Ok(all)
    }

    /// The resources matching the query (every page).
    pub async fn resources(
        &self,
        query: &[(&str, String)],
    ) -> Result<ListView<ResourceView>, ClientError> {
        self.list_all(crate::hub::api::views::RESOURCES_PATH, query)
            .await
    }

    fn transport_error(&self, err: &reqwest::Error) -> ClientError {
        let cause = root_cause(err);
        if err.is_connect() {
            ClientError::Connect {
                server: self.server.clone(),
                cause,
                config: self.config_path.clone(),
            }
        } else {
            ClientError::Http {
                server: self.server.clone(),
                cause,
            }
        }
    }
}

/// The innermost error's text ("Connection refused (os error 111)"), the part that says why.
fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
