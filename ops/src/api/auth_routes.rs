//! Authentication and account administration routes: login / logout, who am I, users,
//! tokens and the security log (admin).

use super::{client_ip, ApiState, Caller, Problem, Routes, SESSION_COOKIE};
use crate::auth::{AccessError, LoginError, Via};
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Json;
use passerelle_domain::access::Role;
use passerelle_projections::access as view;
use serde::{Deserialize, Serialize};

pub(super) fn mount(r: Routes) -> Routes {
    r.route("/api/v1/auth/login", &["post"], post(login))
        .route("/api/v1/auth/logout", &["post"], post(logout))
        .route("/api/v1/me", &["get"], get(me))
        .route("/api/v1/users", &["get"], get(users))
        .route(
            "/api/v1/tokens",
            &["get", "post"],
            get(tokens).post(create_token),
        )
        .route("/api/v1/tokens/{id}", &["delete"], delete(revoke_token))
        .route("/api/v1/security-log", &["get"], get(security_log))
}

/// A page of a list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct Page {
    /// Rows per page (1–500, default 50).
    pub limit: Option<i64>,
    /// Rows skipped.
    pub offset: Option<i64>,
}

impl Page {
    /// (limit, offset) within bounds.
    pub fn bounds(&self) -> (i64, i64) {
        (
            self.limit.unwrap_or(50).clamp(1, 500),
            self.offset.unwrap_or(0).max(0),
        )
    }
}

/// Maps an access failure to a problem.
pub(super) fn access_problem(e: AccessError) -> Problem {
    match e {
        AccessError::Store(s) => Problem::unavailable(s),
        other => Problem::bad_request("Demande refusée", &other.to_string()),
    }
}

/// Login body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    /// Account id.
    pub account: String,
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// Login answer: the CSRF token to send as `X-CSRF-Token` with state-changing calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginAnswer {
    /// CSRF token.
    pub csrf: String,
    /// Roles.
    pub roles: Vec<String>,
}

/// The `Set-Cookie` value of a new session: `Secure; HttpOnly; SameSite=Strict`.
pub fn session_cookie(token: &str, secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        crate::auth::SESSION_TTL_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Maps a refused login to its problem.
pub fn login_problem(e: LoginError) -> Problem {
    match e {
        LoginError::BadCredentials => Problem::new(
            StatusCode::UNAUTHORIZED,
            "Identifiants incorrects",
            "compte, e-mail ou mot de passe incorrect",
        ),
        LoginError::Throttled(s) => Problem::too_many(s),
        LoginError::Unavailable => Problem::unavailable("login"),
    }
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, description = "Session ouverte (cookie)", body = LoginAnswer),
              (status = 401, body = Problem), (status = 429, body = Problem)))]
async fn login(
    State(s): State<ApiState>,
    req: axum::extract::Request,
) -> Result<Response, Problem> {
    let (parts, body) = req.into_parts();
    let ip = client_ip(&parts, s.behind_proxy);
    let req = axum::extract::Request::from_parts(parts, body);
    let Json(b): Json<LoginBody> = Json::from_request(req, &s)
        .await
        .map_err(|e| Problem::bad_request("Corps invalide", &e.body_text()))?;
    let now = chrono::Utc::now();
    let who = s
        .access
        .login(&b.account, &b.email, &b.password, &ip, now)
        .await
        .map_err(login_problem)?;
    let sess = s
        .access
        .open_session(&who, now)
        .await
        .map_err(access_problem)?;
    let mut r = Json(LoginAnswer {
        csrf: sess.csrf,
        roles: who.roles.iter().map(|r| r.as_str().to_string()).collect(),
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&session_cookie(&sess.token, s.secure_cookies)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Session fermée"), (status = 401, body = Problem)))]
async fn logout(State(s): State<ApiState>, c: Caller) -> Result<Response, Problem> {
    s.access.logout(&c.who).await.map_err(access_problem)?;
    let mut r = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(s.secure_cookies)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// Who is calling.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// Own account.
    pub account: String,
    /// Account this request works on.
    pub acting_on: String,
    /// Login (e-mail or `token:<id>`).
    pub login: String,
    /// Roles.
    pub roles: Vec<String>,
    /// Session (true) or token.
    pub session: bool,
}

#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
async fn me(c: Caller) -> Json<Me> {
    Json(Me {
        account: c.who.account.to_string(),
        acting_on: c.account.to_string(),
        login: c.who.login.clone(),
        roles: c.who.roles.iter().map(|r| r.as_str().to_string()).collect(),
        session: matches!(c.who.via, Via::Session { .. }),
    })
}

#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses((status = 200, description = "Utilisateurs du compte"), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn users(State(s): State<ApiState>, c: Caller) -> Result<Json<Vec<view::UserRow>>, Problem> {
    c.require(&[Role::Admin])?;
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    view::users(&s.app.db, c.account.as_str())
        .await
        .map(Json)
        .map_err(Problem::unavailable)
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, description = "Jetons (jamais leur secret)"), (status = 401, body = Problem), (status = 403, body = Problem)))]
async fn tokens(
    State(s): State<ApiState>,
    c: Caller,
) -> Result<Json<Vec<view::TokenRow>>, Problem> {
    c.require(&[Role::Admin])?;
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    view::tokens(&s.app.db, c.account.as_str())
        .await
        .map(Json)
        .map_err(Problem::unavailable)
}

/// A token to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewToken {
    /// Label.
    pub name: String,
    /// Roles (`admin`, `operator`, `auditor`).
    pub roles: Vec<String>,
    /// Days of validity (default 90, 0 = none).
    pub days: Option<u32>,
}

/// A created token: shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// Token id.
    pub id: String,
    /// The token (only time it is shown).
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn create_token(
    State(s): State<ApiState>,
    c: Caller,
    Json(b): Json<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), Problem> {
    c.require(&[Role::Admin])?;
    let roles = Role::parse_list(&b.roles.join(","))
        .map_err(|e| Problem::bad_request("Rôles invalides", &e.to_string()))?;
    if roles.contains(&Role::Support) && !c.who.has(Role::Support) {
        return Err(Problem::forbidden(&[Role::Support]));
    }
    let days = b.days.unwrap_or(90);
    let expires = (days > 0).then(|| chrono::Utc::now() + chrono::Duration::days(i64::from(days)));
    let t = s
        .access
        .create_token(&c.account, &b.name, roles, expires, &c.who.actor())
        .await
        .map_err(access_problem)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            id: t.id,
            token: t.token,
        }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "Jeton")),
    responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
async fn revoke_token(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    match s.access.revoke_token(&c.account, &id, &c.who.actor()).await {
        Ok(()) => Ok(StatusCode::NO_CONTENT),
        Err(AccessError::Refused(passerelle_domain::access::AccountError::UnknownToken(_))) => {
            Err(Problem::not_found())
        }
        Err(e) => Err(access_problem(e)),
    }
}

#[utoipa::path(get, path = "/api/v1/security-log", tag = "admin", params(Page),
    responses((status = 200, description = "Connexions, jetons, actions du support"), (status = 403, body = Problem)))]
async fn security_log(
    State(s): State<ApiState>,
    c: Caller,
    Query(p): Query<Page>,
) -> Result<Json<Vec<view::SecurityEntry>>, Problem> {
    c.require(&[Role::Admin, Role::Auditor])?;
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    let (limit, offset) = p.bounds();
    view::security_log(&s.app.db, c.account.as_str(), limit, offset)
        .await
        .map(Json)
        .map_err(Problem::unavailable)
}
