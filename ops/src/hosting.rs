//! `passerelle serve`: the hosted service's HTTP side — the listen rule, TLS, security
//! headers, rate limits and the router (health, `/api/v1`, the console) — next to the
//! workers and the scheduler.
//!
//! Secure by default: a non-loopback listen address is refused (exit 2) unless TLS is
//! configured (`--tls-cert`/`--tls-key`, rustls) or `--behind-proxy` says a TLS-terminating
//! proxy is in front; every answer carries a CSP without inline script, `frame-ancestors
//! 'none'`, `nosniff`, a referrer policy (and HSTS under TLS); requests are limited per
//! address and per API token; outbound connections to internal addresses are refused
//! unless `--allow-private-targets`.

use crate::api::{self, ApiState, LiveHub};
use crate::app::App;
use crate::auth::Access;
use crate::commands::usage;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tower_http::set_header::SetResponseHeaderLayer;

/// Largest request body accepted (a profile file with its mappings fits many times).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The content security policy: scripts and styles from our origin only (no inline code),
/// never framed, forms posted to ourselves only.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

/// Server options.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Listen address.
    pub listen: String,
    /// TLS certificate chain (PEM) and key (PEM).
    pub tls: Option<(String, String)>,
    /// A TLS-terminating reverse proxy is in front.
    pub behind_proxy: bool,
    /// Outbound connections may reach internal addresses.
    pub allow_private_targets: bool,
    /// Requests per second allowed per address and per token (0 = no limit).
    pub rate_limit: u32,
}

/// Applies the listen rule: loopback always; anything else only with TLS or behind a
/// proxy. The refusal is a usage error (exit 2) saying why.
pub fn check_listen(o: &ServeOptions) -> anyhow::Result<()> {
    let ip: Option<IpAddr> = o
        .listen
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .ok()
        .or_else(|| {
            let host = o.listen.rsplit_once(':').map(|(h, _)| h)?;
            (host == "localhost").then_some(IpAddr::from([127, 0, 0, 1]))
        });
    let Some(ip) = ip else {
        return Err(usage(format!(
            "adresse d'écoute invalide « {} » (forme IP:PORT, ex. 127.0.0.1:8080)",
            o.listen
        )));
    };
    if !ip.is_loopback() && o.tls.is_none() && !o.behind_proxy {
        return Err(usage(format!(
            "refus d'écouter sur {} sans TLS : les mots de passe et cookies passeraient en clair ; ajoutez --tls-cert FICHIER --tls-key FICHIER, ou --behind-proxy derrière un proxy HTTPS (listening on a public address needs TLS)",
            o.listen
        )));
    }
    Ok(())
}

/// A token bucket per key (`ip:…`, `tok:…`).
#[derive(Clone)]
pub struct RateLimiter {
    per_second: f64,
    buckets: Arc<Mutex<HashMap<String, (f64, Instant)>>>,
}

impl RateLimiter {
    /// `per_second` requests per second with bursts of twice that (0 = unlimited).
    pub fn new(per_second: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            buckets: Arc::default(),
        }
    }

    /// Takes one request for `key`; `Err(seconds)` when it must wait.
    pub fn take(&self, key: &str) -> Result<(), i64> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let burst = self.per_second * 2.0;
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > 100_000 {
            // Bounded memory under address spraying: forget full buckets.
            map.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_secs_f64() * self.per_second < burst
            });
        }
        let (tokens, at) = map.entry(key.to_string()).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.per_second).ceil().max(1.0) as i64)
        }
    }
}

#[derive(Clone)]
struct LimitState {
    limiter: RateLimiter,
    behind_proxy: bool,
}

async fn rate_limit(State(s): State<LimitState>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let ip = api::client_ip(&parts, s.behind_proxy);
    let token = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer pst."))
        .and_then(|v| v.rsplit_once('.').map(|x| x.0))
        .map(str::to_string);
    let mut verdict = s.limiter.take(&format!("ip:{ip}"));
    if let (Ok(()), Some(t)) = (&verdict, token) {
        verdict = s.limiter.take(&format!("tok:{t}"));
    }
    match verdict {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(wait) => api::Problem::too_many(wait).into_response(),
    }
}

/// The hosted service's router: `/api/v1`, the console and its assets, with the security
/// headers, the body limit and the rate limits.
pub fn router(state: ApiState, o: &ServeOptions) -> Router {
    let limits = LimitState {
        limiter: RateLimiter::new(o.rate_limit),
        behind_proxy: o.behind_proxy,
    };
    let mut r = Router::new()
        .merge(api::router())
        .merge(crate::console::router())
        .with_state(state)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(limits, rate_limit));
    let headers: [(&str, &str); 6] = [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
        ("x-frame-options", "DENY"),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
    ];
    for (k, v) in headers {
        r = r.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(k),
            HeaderValue::from_static(v),
        ));
    }
    r = r.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ));
    if o.tls.is_some() || o.behind_proxy {
        r = r.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    r
}

/// The API state over `app`.
pub fn state(app: Arc<App>, o: &ServeOptions) -> ApiState {
    ApiState {
        access: Access::new(app.db.clone()),
        app,
        live: LiveHub::default(),
        behind_proxy: o.behind_proxy,
        secure_cookies: true,
    }
}

/// Loads the TLS configuration (rustls, ring provider).
pub fn tls_acceptor(cert: &str, key: &str) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_rustls::rustls;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| usage(format!("certificat TLS illisible ({cert}) : {e}")))?
        .collect::<Result<_, _>>()
        .map_err(|e| usage(format!("certificat TLS illisible ({cert}) : {e}")))?;
    if certs.is_empty() {
        return Err(usage(format!("aucun certificat dans {cert}")));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| usage(format!("clé TLS illisible ({key}) : {e}")))?;
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| usage(format!("TLS : {e}")))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| usage(format!("certificat ou clé TLS refusés : {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// A TLS listener for `axum::serve`: handshakes are bounded in time; a failed one is
/// dropped without stopping the server.
pub struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    /// Over a bound TCP listener.
    pub fn new(tcp: tokio::net::TcpListener, acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self { tcp, acceptor }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (sock, addr) = match self.tcp.accept().await {
                Ok(x) => x,
                Err(_) => {
                    // Out of descriptors and the like: breathe, then go on.
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    continue;
                }
            };
            let hs = self.acceptor.accept(sock);
            if let Ok(Ok(tls)) = tokio::time::timeout(std::time::Duration::from_secs(10), hs).await
            {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}
