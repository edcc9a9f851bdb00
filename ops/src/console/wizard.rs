//! Profils: the list, the creation wizard (platform and ERP, features, connection
//! settings → EBP login → test connection → the values read by refresh-config), and a
//! profile's page.

use super::{ctx, page, posted, tr, Ctx};
use crate::api::routes::{connection_checks, import_profile, profile_summaries, read_config};
use crate::api::{ApiState, Problem};
use crate::profiles::ProfileFile;
use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use passerelle_domain::access::Role;
use passerelle_domain::ProfileId;
use serde::Deserialize;
use std::collections::HashMap;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/profils", get(list))
        .route("/profils/nouveau", get(new_form).post(create))
        .route("/profils/{id}", get(show))
        .route("/profils/{id}/tester", post(test))
        .route("/profils/{id}/configuration", post(configuration))
        .route("/profils/{id}/ebp", get(ebp_start))
        .route("/profils/{id}/ebp/retour", get(ebp_callback))
}

/// Shop platforms the wizard offers (the capability matrix of the platform seam will
/// replace this list when it lands).
const PLATFORMS: [(&str, &str); 1] = [("prestashop", "PrestaShop")];

/// Features (FEATURES §2) and the actions they enable.
const FEATURES: [(&str, &str, &str); 4] = [
    (
        "articles",
        "Articles (export, prix, stock, activation)",
        "Articles (export, prices, stock, activation)",
    ),
    (
        "clients",
        "Clients (export, groupes, prospects)",
        "Customers (export, groups, prospects)",
    ),
    (
        "commandes",
        "Commandes (import, statuts, factures)",
        "Orders (import, statuses, invoices)",
    ),
    ("devis", "Devis (import)", "Quotes (import)"),
];

fn problem_page(c: &Ctx, p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    super::error_page(c.lang, status, &format!("{} : {}", p.title, p.detail))
}

async fn list(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let profiles = profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default();
    page(&c, c.t("Profils", "Profiles"), html! {
        @if c.can(&[Role::Admin]) { p { a href="/profils/nouveau" { (c.t("Nouveau profil (assistant)", "New profile (wizard)")) } } }
        table {
            thead { tr { th scope="col" { "Id" } th scope="col" { (c.t("Nom", "Name")) } th scope="col" { (c.t("Boutique", "Shop")) } th scope="col" { (c.t("Dossier EBP", "EBP folder")) } } }
            tbody { @for p in &profiles { tr {
                td { a href=(format!("/profils/{}", p.id)) { (p.id) } } td { (p.name) }
                td { (p.platform.as_deref().unwrap_or("")) " " (p.shop_url.as_deref().unwrap_or("")) } td { (p.erp_folder.as_deref().unwrap_or("")) }
            } } }
        }
        @if profiles.is_empty() { p { (c.t("Aucun profil.", "No profile.")) } }
    })
    .into_response()
}

fn steps(c: &Ctx, at: usize) -> Markup {
    let names = [
        c.t("Plateforme et ERP", "Platform and ERP"),
        c.t("Fonctionnalités", "Features"),
        c.t("Connexions", "Connections"),
        c.t("Connexion EBP et test", "EBP login and test"),
        c.t("Options et correspondances", "Options and mappings"),
    ];
    html! {
        ol aria-label=(c.t("Étapes de l'assistant", "Wizard steps")) {
            @for (i, n) in names.iter().enumerate() {
                li aria-current=[(i + 1 == at).then_some("step")] { @if i + 1 == at { strong { (n) } } @else { (n) } }
            }
        }
    }
}

async fn new_form(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(p) = c.caller.require(&[Role::Admin]) {
        return problem_page(&c, p);
    }
    page(&c, c.t("Nouveau profil", "New profile"), html! {
        (steps(&c, 1))
        form method="post" action="/profils/nouveau" {
            input type="hidden" name="csrf" value=(c.csrf);
            fieldset { legend { (c.t("1. Plateforme et ERP", "1. Platform and ERP")) }
                label for="w-platform" { (c.t("Boutique", "Shop")) }
                select id="w-platform" name="platform" { @for (v, l) in PLATFORMS { option value=(v) { (l) } } }
                label for="w-erp" { "ERP" }
                select id="w-erp" name="erp" { option value="ebp-saas" { "EBP Gestion Commerciale SaaS" } }
            }
            fieldset { legend { (c.t("2. Fonctionnalités", "2. Features")) }
                @for (k, fr, en) in FEATURES { label { input type="checkbox" name=(format!("feature_{k}")) value="on" checked; " " (tr(c.lang, fr, en)) } }
            }
            fieldset { legend { (c.t("3. Connexions", "3. Connections")) }
                label for="w-id" { (c.t("Identifiant du profil (a-z, 0-9, -)", "Profile id (a-z, 0-9, -)")) }
                input id="w-id" name="id" type="text" required pattern="[A-Za-z0-9._-]{1,64}";
                label for="w-name" { (c.t("Nom", "Name")) }
                input id="w-name" name="name" type="text" value="PRESTASHOP <> EBPSAAS";
                label for="w-url" { (c.t("Adresse de la boutique", "Shop URL")) }
                input id="w-url" name="shop_url" type="url" required placeholder="https://boutique.example/";
                label for="w-key" { (c.t("Clé du webservice (secret, jamais réaffichée)", "Webservice key (secret, never shown again)")) }
                input id="w-key" name="shop_key" type="password" required autocomplete="off";
                label for="w-api" { (c.t("Adresse de l'API EBP", "EBP API URL")) }
                input id="w-api" name="erp_api_url" type="url" value="https://api-developpeurs.ebp.com";
                label for="w-login" { (c.t("Adresse de connexion EBP", "EBP login URL")) }
                input id="w-login" name="erp_login_url" type="url" value="https://api-login.ebp.com";
                label for="w-client" { (c.t("Identifiant client OAuth EBP", "EBP OAuth client id")) }
                input id="w-client" name="erp_client_id" type="text" required;
                label for="w-secret" { (c.t("Secret client OAuth (secret)", "OAuth client secret (secret)")) }
                input id="w-secret" name="erp_client_secret" type="password" required autocomplete="off";
                label for="w-sub" { (c.t("Clé d'abonnement API (secret)", "API subscription key (secret)")) }
                input id="w-sub" name="erp_subscription_key" type="password" required autocomplete="off";
                label for="w-folder" { (c.t("Dossier EBP", "EBP folder")) }
                input id="w-folder" name="erp_folder_id" type="text" required;
            }
            button type="submit" { (c.t("Créer le profil", "Create the profile")) }
        }
    })
    .into_response()
}

async fn create(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let c = match posted(
        &s,
        &headers,
        f.get("csrf").map(String::as_str).unwrap_or(""),
        "création de profil",
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(p) = c.caller.require(&[Role::Admin]) {
        return problem_page(&c, p);
    }
    let get = |k: &str| f.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
    let platform = get("platform");
    if !PLATFORMS.iter().any(|(p, _)| *p == platform) {
        return problem_page(&c, Problem::bad_request("Plateforme inconnue", &platform));
    }
    // PrestaShop wants the shop URL with a trailing slash (FEATURES §3.7): normalise it.
    let mut url = get("shop_url");
    if !url.ends_with('/') {
        url.push('/');
    }
    let v = serde_json::json!({
        "id": get("id"),
        "name": if get("name").is_empty() { "PRESTASHOP <> EBPSAAS".to_string() } else { get("name") },
        "shop": {"platform": platform, "url": url, "key": get("shop_key")},
        "erp": {
            "api_url": get("erp_api_url"), "login_url": get("erp_login_url"),
            "client_id": get("erp_client_id"), "folder_id": get("erp_folder_id"),
            "client_secret": get("erp_client_secret"), "subscription_key": get("erp_subscription_key"),
        },
    });
    let file: ProfileFile = match serde_json::from_value(v) {
        Ok(f) => f,
        Err(e) => return problem_page(&c, Problem::bad_request("Profil invalide", &e.to_string())),
    };
    match import_profile(&s, &c.caller, file).await {
        Ok((id, _)) => Redirect::to(&format!("/profils/{id}")).into_response(),
        Err(p) => problem_page(&c, p),
    }
}

async fn owned(s: &ApiState, c: &Ctx, id: &str) -> Result<ProfileId, Response> {
    let Ok(pid) = ProfileId::parse(id) else {
        return Err(problem_page(c, Problem::not_found()));
    };
    let list = profile_summaries(s, &c.caller.account)
        .await
        .unwrap_or_default();
    if list.iter().any(|p| p.id == pid.as_str()) {
        Ok(pid)
    } else {
        Err(problem_page(c, Problem::not_found()))
    }
}

fn profile_page(c: &Ctx, id: &ProfileId, extra: Markup, at: usize) -> Response {
    page(c, &format!("{} {id}", c.t("Profil", "Profile")), html! {
        (steps(c, at))
        p { a href=(format!("/profils/{id}/ebp")) { (c.t("Se connecter à EBP (OAuth)", "Log in to EBP (OAuth)")) } }
        form class="inline" method="post" action=(format!("/profils/{id}/tester")) {
            input type="hidden" name="csrf" value=(c.csrf);
            button type="submit" { (c.t("Tester la connexion", "Test the connection")) }
        }
        " "
        form class="inline" method="post" action=(format!("/profils/{id}/configuration")) {
            input type="hidden" name="csrf" value=(c.csrf);
            button type="submit" { (c.t("Lire la configuration (boutique et ERP)", "Read the configuration (shop and ERP)")) }
        }
        (extra)
    })
    .into_response()
}

async fn show(State(s): State<ApiState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = match owned(&s, &c, &id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    profile_page(&c, &id, html! {}, 4)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn test(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, "test de connexion").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = match owned(&s, &c, &id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match connection_checks(&s, &c.caller.account, &id).await {
        Ok((shop, erp)) => profile_page(
            &c,
            &id,
            html! {
                section aria-labelledby="test" role="status" {
                    h2 id="test" { (c.t("Test de connexion", "Connection test")) }
                    ul {
                        li class=(if shop.ok { "ok" } else { "err" }) data-test="shop" { (c.t("Boutique", "Shop")) " : " (shop.message) }
                        li class=(if erp.ok { "ok" } else { "err" }) data-test="erp" { "EBP : " (erp.message) }
                    }
                }
            },
            4,
        ),
        Err(p) => problem_page(&c, p),
    }
}

fn value_list(v: &serde_json::Value) -> Markup {
    html! {
        @match v {
            serde_json::Value::Object(m) => {
                dl { @for (k, x) in m { dt { (k) } dd { (value_list(x)) } } }
            }
            serde_json::Value::Array(a) => {
                ul { @for x in a.iter().take(200) { li { (value_list(x)) } } }
            }
            serde_json::Value::String(s) => { (s) }
            other => { (other.to_string()) }
        }
    }
}

async fn configuration(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, "lecture de configuration").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = match owned(&s, &c, &id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    match read_config(&s, &c.caller.account, &id).await {
        Ok(v) => profile_page(
            &c,
            &id,
            html! {
                section aria-labelledby="conf" {
                    h2 id="conf" { (c.t("Valeurs lues pour les correspondances", "Values read for the mappings")) }
                    h3 { (c.t("Boutique", "Shop")) } (value_list(&v["shop"]))
                    h3 { "EBP" } (value_list(&v["erp"]))
                }
            },
            5,
        ),
        Err(p) => problem_page(&c, p),
    }
}

fn callback_url(headers: &HeaderMap, id: &ProfileId) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .unwrap_or("localhost");
    let scheme =
        if host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]") {
            "http"
        } else {
            "https"
        };
    format!("{scheme}://{host}/profils/{id}/ebp/retour")
}

async fn ebp_start(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = match owned(&s, &c, &id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let conn = match s.app.connectors() {
        Ok(x) => x,
        Err(e) => return problem_page(&c, Problem::internal(e)),
    };
    match conn.ebp_client(&c.caller.account, &id).await {
        // The state is the session's CSRF token: the callback proves it is the answer to
        // this user's request.
        Ok(client) => Redirect::to(&client.authorize_url(&callback_url(&headers, &id), &c.csrf))
            .into_response(),
        Err(e) => problem_page(&c, Problem::bad_request("EBP", &e.to_string())),
    }
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn ebp_callback(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Callback>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let id = match owned(&s, &c, &id).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    if q.state.as_deref() != Some(c.csrf.as_str()) {
        return super::error_page(
            c.lang,
            StatusCode::FORBIDDEN,
            c.t(
                "Réponse EBP inattendue (state).",
                "Unexpected EBP answer (state).",
            ),
        );
    }
    let Some(code) = q.code else {
        return problem_page(&c, Problem::bad_request("EBP", "aucun code d'autorisation"));
    };
    let conn = match s.app.connectors() {
        Ok(x) => x,
        Err(e) => return problem_page(&c, Problem::internal(e)),
    };
    let client = match conn.ebp_client(&c.caller.account, &id).await {
        Ok(x) => x,
        Err(e) => return problem_page(&c, Problem::bad_request("EBP", &e.to_string())),
    };
    match client
        .exchange_code(&code, &callback_url(&headers, &id))
        .await
    {
        Ok(_) => profile_page(
            &c,
            &id,
            html! { p class="ok" role="status" { (c.t("Connexion EBP enregistrée (jetons chiffrés).", "EBP login stored (tokens encrypted).")) } },
            4,
        ),
        Err(e) => problem_page(&c, Problem::bad_request("EBP", &e.to_string())),
    }
}
