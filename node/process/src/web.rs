//! `zkcrowd web`: serves the browser plugin's page to volunteers of a testnet.
//!
//! The page and its WebAssembly module are static files that `scripts/build-web` writes to
//! `target/web/www`; this server hands them out on loopback (or any address given) with the
//! headers a module worker with shared memory needs (COOP/COEP), plus `/config.json`: the
//! testnet's validators' WebSocket JSON-RPC URLs, read from `DIR/testnet.json`, so the page knows
//! whom to talk to. Everything else the page does goes to the validator directly; the page needs
//! no network beyond the testnet.
//!
//! Bounds: [`WEB_CONNECTIONS_MAX`] connections at once (others wait in the kernel's backlog),
//! files up to [`WEB_FILE_BYTES_MAX`]. Only `GET` and `HEAD` of files under the directory are
//! served; a path with anything but plain names (`..`, a root, a prefix) is refused with 404.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// Connections served at once.
pub const WEB_CONNECTIONS_MAX: usize = 64;
/// The largest file served (the WebAssembly module is ~3 MB).
pub const WEB_FILE_BYTES_MAX: u64 = 32 * 1024 * 1024;

/// What `zkcrowd web` serves.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// The built page (`target/web/www`).
    pub www: PathBuf,
    /// The testnet whose validators the page talks to.
    pub testnet_dir: PathBuf,
    /// Where to listen.
    pub listen: SocketAddr,
}

/// The page's `/config.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PageConfig {
    /// The L2 chain id.
    pub chain_id: u64,
    /// Validators' WebSocket JSON-RPC URLs (the first is the page's).
    pub rpc_ws: Vec<String>,
}

/// Checks the page is built and reads the testnet's validators: what [`serve`] needs.
pub fn page_config(options: &WebOptions) -> Result<PageConfig> {
    let module = options.www.join("pkg/zkcrowd_plugin_web_bg.wasm");
    if !module.exists() || !options.www.join("plugin.html").exists() {
        bail!("{} holds no built page: run scripts/setup-web and scripts/build-web first", options.www.display());
    }
    let file = crate::testnet::load(&options.testnet_dir)?;
    Ok(PageConfig { chain_id: file.chain_id, rpc_ws: file.validators.iter().map(|v| v.rpc_ws.clone()).collect() })
}

/// Binds `options.listen`, calls `ready` with the bound address, and serves until the process is
/// stopped.
pub fn serve(options: &WebOptions, ready: impl FnOnce(SocketAddr)) -> Result<()> {
    let config = page_config(options)?;
    let config = Bytes::from(serde_json::to_vec(&config)?);
    let www = Arc::new(options.www.canonicalize().with_context(|| format!("{}", options.www.display()))?);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("binding {}", options.listen))?;
        ready(listener.local_addr()?);
        let permits = Arc::new(tokio::sync::Semaphore::new(WEB_CONNECTIONS_MAX));
        loop {
            let permit = permits.clone().acquire_owned().await?;
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!("accepting a connection: {error}");
                    continue;
                }
            };
            let (www, config) = (www.clone(), config.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    let (www, config) = (www.clone(), config.clone());
                    async move { Ok::<_, Infallible>(answer(&www, &config, &request).await) }
                });
                if let Err(error) =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await
                {
                    tracing::debug!("a page connection ended: {error}");
                }
                drop(permit);
            });
        }
    })
}

fn status(code: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = code;
    response
}

/// The file under `www` that `path` (a URL path) names, if it names one by plain names only.
pub fn resolve(www: &Path, path: &str) -> Option<PathBuf> {
    let relative = Path::new(path.trim_start_matches('/'));
    let plain = relative.components().all(|c| matches!(c, Component::Normal(_)));
    (plain && relative.components().next().is_some()).then(|| www.join(relative))
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("wasm") => "application/wasm",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

async fn answer<B>(www: &Path, config: &Bytes, request: &Request<B>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return status(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD");
    }
    let path = request.uri().path();
    let mut response = if path == "/" {
        let mut response = status(StatusCode::FOUND, "");
        response.headers_mut().insert(LOCATION, HeaderValue::from_static("/plugin.html"));
        response
    } else if path == "/config.json" {
        let mut response = Response::new(Full::new(config.clone()));
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        response
    } else {
        match resolve(www, path) {
            None => status(StatusCode::NOT_FOUND, "not found"),
            Some(file) => match tokio::fs::metadata(&file).await {
                Ok(meta) if meta.is_file() && meta.len() <= WEB_FILE_BYTES_MAX => match tokio::fs::read(&file).await {
                    Ok(bytes) => {
                        let mut response = Response::new(Full::new(Bytes::from(bytes)));
                        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&file)));
                        response
                    }
                    Err(_) => status(StatusCode::NOT_FOUND, "not found"),
                },
                _ => status(StatusCode::NOT_FOUND, "not found"),
            },
        }
    };
    let headers = response.headers_mut();
    headers.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    headers.insert("cross-origin-embedder-policy", HeaderValue::from_static("require-corp"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths leave the directory by no means: `..`, roots and empty paths are refused.
    #[test]
    fn paths_stay_in_the_directory() {
        let www = Path::new("/srv/www");
        assert_eq!(resolve(www, "/plugin.html"), Some(PathBuf::from("/srv/www/plugin.html")));
        assert_eq!(
            resolve(www, "/pkg/zkcrowd_plugin_web.js"),
            Some(PathBuf::from("/srv/www/pkg/zkcrowd_plugin_web.js"))
        );
        // Leading slashes are the URL's, not a root: still inside the directory.
        assert_eq!(resolve(www, "//etc/passwd"), Some(PathBuf::from("/srv/www/etc/passwd")));
        for bad in ["/../etc/passwd", "/pkg/../../x", "/", "", "/./plugin.html"] {
            assert_eq!(resolve(www, bad), None, "{bad}");
        }
    }
}
