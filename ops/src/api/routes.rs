//! The account's resources: profiles, runs (with live progress), schedules, quotas,
//! notifications, transferred orders and the support operations, replay verify.

use super::auth_routes::Page;
use super::live::LiveCounts;
use super::{ApiState, Caller, Problem, Routes};
use crate::profiles::{ProfileFile, Profiles};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Json;
use passerelle_adapters::store::{AggregateStore, Origin, SqlScheduleStore};
use passerelle_domain::access::Role;
use passerelle_domain::profile::{Profile, ProfileCommand};
use passerelle_domain::scheduling::ScheduleCommand;
use passerelle_domain::shop_order::{shop_order_id, ShopOrderCommand, ShopOrderState};
use passerelle_domain::{AccountId, Lang, ProfileId, RunId, SyncAction, Trigger};
use passerelle_projections::journal::{self, JournalFilter, JournalRun};
use passerelle_workflows::engine::{CancelOutcome, EnqueueOutcome, NewRun, RunStore};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::convert::Infallible;

/// The OpenAPI document of `/api/v1`.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "Passerelle", description = "API du service hébergé : profils, tâches, planifications, quotas, support. Authentification : `Authorization: Bearer pst.…` ou cookie de session (+ `X-CSRF-Token`)."),
    paths(
        super::auth_routes::login, super::auth_routes::logout, super::auth_routes::me,
        super::auth_routes::users, super::auth_routes::tokens, super::auth_routes::create_token,
        super::auth_routes::revoke_token, super::auth_routes::security_log,
        list_profiles, create_profile, get_profile, delete_profile, test_connection,
        refresh_config, get_notifications, put_notifications, transferred, reset_orders,
        repair_keys, list_runs, start_run, get_run, cancel_run, run_file, run_live,
        run_history, list_schedules, create_schedule, edit_schedule, delete_schedule,
        pause_schedule, resume_schedule, quota, actions, replay_verify, openapi_json
    ),
    components(schemas(Problem)),
    tags((name = "auth"), (name = "admin"), (name = "profiles"), (name = "runs"),
         (name = "schedules"), (name = "support"))
)]
pub struct ApiDoc;

pub(super) fn mount(r: Routes) -> Routes {
    r.route("/api/v1/openapi.json", &["get"], get(openapi_json))
        .route("/api/v1/actions", &["get"], get(actions))
        .route(
            "/api/v1/profiles",
            &["get", "post"],
            get(list_profiles).post(create_profile),
        )
        .route(
            "/api/v1/profiles/{id}",
            &["get", "delete"],
            get(get_profile).delete(delete_profile),
        )
        .route(
            "/api/v1/profiles/{id}/test-connection",
            &["post"],
            post(test_connection),
        )
        .route(
            "/api/v1/profiles/{id}/refresh-config",
            &["post"],
            post(refresh_config),
        )
        .route(
            "/api/v1/profiles/{id}/notifications",
            &["get", "put"],
            get(get_notifications).put(put_notifications),
        )
        .route(
            "/api/v1/profiles/{id}/transferred",
            &["get"],
            get(transferred),
        )
        .route(
            "/api/v1/profiles/{id}/reset-orders",
            &["post"],
            post(reset_orders),
        )
        .route(
            "/api/v1/profiles/{id}/repair-keys",
            &["post"],
            post(repair_keys),
        )
        .route(
            "/api/v1/runs",
            &["get", "post"],
            get(list_runs).post(start_run),
        )
        .route("/api/v1/runs/{id}", &["get"], get(get_run))
        .route("/api/v1/runs/{id}/cancel", &["post"], post(cancel_run))
        .route("/api/v1/runs/{id}/files/{name}", &["get"], get(run_file))
        .route("/api/v1/runs/{id}/live", &["get"], get(run_live))
        .route("/api/v1/runs/{id}/history", &["get"], get(run_history))
        .route(
            "/api/v1/schedules",
            &["get", "post"],
            get(list_schedules).post(create_schedule),
        )
        .route(
            "/api/v1/schedules/{id}",
            &["put", "delete"],
            put(edit_schedule).delete(delete_schedule),
        )
        .route(
            "/api/v1/schedules/{id}/pause",
            &["post"],
            post(pause_schedule),
        )
        .route(
            "/api/v1/schedules/{id}/resume",
            &["post"],
            post(resume_schedule),
        )
        .route("/api/v1/quota", &["get"], get(quota))
        .route("/api/v1/replay/verify", &["post"], post(replay_verify))
}

#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "auth",
    responses((status = 200, description = "Ce document (OpenAPI 3.1)")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(super::openapi())
}

fn pid(s: &str) -> Result<ProfileId, Problem> {
    // An id that cannot exist is simply not found: no hint about the id rules.
    ProfileId::parse(s).map_err(|_| Problem::not_found())
}

fn rid(s: &str) -> Result<RunId, Problem> {
    s.parse().map_err(|_| Problem::not_found())
}

/// The account's run `id`, or 404 (also when it is another account's).
async fn owned_run(s: &ApiState, acc: &AccountId, id: &str) -> Result<RunId, Problem> {
    let id = rid(id)?;
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    match journal::get(&s.app.db, acc.as_str(), &id.to_string()).await {
        Ok(Some(_)) => Ok(id),
        Ok(None) => Err(Problem::not_found()),
        Err(e) => Err(Problem::unavailable(e)),
    }
}

/// The account's profile `id`, or 404 (also when it belongs to another account).
async fn profile(s: &ApiState, acc: &AccountId, id: &str) -> Result<(ProfileId, Profile), Problem> {
    let id = pid(id)?;
    match Profiles::new(s.app.db.clone()).get(acc, &id).await {
        Ok(Some(p)) if !p.deleted => Ok((id, p)),
        Ok(_) => Err(Problem::not_found()),
        Err(e) => Err(Problem::unavailable(e)),
    }
}

/// An action this version offers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ActionInfo {
    /// Kebab-case name.
    pub name: String,
    /// French label.
    pub label_fr: String,
    /// English label.
    pub label_en: String,
}

/// The actions offered (the wizard and the Synchronisation page list the same).
pub fn available_actions() -> Vec<ActionInfo> {
    SyncAction::ALL
        .into_iter()
        .filter(|a| crate::commands::action_available(*a) && *a != SyncAction::DemoEngine)
        .map(|a| ActionInfo {
            name: a.as_str().into(),
            label_fr: journal::action_label_in(a.as_str(), Lang::Fr),
            label_en: journal::action_label_in(a.as_str(), Lang::En),
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/actions", tag = "runs",
    responses((status = 200, body = Vec<ActionInfo>), (status = 401, body = Problem)))]
async fn actions(_c: Caller) -> Json<Vec<ActionInfo>> {
    Json(available_actions())
}

/// A profile as listed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProfileSummary {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Shop platform.
    pub platform: Option<String>,
    /// Shop URL.
    pub shop_url: Option<String>,
    /// EBP folder.
    pub erp_folder: Option<String>,
}

/// The account's profiles as listed.
pub async fn profile_summaries(
    s: &ApiState,
    acc: &AccountId,
) -> Result<Vec<ProfileSummary>, Problem> {
    let all = Profiles::new(s.app.db.clone())
        .list(acc)
        .await
        .map_err(Problem::unavailable)?;
    Ok(all
        .into_iter()
        .filter(|(_, p)| p.created && !p.deleted)
        .map(|(id, p)| ProfileSummary {
            id,
            name: p.name.clone(),
            platform: p.shop.as_ref().map(|s| s.platform.to_string()),
            shop_url: p.shop.as_ref().map(|s| s.url.clone()),
            erp_folder: p.erp.as_ref().map(|e| e.folder_id.to_string()),
        })
        .collect())
}

#[utoipa::path(get, path = "/api/v1/profiles", tag = "profiles", params(Page),
    responses((status = 200, body = Vec<ProfileSummary>), (status = 401, body = Problem)))]
async fn list_profiles(
    State(s): State<ApiState>,
    c: Caller,
    Query(p): Query<Page>,
) -> Result<Json<Vec<ProfileSummary>>, Problem> {
    let (limit, offset) = p.bounds();
    let all = profile_summaries(&s, &c.account).await?;
    Ok(Json(
        all.into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .collect(),
    ))
}

/// Parses a profile body: JSON when the content type says so, else TOML.
pub fn parse_profile(headers: &HeaderMap, body: &[u8]) -> Result<ProfileFile, Problem> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Problem::bad_request("Profil invalide", "le corps n'est pas de l'UTF-8"))?;
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        serde_json::from_str(text)
            .map_err(|e| Problem::bad_request("Profil invalide", &format!("JSON : {e}")))
    } else {
        toml::from_str(text)
            .map_err(|e| Problem::bad_request("Profil invalide", &format!("TOML : {e}")))
    }
}

/// Checks a profile's user-supplied addresses with the SSRF guard, then imports it
/// (credentials encrypted; a secret left out keeps the stored one).
pub async fn import_profile(
    s: &ApiState,
    c: &Caller,
    file: ProfileFile,
) -> Result<(String, Vec<String>), Problem> {
    for url in [&file.shop.url, &file.erp.api_url, &file.erp.login_url] {
        s.app
            .target_guard()
            .check_url(url)
            .await
            .map_err(|e| Problem::bad_request("Adresse refusée", &e.to_string()))?;
    }
    let id = file.id.clone();
    let secrets = s.app.secrets().map_err(Problem::internal)?;
    let changes = Profiles::new(s.app.db.clone())
        .import(&c.account, file, secrets.as_ref(), c.who.actor())
        .await
        .map_err(|e| Problem::bad_request("Profil refusé", &e.to_string()))?;
    Ok((id, changes))
}

#[utoipa::path(post, path = "/api/v1/profiles", tag = "profiles",
    request_body(content = String, description = "Profil en TOML (ou JSON avec Content-Type: application/json)", content_type = "application/toml"),
    responses((status = 201, description = "Créé ou mis à jour"), (status = 400, body = Problem), (status = 403, body = Problem)))]
async fn create_profile(
    State(s): State<ApiState>,
    c: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(&[Role::Admin])?;
    let file = parse_profile(&headers, &body)?;
    let (id, changes) = import_profile(&s, &c, file).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "changes": changes})),
    ))
}

#[utoipa::path(get, path = "/api/v1/profiles/{id}", tag = "profiles",
    params(("id" = String, Path, description = "Profil")),
    responses((status = 200, description = "Le profil, sans ses secrets"), (status = 404, body = Problem)))]
async fn get_profile(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<ProfileFile>, Problem> {
    let (id, _) = profile(&s, &c.account, &id).await?;
    Profiles::new(s.app.db.clone())
        .export(&c.account, &id)
        .await
        .map(Json)
        .map_err(|_| Problem::not_found())
}

#[utoipa::path(delete, path = "/api/v1/profiles/{id}", tag = "profiles",
    params(("id" = String, Path, description = "Profil")),
    responses((status = 204), (status = 404, body = Problem), (status = 403, body = Problem)))]
async fn delete_profile(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    let (id, _) = profile(&s, &c.account, &id).await?;
    AggregateStore::new(s.app.db.clone())
        .execute::<Profile>(
            &c.account,
            id.as_str(),
            ProfileCommand::Delete,
            &origin(&c, "profile-delete"),
        )
        .await
        .map_err(|e| Problem::bad_request("Suppression refusée", &e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

fn origin(c: &Caller, what: &str) -> Origin {
    Origin {
        actor: c.who.actor(),
        correlation: format!("{what}:{}", uuid::Uuid::now_v7()),
        at: chrono::Utc::now(),
    }
}

/// The outcome of one connection test.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Succeeded.
    pub ok: bool,
    /// What was found or went wrong.
    pub message: String,
}

/// Tests the shop and ERP connections of a profile.
pub async fn connection_checks(
    s: &ApiState,
    acc: &AccountId,
    id: &ProfileId,
) -> Result<(Check, Check), Problem> {
    let conn = s.app.connectors().map_err(Problem::internal)?;
    let shop = match conn
        .shop_connection(acc, id)
        .await
        .and_then(|c| c.configuration())
    {
        Ok(c) => match c.test_connection().await {
            Ok(()) => Check {
                ok: true,
                message: "OK".into(),
            },
            Err(e) => Check {
                ok: false,
                message: e.to_string(),
            },
        },
        Err(e) => Check {
            ok: false,
            message: e.to_string(),
        },
    };
    let erp = match conn.ebp_client(acc, id).await {
        Ok(c) => match c.test_connection().await {
            Ok(f) => Check {
                ok: true,
                message: format!("OK (dossier {} — {})", f.id, f.name),
            },
            Err(e) => Check {
                ok: false,
                message: e.to_string(),
            },
        },
        Err(e) => Check {
            ok: false,
            message: e.to_string(),
        },
    };
    Ok((shop, erp))
}

#[utoipa::path(post, path = "/api/v1/profiles/{id}/test-connection", tag = "profiles",
    params(("id" = String, Path, description = "Profil")),
    responses((status = 200, description = "{shop: Check, erp: Check}"), (status = 404, body = Problem)))]
async fn test_connection(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    c.require(&[Role::Admin, Role::Operator])?;
    let (id, _) = profile(&s, &c.account, &id).await?;
    let (shop, erp) = connection_checks(&s, &c.account, &id).await?;
    Ok(Json(json!({"shop": shop, "erp": erp})))
}

/// What the shop and the ERP offer for the mappings.
pub async fn read_config(s: &ApiState, acc: &AccountId, id: &ProfileId) -> Result<Value, Problem> {
    let conn = s.app.connectors().map_err(Problem::internal)?;
    let refused =
        |e: &dyn std::fmt::Display| Problem::bad_request("Lecture impossible", &e.to_string());
    let shop = conn
        .shop_connection(acc, id)
        .await
        .and_then(|c| c.configuration())
        .map_err(|e| refused(&e))?;
    let erp = conn.ebp_client(acc, id).await.map_err(|e| refused(&e))?;
    let sc = shop.read_configuration().await.map_err(|e| refused(&e))?;
    let ec = erp.read_configuration().await.map_err(|e| refused(&e))?;
    Ok(json!({"shop": sc, "erp": ec}))
}

#[utoipa::path(post, path = "/api/v1/profiles/{id}/refresh-config", tag = "profiles",
    params(("id" = String, Path, description = "Profil")),
    responses((status = 200, description = "Statuts, taxes, transporteurs… de la boutique ; TVA, séries, dépôts… de l'ERP"), (status = 404, body = Problem)))]
async fn refresh_config(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    c.require(&[Role::Admin, Role::Operator])?;
    let (id, _) = profile(&s, &c.account, &id).await?;
    read_config(&s, &c.account, &id).await.map(Json)
}

#[utoipa::path(get, path = "/api/v1/profiles/{id}/notifications", tag = "profiles",
    params(("id" = String, Path, description = "Profil")),
    responses((status = 200, description = "Réglages (sans mot de passe)"), (status = 404, body = Problem)))]
async fn get_notifications(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    let (id, _) = profile(&s, &c.account, &id).await?;
    let set = crate::notify::load_settings(&s.app.db, &c.account, &id)
        .await
        .map_err(Problem::unavailable)?;
    let mut v = serde_json::to_value(set).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("smtp_password");
    }
    Ok(Json(v))
}

#[utoipa::path(put, path = "/api/v1/profiles/{id}/notifications", tag = "profiles",
    params(("id" = String, Path, description = "Profil")),
    request_body(content = Object, description = "smtp_host, smtp_port, tls (none|starttls|tls), from, recipients (a;b), subject, after_orders_created, after_quotes_created, on_success, on_failure, attach_log"),
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn put_notifications(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Json(body): Json<passerelle_adapters::mail::NotificationSettings>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    let (id, _) = profile(&s, &c.account, &id).await?;
    s.app
        .target_guard()
        .check_host(&body.smtp_host, body.smtp_port)
        .await
        .map_err(|e| Problem::bad_request("Adresse refusée", &e.to_string()))?;
    crate::notify::save_settings(&s.app.db, &c.account, &id, body, &c.who.actor().to_text())
        .await
        .map_err(|e| Problem::bad_request("Réglages refusés", &e.to_string()))?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/profiles/{id}/transferred", tag = "support",
    params(("id" = String, Path, description = "Profil"), Page),
    responses((status = 200, description = "Commandes transférées"), (status = 404, body = Problem)))]
async fn transferred(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Query(p): Query<Page>,
) -> Result<Json<Vec<passerelle_projections::orders::TransferredOrder>>, Problem> {
    let (id, _) = profile(&s, &c.account, &id).await?;
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    let (limit, offset) = p.bounds();
    passerelle_projections::orders::transferred_orders(&s.app.db, c.account.as_str(), id.as_str())
        .await
        .map(|v| {
            Json(
                v.into_iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .collect(),
            )
        })
        .map_err(Problem::unavailable)
}

/// A reset of transferred orders.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResetBody {
    /// Shop order ids.
    pub ids: Option<Vec<String>>,
    /// Every transferred order of the profile.
    #[serde(default)]
    pub all: bool,
    /// Why (mandatory; recorded with who).
    pub reason: Option<String>,
}

/// Resets transferred orders (support or admin, with a reason); returns how many.
pub async fn do_reset(
    s: &ApiState,
    c: &Caller,
    id: &ProfileId,
    ids: Option<Vec<String>>,
    all: bool,
    reason: Option<&str>,
) -> Result<usize, Problem> {
    c.require(&[Role::Admin])?;
    let Some(reason) = c.reason(reason) else {
        return Err(Problem::bad_request(
            "Motif obligatoire",
            "indiquez pourquoi (reason)",
        ));
    };
    let targets: Vec<String> = match (ids, all) {
        (Some(v), false) if !v.is_empty() => {
            if v.iter().any(|s| {
                s.is_empty()
                    || s.len() > 64
                    || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }) {
                return Err(Problem::bad_request(
                    "Identifiants invalides",
                    "des identifiants de commande (chiffres, lettres, -)",
                ));
            }
            v
        }
        (None, true) => {
            s.app
                .projector
                .catch_up()
                .await
                .map_err(Problem::unavailable)?;
            passerelle_projections::orders::transferred_orders(
                &s.app.db,
                c.account.as_str(),
                id.as_str(),
            )
            .await
            .map_err(Problem::unavailable)?
            .into_iter()
            .filter(|o| o.document_number.is_some())
            .map(|o| o.order_id)
            .collect()
        }
        _ => {
            return Err(Problem::bad_request(
                "Demande invalide",
                "indiquez soit ids, soit all",
            ))
        }
    };
    let cmds = targets
        .iter()
        .map(|o| {
            (
                shop_order_id(id.as_str(), o),
                ShopOrderCommand::Reset {
                    reason: reason.clone(),
                },
            )
        })
        .collect();
    let out = AggregateStore::new(s.app.db.clone())
        .execute_many::<ShopOrderState>(&c.account, cmds, &origin(c, "reset-orders"))
        .await
        .map_err(Problem::unavailable)?;
    if c.who.account != c.account {
        // Support's header reason is already recorded per request; a console form's too.
    } else if c.who.has(Role::Support) {
        let _ = s
            .access
            .record_support(&c.account, &c.who, "reset-orders", &reason)
            .await;
    }
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    Ok(out
        .iter()
        .filter(|r| matches!(r, Ok(ev) if !ev.is_empty()))
        .count())
}

#[utoipa::path(post, path = "/api/v1/profiles/{id}/reset-orders", tag = "support",
    params(("id" = String, Path, description = "Profil")), request_body = ResetBody,
    responses((status = 200, description = "{reset: n}"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn reset_orders(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Json(b): Json<ResetBody>,
) -> Result<Json<Value>, Problem> {
    c.require(&[Role::Admin])?;
    let (id, _) = profile(&s, &c.account, &id).await?;
    let n = do_reset(&s, &c, &id, b.ids, b.all, b.reason.as_deref()).await?;
    Ok(Json(json!({"reset": n})))
}

/// A reason.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    /// Why (mandatory; recorded).
    pub reason: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/profiles/{id}/repair-keys", tag = "support",
    params(("id" = String, Path, description = "Profil")), request_body = ReasonBody,
    responses((status = 200, description = "Liens rétablis"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn repair_keys(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Json(b): Json<ReasonBody>,
) -> Result<Json<Value>, Problem> {
    c.require(&[Role::Admin])?;
    let (id, _) = profile(&s, &c.account, &id).await?;
    let Some(reason) = c.reason(b.reason.as_deref()) else {
        return Err(Problem::bad_request(
            "Motif obligatoire",
            "indiquez pourquoi (reason)",
        ));
    };
    if c.who.account == c.account && c.who.has(Role::Support) {
        let _ = s
            .access
            .record_support(&c.account, &c.who, "repair-keys", &reason)
            .await;
    }
    crate::orders_cmd::repair_keys(&s.app, &c.account, &id)
        .await
        .map_err(|e| Problem::bad_request("Réparation impossible", &e.to_string()))?;
    Ok(Json(json!({"repaired": true})))
}

/// Journal filters and page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct RunQuery {
    /// Only this profile.
    pub profile: Option<String>,
    /// Only manual runs.
    #[serde(default)]
    pub manual: bool,
    /// Runs per page (1–500, default 50).
    pub limit: Option<i64>,
    /// Runs skipped.
    pub offset: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/runs", tag = "runs", params(RunQuery),
    responses((status = 200, description = "Le journal (contrat de `journal --json`), du plus récent au plus ancien"), (status = 401, body = Problem)))]
async fn list_runs(
    State(s): State<ApiState>,
    c: Caller,
    Query(q): Query<RunQuery>,
) -> Result<Json<Vec<JournalRun>>, Problem> {
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    let page = Page {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset) = page.bounds();
    journal::list(
        &s.app.db,
        c.account.as_str(),
        &JournalFilter {
            profile: q.profile,
            manual_only: q.manual,
            limit: Some(limit),
            offset,
        },
    )
    .await
    .map(Json)
    .map_err(Problem::unavailable)
}

/// A run to start.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StartRun {
    /// Profile id.
    pub profile: String,
    /// Action (kebab-case).
    pub action: String,
    /// update-order-statuses / send-invoices: read every chain.
    #[serde(default)]
    pub full: bool,
}

/// Queues a run for the workers; returns its id and whether it was already active.
pub async fn enqueue_run(s: &ApiState, c: &Caller, b: StartRun) -> Result<(RunId, bool), Problem> {
    c.require(&[Role::Admin, Role::Operator])?;
    let (profile_id, _) = profile(s, &c.account, &b.profile).await?;
    let action: SyncAction =
        b.action
            .parse()
            .map_err(|e: passerelle_domain::action::UnknownAction| {
                Problem::bad_request("Action inconnue", &e.to_string())
            })?;
    if !crate::commands::action_available(action) || action == SyncAction::DemoEngine {
        return Err(Problem::bad_request(
            "Action indisponible",
            &format!("l'action {action} n'est pas disponible dans cette version"),
        ));
    }
    let out = s
        .app
        .store
        .enqueue(NewRun {
            run_id: RunId::from_uuid(uuid::Uuid::now_v7()),
            account_id: c.account.clone(),
            profile_id,
            action,
            trigger: Trigger::Manual,
            input: json!({"retry_initial_ms": 300, "full": b.full}),
            actor: c.who.actor(),
            requested_at: chrono::Utc::now(),
        })
        .await
        .map_err(Problem::unavailable)?;
    Ok(match out {
        EnqueueOutcome::Enqueued(id) => (id, false),
        EnqueueOutcome::AlreadyActive(id) => (id, true),
    })
}

#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = StartRun,
    responses((status = 202, description = "{id, already_active}"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn start_run(
    State(s): State<ApiState>,
    c: Caller,
    Json(b): Json<StartRun>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let (id, already) = enqueue_run(&s, &c, b).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id.to_string(), "already_active": already})),
    ))
}

/// The detail of a run (`run-detail --json`): counts, duration, progress, log, errors,
/// files (names and sizes), or `None` when the account has no such run.
pub async fn run_detail(
    s: &ApiState,
    acc: &AccountId,
    id: RunId,
    lang: Lang,
) -> Result<Option<(Value, Vec<(String, String)>)>, Problem> {
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    let Some(run) = journal::get(&s.app.db, acc.as_str(), &id.to_string())
        .await
        .map_err(Problem::unavailable)?
    else {
        return Ok(None);
    };
    let events = s
        .app
        .store
        .load_run(acc, id)
        .await
        .map_err(Problem::unavailable)?;
    let files = crate::orders_cmd::run_files(&events);
    let duration = match (&run.started_at, &run.finished_at) {
        (Some(a), Some(b)) => match (
            chrono::DateTime::parse_from_rfc3339(a),
            chrono::DateTime::parse_from_rfc3339(b),
        ) {
            (Ok(a), Ok(b)) => Some((b - a).num_milliseconds() as f64 / 1000.0),
            _ => None,
        },
        _ => None,
    };
    let mut v = serde_json::to_value(&run).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("duration_seconds".into(), json!(duration));
        o.insert("progress".into(), json!(run.progress));
        o.insert("log".into(), json!(journal::render_log_in(&events, lang)));
        o.insert(
            "errors".into(),
            json!(journal::render_errors_in(&events, lang)),
        );
        o.insert(
            "files".into(),
            json!(files
                .iter()
                .map(|(n, c)| json!({"name": n, "bytes": c.len()}))
                .collect::<Vec<_>>()),
        );
    }
    Ok(Some((v, files)))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs",
    params(("id" = String, Path, description = "Tâche")),
    responses((status = 200, description = "Détail (contrat de `run-detail --json`)"), (status = 404, body = Problem)))]
async fn get_run(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    match run_detail(&s, &c.account, rid(&id)?, Lang::Fr).await? {
        Some((v, _)) => Ok(Json(v)),
        None => Err(Problem::not_found()),
    }
}

#[utoipa::path(post, path = "/api/v1/runs/{id}/cancel", tag = "runs",
    params(("id" = String, Path, description = "Tâche")),
    responses((status = 200, description = "{outcome: stopped|requested|already_finished}"), (status = 404, body = Problem), (status = 403, body = Problem)))]
async fn cancel_run(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, Problem> {
    c.require(&[Role::Admin, Role::Operator])?;
    let id = owned_run(&s, &c.account, &id).await?;
    let out = s
        .app
        .store
        .request_cancel(&c.account, id, &c.who.actor(), chrono::Utc::now())
        .await
        .map_err(Problem::unavailable)?;
    Ok(Json(json!({"outcome": match out {
        CancelOutcome::Stopped => "stopped",
        CancelOutcome::Requested => "requested",
        CancelOutcome::AlreadyFinished => "already_finished",
    }})))
}

/// A file download answer, named safely (the name is one of the run's own files).
pub fn file_response(name: &str, content: String) -> Response {
    let mut r = content.into_response();
    let ctype = if name.ends_with(".json") {
        "application/json; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{safe}\"")) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/files/{name}", tag = "runs",
    params(("id" = String, Path, description = "Tâche"), ("name" = String, Path, description = "Orders.txt, commandes-boutique.json…")),
    responses((status = 200, description = "Le fichier", content_type = "text/plain"), (status = 404, body = Problem)))]
async fn run_file(
    State(s): State<ApiState>,
    c: Caller,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let id = rid(&id)?;
    // Names are looked up among the run's own files: `../x` or `/etc/passwd` match nothing.
    let Some((_, files)) = run_detail(&s, &c.account, id, Lang::Fr).await? else {
        return Err(Problem::not_found());
    };
    let Some((n, content)) = files.into_iter().find(|(n, _)| *n == name) else {
        return Err(Problem::not_found());
    };
    Ok(file_response(&n, content))
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/live", tag = "runs",
    params(("id" = String, Path, description = "Tâche"), ("lang" = Option<String>, Query, description = "fr (défaut) ou en")),
    responses((status = 200, description = "Flux SSE : événements `progress` (compteurs JSON), `log` (une ligne), `end`", content_type = "text/event-stream"), (status = 404, body = Problem)))]
async fn run_live(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, Problem> {
    let id = owned_run(&s, &c.account, &id).await?;
    let lang = if q.get("lang").map(String::as_str) == Some("en") {
        Lang::En
    } else {
        Lang::Fr
    };
    // Subscribe first, then read the past: batches already read are skipped by sequence.
    let rx = s.live.subscribe(s.app.store.clone(), &c.account, id);
    let past = s
        .app
        .store
        .load_log_after(&c.account, id, 0)
        .await
        .map_err(Problem::unavailable)?;
    if past.is_empty() {
        return Err(Problem::not_found());
    }
    let mut counts = LiveCounts::default();
    counts.fold(&past);
    let seen = past.last().map(|e| e.sequence).unwrap_or(0);
    let first: Vec<Event> = std::iter::once(progress_event(&counts))
        .chain(
            journal::render_log_in(&past, lang)
                .into_iter()
                .map(|l| Event::default().event("log").data(l)),
        )
        .collect();
    let ended = counts.ended();
    let store = s.app.store.clone();
    let account = c.account.clone();
    let head = futures::stream::iter(first);
    let end = futures::stream::iter(ended.then(end_event));
    let tail = futures::stream::unfold((!ended).then_some((rx, seen)), move |st| {
        let store = store.clone();
        let account = account.clone();
        async move {
            let (mut rx, mut seen) = st?;
            loop {
                match rx.recv().await {
                    Ok(b) if b.last <= seen => continue,
                    Ok(b) => {
                        let lines = if b.after >= seen {
                            if lang == Lang::En {
                                b.lines.1.clone()
                            } else {
                                b.lines.0.clone()
                            }
                        } else {
                            // Overlap at the seam: render only what this watcher lacks.
                            let ev = store
                                .load_log_after(&account, id, seen)
                                .await
                                .unwrap_or_default();
                            journal::render_log_in(&ev, lang)
                        };
                        seen = b.last;
                        let mut out: Vec<Event> = lines
                            .into_iter()
                            .map(|l| Event::default().event("log").data(l))
                            .collect();
                        out.push(progress_event(&b.counts));
                        if b.counts.ended() {
                            out.push(end_event());
                            return Some((out, None));
                        }
                        return Some((out, Some((rx, seen))));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        return Some((vec![end_event()], None));
                    }
                }
            }
        }
    })
    .flat_map(futures::stream::iter);
    use futures::StreamExt;
    let stream = head.chain(end).chain(tail).map(Ok::<Event, Infallible>);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn end_event() -> Event {
    Event::default().event("end").data("fin")
}

fn progress_event(c: &LiveCounts) -> Event {
    Event::default()
        .event("progress")
        .data(serde_json::to_string(c).unwrap_or_default())
}

#[utoipa::path(get, path = "/api/v1/runs/{id}/history", tag = "runs",
    params(("id" = String, Path, description = "Tâche")),
    responses((status = 200, description = "Chaque événement de la tâche, dans l'ordre (audit)"), (status = 404, body = Problem), (status = 403, body = Problem)))]
async fn run_history(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<Vec<Value>>, Problem> {
    c.require(&[Role::Admin, Role::Auditor])?;
    let id = owned_run(&s, &c.account, &id).await?;
    let events = s
        .app
        .store
        .load_run(&c.account, id)
        .await
        .map_err(Problem::unavailable)?;
    if events.is_empty() {
        return Err(Problem::not_found());
    }
    Ok(Json(
        events
            .iter()
            .map(|e| {
                json!({
                    "sequence": e.sequence,
                    "position": e.position,
                    "event_type": cqrs_es::DomainEvent::event_type(&e.event),
                    "payload": e.event,
                    "metadata": e.metadata.to_map(),
                })
            })
            .collect(),
    ))
}

#[utoipa::path(get, path = "/api/v1/schedules", tag = "schedules", params(Page),
    responses((status = 200, description = "Tâches planifiées (contrat de `schedules --json`)"), (status = 401, body = Problem)))]
async fn list_schedules(
    State(s): State<ApiState>,
    c: Caller,
    Query(p): Query<Page>,
) -> Result<Json<Vec<passerelle_projections::schedules::ScheduleRow>>, Problem> {
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    let (limit, offset) = p.bounds();
    passerelle_projections::schedules::list(&s.app.db, c.account.as_str())
        .await
        .map(|v| {
            Json(
                v.into_iter()
                    .skip(offset as usize)
                    .take(limit as usize)
                    .collect(),
            )
        })
        .map_err(Problem::unavailable)
}

/// When a schedule fires: the flags of `passerelle schedule create`.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct TimingBody {
    /// Start, local time `2026-12-01 08:00`.
    pub start: String,
    /// Every N days.
    pub daily: Option<u32>,
    /// Every N weeks (with `on`).
    pub weekly: Option<u32>,
    /// Weekdays `mon,thu`.
    pub on: Option<String>,
    /// Months `1,7` or `all`.
    pub months: Option<String>,
    /// Days of month `1,15,last`.
    pub monthly_days: Option<String>,
    /// `first`…`last` (with `on`).
    pub monthly_weekday: Option<String>,
    /// Repeat every `5m`…`12h`.
    pub repeat: Option<String>,
    /// …for `12h`.
    pub for_duration: Option<String>,
    /// IANA time zone (default Europe/Paris).
    pub time_zone: Option<String>,
}

impl TimingBody {
    /// The CLI's timing (same validation, same messages).
    pub fn timing(&self) -> crate::scheduling::Timing {
        crate::scheduling::Timing {
            start: self.start.clone(),
            daily: self.daily,
            weekly: self.weekly,
            on: self.on.clone(),
            months: self.months.clone(),
            monthly_days: self.monthly_days.clone(),
            monthly_weekday: self.monthly_weekday.clone(),
            repeat: self.repeat.clone(),
            for_duration: self.for_duration.clone(),
            time_zone: self
                .time_zone
                .clone()
                .unwrap_or_else(|| "Europe/Paris".into()),
        }
    }
}

/// A schedule to create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewSchedule {
    /// Profile id.
    pub profile: String,
    /// Action.
    pub action: String,
    /// Timing.
    #[serde(flatten)]
    pub timing: TimingBody,
}

/// Runs a schedule command for the caller; a refusal is a 400 with its reason.
pub async fn schedule_command(
    s: &ApiState,
    c: &Caller,
    id: &str,
    cmd: ScheduleCommand,
) -> Result<(), Problem> {
    match SqlScheduleStore::new(s.app.db.clone())
        .execute(&c.account, id, cmd, c.who.actor(), chrono::Utc::now())
        .await
    {
        Ok(_) => Ok(()),
        // An unknown schedule of this account (maybe another's): not found.
        Err(passerelle_adapters::store::ScheduleStoreError::Refused(
            passerelle_domain::scheduling::ScheduleRefusal::Unknown,
        )) => Err(Problem::not_found()),
        Err(passerelle_adapters::store::ScheduleStoreError::Refused(r)) => Err(
            Problem::bad_request("Planification refusée", &r.to_string()),
        ),
        Err(e) => Err(Problem::unavailable(e)),
    }
}

/// Creates a schedule; returns its id.
pub async fn create_schedule_for(
    s: &ApiState,
    c: &Caller,
    b: NewSchedule,
) -> Result<String, Problem> {
    c.require(&[Role::Admin])?;
    let (profile_id, _) = profile(s, &c.account, &b.profile).await?;
    let action: SyncAction =
        b.action
            .parse()
            .map_err(|e: passerelle_domain::action::UnknownAction| {
                Problem::bad_request("Action inconnue", &e.to_string())
            })?;
    let t = b.timing.timing();
    let spec = t
        .spec()
        .map_err(|e| Problem::bad_request("Horaire invalide", &e.to_string()))?;
    let id = uuid::Uuid::now_v7().to_string();
    schedule_command(
        s,
        c,
        &id,
        ScheduleCommand::Create {
            profile_id,
            action,
            spec,
            time_zone: t.time_zone.clone(),
            now: chrono::Utc::now(),
        },
    )
    .await?;
    Ok(id)
}

#[utoipa::path(post, path = "/api/v1/schedules", tag = "schedules", request_body = NewSchedule,
    responses((status = 201, description = "{id}"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn create_schedule(
    State(s): State<ApiState>,
    c: Caller,
    Json(b): Json<NewSchedule>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    let id = create_schedule_for(&s, &c, b).await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id}))))
}

fn sid(id: &str) -> Result<String, Problem> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.to_string())
        .map_err(|_| Problem::not_found())
}

#[utoipa::path(put, path = "/api/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "Planification")), request_body = TimingBody,
    responses((status = 204), (status = 400, body = Problem), (status = 404, body = Problem)))]
async fn edit_schedule(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
    Json(b): Json<TimingBody>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    let id = sid(&id)?;
    let t = b.timing();
    let spec = t
        .spec()
        .map_err(|e| Problem::bad_request("Horaire invalide", &e.to_string()))?;
    schedule_command(
        &s,
        &c,
        &id,
        ScheduleCommand::Change {
            spec,
            time_zone: t.time_zone.clone(),
            now: chrono::Utc::now(),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}", tag = "schedules",
    params(("id" = String, Path, description = "Planification")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn delete_schedule(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    schedule_command(&s, &c, &sid(&id)?, ScheduleCommand::Delete).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/pause", tag = "schedules",
    params(("id" = String, Path, description = "Planification")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn pause_schedule(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    schedule_command(&s, &c, &sid(&id)?, ScheduleCommand::Pause).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/schedules/{id}/resume", tag = "schedules",
    params(("id" = String, Path, description = "Planification")),
    responses((status = 204), (status = 404, body = Problem)))]
async fn resume_schedule(
    State(s): State<ApiState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(&[Role::Admin])?;
    schedule_command(
        &s,
        &c,
        &sid(&id)?,
        ScheduleCommand::Resume {
            now: chrono::Utc::now(),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The quota view of an account (`quota --json`).
pub async fn quota_value(s: &ApiState, acc: &AccountId) -> Result<Value, Problem> {
    s.app
        .projector
        .catch_up()
        .await
        .map_err(Problem::unavailable)?;
    let (counters, suspended, daily) =
        passerelle_projections::orders::quota_view(&s.app.db, acc.as_str(), chrono::Utc::now())
            .await
            .map_err(Problem::unavailable)?;
    Ok(
        json!({"account": acc.as_str(), "suspended": suspended, "counters": counters, "daily": daily}),
    )
}

#[utoipa::path(get, path = "/api/v1/quota", tag = "profiles",
    responses((status = 200, description = "Contrat de `quota --json`"), (status = 401, body = Problem)))]
async fn quota(State(s): State<ApiState>, c: Caller) -> Result<Json<Value>, Problem> {
    quota_value(&s, &c.account).await.map(Json)
}

#[utoipa::path(post, path = "/api/v1/replay/verify", tag = "support",
    responses((status = 200, description = "{events, rows, differences}"), (status = 403, body = Problem)))]
async fn replay_verify(State(s): State<ApiState>, c: Caller) -> Result<Json<Value>, Problem> {
    c.require(&[Role::Auditor])?;
    let r = passerelle_projections::rebuild::rebuild(&s.app.projector, true)
        .await
        .map_err(Problem::unavailable)?;
    // Differences of the whole store are only counted: their rows may be other accounts'.
    Ok(Json(
        json!({"events": r.events, "rows": r.rows, "differences": r.diffs.len(), "identical": r.diffs.is_empty()}),
    ))
}
