//! The load generator's REST client: consumers, creates (timed), listing page by page.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;

/// A client of one hub's `/api/v1`, or of several replicas' taken in turn.
#[derive(Clone)]
pub struct Rest {
    bases: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    http: reqwest::Client,
}

/// One resource as the list returns it: only what the scenarios read.
#[derive(Debug, Deserialize)]
pub struct Listed {
    pub id: uuid::Uuid,
    pub created_at: DateTime<Utc>,
    pub status_updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Page<T> {
    total: i64,
    items: Vec<T>,
}

impl Rest {
    pub fn new(base: &str) -> Self {
        Self::round_robin(&[base.to_owned()])
    }

    /// Each call goes to the next of `bases` (hub replicas on one database).
    pub fn round_robin(bases: &[String]) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .build()
            .unwrap_or_default();
        Self {
            bases: Arc::new(bases.to_vec()),
            next: Arc::new(AtomicUsize::new(0)),
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len().max(1);
        let base = self.bases.get(i).map_or("", String::as_str);
        format!("{base}/api/v1{path}")
    }

    /// Registers the consumers, 16 at a time.
    pub async fn create_consumers(&self, names: &[String]) -> anyhow::Result<()> {
        let results: Vec<anyhow::Result<()>> = futures::stream::iter(names)
            .map(|name| async move {
                let r = self
                    .http
                    .post(self.url("/consumers"))
                    .json(&serde_json::json!({ "name": name }))
                    .send()
                    .await?;
                if r.status() != 201 {
                    bail!(
                        "creating consumer {name}: {} {}",
                        r.status(),
                        r.text().await?
                    );
                }
                Ok(())
            })
            .buffer_unordered(16)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// One create; the time from sending to the 201 being read.
    pub async fn create(&self, body: bytes::Bytes) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let r = self
            .http
            .post(self.url("/resources"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = r.status();
        let _ = r.bytes().await?;
        let took = started.elapsed();
        if status != 201 {
            bail!("create answered {status}");
        }
        Ok(took)
    }

    /// Pages through a consumer's resources with `size` per page: (items, body bytes, pages).
    pub async fn page_through(
        &self,
        consumer: &str,
        size: u32,
    ) -> anyhow::Result<(usize, usize, u32)> {
        let (mut items, mut bytes, mut page) = (0usize, 0usize, 1u32);
        loop {
            let body = self
                .http
                .get(self.url(&format!(
                    "/resources?consumer_name={consumer}&size={size}&page={page}"
                )))
                .send()
                .await?
                .error_for_status()?
                .bytes()
                .await?;
            bytes += body.len();
            let listed: Page<serde::de::IgnoredAny> =
                serde_json::from_slice(&body).context("list page")?;
            items += listed.items.len();
            if listed.items.is_empty() || items as i64 >= listed.total {
                return Ok((items, bytes, page));
            }
            page += 1;
        }
    }

    /// Every resource (of `consumer`, or all) with its timestamps.
    pub async fn timestamps(&self, consumer: Option<&str>) -> anyhow::Result<Vec<Listed>> {
        let filter = consumer.map_or(String::new(), |c| format!("&consumer_name={c}"));
        let mut all = Vec::new();
        for page in 1.. {
            let listed: Page<Listed> = self
                .http
                .get(self.url(&format!("/resources?size=1000&page={page}{filter}")))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            let done = listed.items.is_empty();
            all.extend(listed.items);
            if done || all.len() as i64 >= listed.total {
                break;
            }
        }
        Ok(all)
    }
}
