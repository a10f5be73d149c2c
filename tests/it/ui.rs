//! The web UI as the hub serves it (`/ui/`, src/hub/api/ui.rs): the committed build in
//! `ui/dist`, its content types and caching, relative URLs (a path prefix needs nothing), and
//! public assets next to a token-protected API. The browser end-to-end tests are in
//! `ui/e2e/` (scripts/ui-test).

use std::sync::Arc;

use baton::hub::state::NoConnections;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};

use crate::harness::{Backend, TestApi};

async fn hub_with_token() -> (TestApi, reqwest::Client) {
    let tokens = Arc::new(baton::hub::api::auth::ApiAuth::admin_tokens([
        "t0ken".to_owned()
    ]));
    let api = TestApi::spawn_with(Backend::Sqlite, Arc::new(NoConnections), Some(tokens)).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    (api, http)
}

/// The asset paths `index.html` loads (`./assets/...`).
fn asset_paths(index: &str) -> Vec<String> {
    index
        .split(['"', '\''])
        .filter_map(|s| s.strip_prefix("./assets/"))
        .map(|s| format!("assets/{s}"))
        .collect()
}

#[tokio::test]
async fn ui_is_served_with_relative_urls_and_cached_by_content_hash() {
    let (api, http) = hub_with_token().await;

    // `/ui` → `ui/`: relative, so `/prefix/ui` lands on `/prefix/ui/` behind a proxy.
    let res = http.get(format!("{}/ui", api.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(res.headers()[LOCATION], "ui/");

    let res = http.get(format!("{}/ui/", api.base)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "no token needed for the page");
    assert_eq!(res.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(res.headers()[CACHE_CONTROL], "no-cache");
    let etag = res.headers()[ETAG].clone();
    let index = res.text().await.unwrap();
    assert!(
        !index.contains("src=\"/") && !index.contains("href=\"/"),
        "{index}"
    );
    let assets = asset_paths(&index);
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{index}");
    assert!(assets.iter().any(|a| a.ends_with(".css")), "{index}");

    let again = http
        .get(format!("{}/ui/", api.base))
        .header(IF_NONE_MATCH, etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    for asset in &assets {
        let res = http
            .get(format!("{}/ui/{asset}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{asset}");
        assert_eq!(
            res.headers()[CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        let want = if asset.ends_with(".js") {
            "text/javascript; charset=utf-8"
        } else {
            "text/css; charset=utf-8"
        };
        assert_eq!(res.headers()[CONTENT_TYPE], want, "{asset}");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }

    // The data behind it still needs the token.
    let res = http
        .get(format!("{}/api/v1/consumers", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_ui_files_and_escapes_are_json_404s() {
    let (api, http) = hub_with_token().await;
    for path in [
        "/ui/nope.js",
        "/ui/assets/../../Cargo.toml",
        "/ui/%2e%2e/Cargo.toml",
        "/ui/..%2fCargo.toml",
    ] {
        let res = http
            .get(format!("{}{path}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json", "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("[package]"), "{path}: {body}");
    }
}
