//! The JSON API `/api/v1` of the hosted service (issue 15).
//!
//! Every route authenticates the caller (Bearer token or console session cookie) and
//! answers for the caller's own account only: an id of another account is looked up in the
//! caller's account and not found, so the answer is 404, never 403 (nothing tells that it
//! exists elsewhere). Hosting staff (`support`) name the account and a reason in headers
//! (`X-Passerelle-Account`, `X-Passerelle-Reason`); each of their requests is recorded on
//! that account. Errors are RFC 9457 problem documents with a French `title`. The OpenAPI
//! 3.1 document is generated from the handlers' annotations (utoipa) and served at
//! `/api/v1/openapi.json`; [`Routes`] keeps the list of mounted paths so a test proves the
//! document and the router agree.

pub mod auth_routes;
mod live;
mod problem;
pub mod routes;

use crate::app::App;
use crate::auth::{Access, Principal, Via};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::routing::MethodRouter;
use axum::Router;
use passerelle_domain::access::Role;
use passerelle_domain::AccountId;
use std::net::SocketAddr;
use std::sync::Arc;

pub use live::LiveHub;
pub use problem::Problem;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "passerelle_session";

/// Shared state of the API and the console.
#[derive(Clone)]
pub struct ApiState {
    /// Database, projections, wiring.
    pub app: Arc<App>,
    /// Accounts, users, tokens, sessions.
    pub access: Access,
    /// Live progress fan-out (one poller per watched run).
    pub live: LiveHub,
    /// Behind a reverse proxy: the client address is the last `X-Forwarded-For` hop.
    pub behind_proxy: bool,
    /// Cookies carry `Secure` (always, except for tests driving plain HTTP on loopback
    /// with a client that drops them; browsers accept `Secure` cookies on localhost).
    pub secure_cookies: bool,
}

/// The client's address: the socket peer, or behind a proxy the address the proxy
/// appended last to `X-Forwarded-For` (earlier entries are whatever the client sent).
pub fn client_ip(parts: &Parts, behind_proxy: bool) -> String {
    if behind_proxy {
        if let Some(last) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
        {
            let ip = last.trim();
            if ip.parse::<std::net::IpAddr>().is_ok() {
                return ip.to_string();
            }
        }
    }
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<PeerAddr>>()
        .map(|c| c.0 .0.ip().to_string())
        .unwrap_or_else(|| "inconnue".into())
}

/// The client's socket address, for plain and TLS listeners alike.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>>
    for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, crate::hosting::TlsListener>,
    > for PeerAddr
{
    fn connect_info(s: axum::serve::IncomingStream<'_, crate::hosting::TlsListener>) -> Self {
        PeerAddr(*s.remote_addr())
    }
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    // Reasons are French: take the header's bytes as UTF-8 rather than ASCII only.
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        .filter(|s| !s.is_empty())
}

/// An authenticated caller and the account the request works on.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Who.
    pub who: Principal,
    /// The account the request reads or changes (the caller's own, or for support the one
    /// named with a reason).
    pub account: AccountId,
    /// Support's reason for this request.
    pub support_reason: Option<String>,
}

impl Caller {
    /// Refuses (403) unless the caller holds one of `roles`; support holds every role
    /// (its actions are recorded with their reason).
    pub fn require(&self, roles: &[Role]) -> Result<(), Problem> {
        if self.who.has(Role::Support) || roles.iter().any(|r| self.who.has(*r)) {
            Ok(())
        } else {
            Err(Problem::forbidden(roles))
        }
    }

    /// The reason recorded with a support or admin action that needs one: support's header
    /// reason, else the reason given in the body.
    pub fn reason(&self, body: Option<&str>) -> Option<String> {
        body.map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .or_else(|| self.support_reason.clone())
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, s: &ApiState) -> Result<Self, Problem> {
        let now = chrono::Utc::now();
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        let (who, session_support) = if let Some(token) = bearer {
            let who = s
                .access
                .authenticate_token(token, now)
                .await
                .ok_or_else(Problem::unauthorized)?;
            (who, None)
        } else if let Some(c) = cookie(&parts.headers, SESSION_COOKIE) {
            let info = s
                .access
                .session(&c, now)
                .await
                .ok_or_else(Problem::unauthorized)?;
            // A session authenticates the browser automatically: a state-changing call must
            // also prove it comes from our pages (the CSRF token they carry).
            if !matches!(parts.method, Method::GET | Method::HEAD) {
                let Via::Session { csrf, .. } = &info.principal.via else {
                    return Err(Problem::unauthorized());
                };
                if header_text(&parts.headers, "x-csrf-token").as_deref() != Some(csrf.as_str()) {
                    return Err(Problem::csrf());
                }
            }
            (info.principal, info.support)
        } else {
            return Err(Problem::unauthorized());
        };
        if !who.has(Role::Support) {
            return Ok(Caller {
                account: who.account.clone(),
                who,
                support_reason: None,
            });
        }
        let (account, reason) = match (
            header_text(&parts.headers, "x-passerelle-account"),
            session_support,
        ) {
            (Some(a), _) => (
                AccountId::parse(&a).map_err(|_| Problem::not_found())?,
                header_text(&parts.headers, "x-passerelle-reason"),
            ),
            (None, Some((a, why))) => (a, Some(why)),
            (None, None) => (who.account.clone(), None),
        };
        if account != who.account {
            let Some(reason) = reason.clone() else {
                return Err(Problem::bad_request(
                    "Motif obligatoire",
                    "le support indique un motif (X-Passerelle-Reason) pour agir sur un compte",
                ));
            };
            if s.access.account(&account).await.ok().flatten().is_none() {
                return Err(Problem::not_found());
            }
            let action = format!("{} {}", parts.method, parts.uri.path());
            s.access
                .record_support(&account, &who, &action, &reason)
                .await
                .map_err(|e| Problem::bad_request("Motif refusé", &e.to_string()))?;
        }
        Ok(Caller {
            who,
            account,
            support_reason: reason,
        })
    }
}

/// The router's paths, recorded as they are mounted so the OpenAPI test compares them
/// with the document.
pub struct Routes {
    router: Router<ApiState>,
    paths: Vec<(String, &'static str)>,
}

impl Routes {
    fn new() -> Self {
        Self {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    fn route(mut self, path: &str, methods: &[&'static str], h: MethodRouter<ApiState>) -> Self {
        for m in methods {
            self.paths.push((path.to_string(), m));
        }
        self.router = self.router.route(path, h);
        self
    }

    /// (path, method) of every API route.
    pub fn paths(&self) -> &[(String, &'static str)] {
        &self.paths
    }
}

/// Every `/api/v1` route.
pub fn routes() -> Routes {
    routes::mount(auth_routes::mount(Routes::new()))
}

/// The `/api/v1` router (state not yet given).
pub fn router() -> Router<ApiState> {
    routes().router
}

/// The OpenAPI 3.1 document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <routes::ApiDoc as utoipa::OpenApi>::openapi()
}
