//! The web UI at `/ui/`: the single-page application built from `ui/` (Vite, into `ui/dist`),
//! embedded in release builds and read from `ui/dist` at run time in debug builds
//! (rust-embed). Owns the UI's routes, content types, caching and security headers, and the
//! page that says how to build the assets when a build has none.
//! Must not serve API data or check tokens: the UI calls the API like any client, and its
//! files are public.
//!
//! Behind a path prefix nothing is configured: every URL the UI uses is relative to its page
//! (`/ui` redirects to `ui/`, assets load from `./assets/`, the API from `../api/v1/`), so a
//! proxy that strips `/baton` serves it at `/baton/ui/` unchanged.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::hub::error::ApiError;

/// The built UI. A checkout without `ui/dist` still builds; `/ui/` then explains.
#[derive(RustEmbed)]
#[folder = "ui/dist"]
#[allow_missing = true]
struct Assets;

/// Vite names these files by content hash: they never change under one name.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Everything else (index.html) is checked with its ETag on every load.
const REVALIDATE: &str = "no-cache";
const CSP: &str = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const MISSING: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>baton: UI not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>The web UI is not in this build</h1>
<p>This hub was built without the UI's assets (<code>ui/dist</code> is missing). The API works
as usual. To add the UI, build the assets (Node.js 20.19 or later), then the hub:</p>
<pre>scripts/ui-build            # or: cd ui &amp;&amp; npm ci &amp;&amp; npm run build
cargo run --release -- serve</pre>
<p>A clone of the repository has them committed; this page means they were removed.</p>
</body></html>
"#;

/// The UI's routes, outside the API's token check.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        // Relative, so that it also lands right behind a path prefix.
        .route("/ui", get(|| async { redirect_to_dir() }))
        .route(
            "/ui/",
            get(|headers: HeaderMap| async move { serve::<Assets>("index.html", &headers) }),
        )
        .route(
            "/ui/{*path}",
            get(|Path(path): Path<String>, headers: HeaderMap| async move {
                serve::<Assets>(&path, &headers)
            }),
        )
}

fn redirect_to_dir() -> Response {
    (
        StatusCode::PERMANENT_REDIRECT,
        [(header::LOCATION, HeaderValue::from_static("ui/"))],
    )
        .into_response()
}

/// One file of `A`, or the build instructions when `A` has no `index.html` at all.
fn serve<A: RustEmbed>(path: &str, headers: &HeaderMap) -> Response {
    if A::get("index.html").is_none() {
        return missing();
    }
    let safe = !path.is_empty()
        && !path.contains('\\')
        && path.split('/').all(|seg| !seg.is_empty() && seg != "..");
    let Some(file) = safe.then(|| A::get(path)).flatten() else {
        return ApiError::NotFound(format!("no UI file {path:?}")).into_response();
    };
    let hash = file.metadata.sha256_hash();
    let etag: String = hash[..16].iter().map(|b| format!("{b:02x}")).collect();
    let etag = format!("\"{etag}\"");
    let cache = if path.starts_with("assets/") {
        IMMUTABLE
    } else {
        REVALIDATE
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let common = [
        (header::CACHE_CONTROL, cache.to_owned()),
        (header::ETAG, etag),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        (header::CONTENT_SECURITY_POLICY, CSP.to_owned()),
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(header::CONTENT_TYPE, content_type(path))],
        file.data.into_owned(),
    )
        .into_response()
}

fn missing() -> Response {
    (
        StatusCode::NOT_FOUND,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, REVALIDATE),
        ],
        MISSING,
    )
        .into_response()
}

/// The types a Vite build produces; anything else is served as bytes.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A build whose `ui/dist` is absent.
    #[derive(RustEmbed)]
    #[folder = "ui/no-such-dist"]
    #[allow_missing = true]
    struct NoAssets;

    #[test]
    fn without_assets_the_ui_says_how_to_build_them() {
        let response = serve::<NoAssets>("index.html", &HeaderMap::new());
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(MISSING.contains("scripts/ui-build"));
    }

    #[test]
    fn content_types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-3f2a.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("assets/index-3f2a.css"),
            "text/css; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("blob"), "application/octet-stream");
    }
}
