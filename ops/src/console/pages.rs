//! Console pages: login, dashboard, sync, schedules, journal, notifications, security,
//! support.

use super::{bare, ctx, error_page, page, posted, tr, Ctx, LANG_COOKIE, LOGIN_CSRF_COOKIE};
use crate::api::routes::{
    available_actions, create_schedule_for, do_reset, enqueue_run, file_response,
    profile_summaries, quota_value, run_detail, schedule_command, NewSchedule, StartRun,
    TimingBody,
};
use crate::api::{client_ip, cookie, ApiState, Problem};
use crate::auth::random_token;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use passerelle_domain::access::Role;
use passerelle_domain::scheduling::ScheduleCommand;
use passerelle_domain::{AccountId, Lang, ProfileId, RunStatus};
use passerelle_projections::journal::{self, JournalFilter};
use serde::Deserialize;
use std::collections::HashMap;

pub(super) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(home))
        .route("/connexion", get(login_form).post(login))
        .route("/deconnexion", post(logout))
        .route("/langue", get(set_lang))
        .route("/synchronisation", get(sync_page).post(sync_start))
        .route("/planification", get(schedules_page).post(schedule_create))
        .route("/planification/{id}/{op}", post(schedule_op))
        .route("/journaux", get(journal_page))
        .route("/journaux/{id}", get(run_page))
        .route("/journaux/{id}/annuler", post(run_cancel))
        .route("/journaux/{id}/fichiers/{name}", get(run_file))
        .route(
            "/notifications",
            get(notifications_page).post(notifications_save),
        )
        .route("/securite", get(security_page))
        .route("/support", get(support_page).post(support_reset))
        .route("/support/compte", post(support_open))
}

fn problem_page(c: &Ctx, p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    error_page(c.lang, status, &format!("{} : {}", p.title, p.detail))
}

fn set_cookie(r: &mut Response, v: &str) {
    if let Ok(v) = HeaderValue::from_str(v) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

#[derive(Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

async fn set_lang(headers: HeaderMap, Query(q): Query<LangQuery>) -> Response {
    let lang = if q.lang.as_deref() == Some("en") {
        "en"
    } else {
        "fr"
    };
    // Back where the user was, if it is one of our pages.
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.find('/').map(|i| rest[i..].to_string()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    let mut r = Redirect::to(&back).into_response();
    set_cookie(
        &mut r,
        &format!("{LANG_COOKIE}={lang}; Path=/; SameSite=Strict; Max-Age=31536000"),
    );
    r
}

async fn login_form(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let lang = super::lang_of(&headers);
    if super::ctx(&s, &headers).await.is_ok() {
        return Redirect::to("/").into_response();
    }
    let token = random_token(24);
    let mut r = login_markup(lang, &token, None).into_response();
    set_cookie(
        &mut r,
        &format!(
            "{LOGIN_CSRF_COOKIE}={token}; Path=/connexion; HttpOnly; SameSite=Strict; Max-Age=3600{}",
            if s.secure_cookies { "; Secure" } else { "" }
        ),
    );
    r
}

fn login_markup(lang: Lang, csrf: &str, error: Option<&str>) -> axum::response::Html<String> {
    bare(
        lang,
        tr(lang, "Connexion", "Log in"),
        html! {
            h1 { (tr(lang, "Connexion", "Log in")) }
            @if let Some(e) = error { p class="err" role="alert" { (e) } }
            form method="post" action="/connexion" {
                input type="hidden" name="csrf" value=(csrf);
                label for="account" { (tr(lang, "Compte", "Account")) }
                input id="account" name="account" type="text" required autocomplete="organization";
                label for="email" { (tr(lang, "E-mail", "E-mail")) }
                input id="email" name="email" type="email" required autocomplete="username";
                label for="password" { (tr(lang, "Mot de passe", "Password")) }
                input id="password" name="password" type="password" required autocomplete="current-password";
                button type="submit" { (tr(lang, "Se connecter", "Log in")) }
            }
        },
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    account: String,
    email: String,
    password: String,
}

async fn login(State(s): State<ApiState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let lang = super::lang_of(&parts.headers);
    let ip = client_ip(&parts, s.behind_proxy);
    let expected = cookie(&parts.headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    let req = Request::from_parts(parts, body);
    let Ok(Form(f)) =
        <Form<LoginForm> as axum::extract::FromRequest<ApiState>>::from_request(req, &s).await
    else {
        return error_page(
            lang,
            StatusCode::BAD_REQUEST,
            tr(lang, "Formulaire incomplet.", "Incomplete form."),
        );
    };
    if expected.is_empty() || f.csrf != expected {
        return error_page(
            lang,
            StatusCode::FORBIDDEN,
            tr(
                lang,
                "Jeton CSRF invalide : rechargez la page.",
                "Invalid CSRF token: reload the page.",
            ),
        );
    }
    let now = chrono::Utc::now();
    match s
        .access
        .login(&f.account, &f.email, &f.password, &ip, now)
        .await
    {
        Ok(who) => match s.access.open_session(&who, now).await {
            Ok(sess) => {
                let mut r = Redirect::to("/").into_response();
                set_cookie(
                    &mut r,
                    &crate::api::auth_routes::session_cookie(&sess.token, s.secure_cookies),
                );
                r
            }
            Err(e) => problem_page_lang(lang, Problem::unavailable(e)),
        },
        Err(e) => {
            let msg = crate::api::auth_routes::login_problem(e);
            let status = StatusCode::from_u16(msg.status).unwrap_or(StatusCode::UNAUTHORIZED);
            (status, login_markup(lang, &expected, Some(&msg.detail))).into_response()
        }
    }
}

fn problem_page_lang(lang: Lang, p: Problem) -> Response {
    let status = StatusCode::from_u16(p.status).unwrap_or(StatusCode::BAD_REQUEST);
    error_page(lang, status, &p.detail)
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn logout(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, "déconnexion").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let _ = s.access.logout(&c.caller.who).await;
    let mut r = Redirect::to("/connexion").into_response();
    set_cookie(
        &mut r,
        &crate::api::auth_routes::clear_cookie(s.secure_cookies),
    );
    r
}

/// The per-day chart of the month: one bar per day and counter, server-rendered SVG with a
/// text alternative (the table under it).
fn chart(c: &Ctx, daily: &[serde_json::Value]) -> Markup {
    let mut per_day: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for d in daily {
        let day = d["day"].as_str().unwrap_or("").to_string();
        let units = d["units"].as_i64().unwrap_or(0);
        let e = per_day.entry(day).or_default();
        if d["counter"].as_str() == Some("import") {
            e.1 += units;
        } else {
            e.0 += units;
        }
    }
    let max = per_day
        .values()
        .map(|(a, b)| (*a).max(*b))
        .max()
        .unwrap_or(0)
        .max(1);
    let n = per_day.len().max(1) as i64;
    let w = 600i64;
    let slot = (w / n).clamp(8, 60);
    html! {
        figure {
            svg viewBox=(format!("0 0 {} 140", slot * n + 10)) width="100%" height="160" role="img" aria-labelledby="chart-title" {
                title id="chart-title" { (c.t("Unités consommées par jour (export, import)", "Units used per day (export, import)")) }
                @for (i, (day, (ex, im))) in per_day.iter().enumerate() {
                    @let x = i as i64 * slot + 5;
                    @let he = ex * 110 / max;
                    @let hi = im * 110 / max;
                    rect x=(x) y=(120 - he) width=(slot / 2 - 1) height=(he) fill="#0b4f9c" {}
                    rect x=(x + slot / 2) y=(120 - hi) width=(slot / 2 - 1) height=(hi) fill="#c25e00" {}
                    text x=(x) y="135" { (day.get(8..10).unwrap_or(day)) }
                }
            }
            figcaption { span style="color:#0b4f9c" { "■ " } "export " span style="color:#c25e00" { "■ " } "import" }
        }
    }
}

async fn home(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let q = match quota_value(&s, &c.caller.account).await {
        Ok(q) => q,
        Err(p) => return problem_page(&c, p),
    };
    let runs = journal::list(
        &s.app.db,
        c.caller.account.as_str(),
        &JournalFilter {
            limit: Some(10),
            ..Default::default()
        },
    )
    .await
    .unwrap_or_default();
    let counters = q["counters"].as_array().cloned().unwrap_or_default();
    let daily = q["daily"].as_array().cloned().unwrap_or_default();
    page(&c, c.t("Espace client", "Dashboard"), html! {
        @if let Some(why) = q["suspended"].as_str() { p class="err" role="alert" { (c.t("Service suspendu : ", "Service suspended: ")) (why) } }
        section aria-labelledby="quotas" {
            h2 id="quotas" { (c.t("Quotas", "Quotas")) }
            table {
                thead { tr { th scope="col" { (c.t("Compteur", "Counter")) } th scope="col" { (c.t("Acheté", "Bought")) } th scope="col" { (c.t("Utilisé", "Used")) } th scope="col" { (c.t("Disponible", "Available")) } } }
                tbody { @for k in &counters { tr { td { (k["counter"].as_str().unwrap_or("")) } td { (k["bought"]) } td { (k["used"]) } td { (k["available"]) } } } }
            }
            @if counters.is_empty() { p { (c.t("Aucun forfait.", "No plan.")) } }
            h3 { (c.t("Consommation du mois", "This month's usage")) }
            (chart(&c, &daily))
        }
        section aria-labelledby="recent" {
            h2 id="recent" { (c.t("Dernières tâches", "Latest runs")) }
            (runs_table(&c, &runs))
        }
    })
    .into_response()
}

fn status_label(lang: Lang, s: &str) -> String {
    RunStatus::parse(s).map_or(s.to_string(), |x| x.label(lang).to_string())
}

fn runs_table(c: &Ctx, runs: &[journal::JournalRun]) -> Markup {
    html! {
        table {
            thead { tr {
                th scope="col" { (c.t("Profil", "Profile")) } th scope="col" { (c.t("Tâche", "Task")) }
                th scope="col" { (c.t("Début", "Start")) } th scope="col" { (c.t("Fin", "End")) }
                th scope="col" { (c.t("Éléments", "Items")) } th scope="col" { (c.t("Statut", "Status")) } th scope="col" { "Message" }
            } }
            tbody { @for r in runs { tr {
                td { (r.profile) }
                td { a href=(format!("/journaux/{}", r.id)) { (journal::action_label_in(&r.action, c.lang)) } }
                td { (r.started_at.as_deref().unwrap_or("-")) } td { (r.finished_at.as_deref().unwrap_or("-")) }
                td { (r.counts.total) } td { (status_label(c.lang, &r.status)) } td { (r.message) }
            } } }
        }
        @if runs.is_empty() { p { (c.t("Aucune tâche.", "No run.")) } }
    }
}

async fn sync_page(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let profiles = profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default();
    let actions = available_actions();
    page(&c, c.t("Synchronisation", "Sync"), html! {
        @if profiles.is_empty() { p { (c.t("Créez d'abord un profil.", "Create a profile first.")) " " a href="/profils/nouveau" { (c.t("Nouveau profil", "New profile")) } } }
        @else {
            form method="post" action="/synchronisation" {
                input type="hidden" name="csrf" value=(c.csrf);
                label for="profile" { (c.t("Profil", "Profile")) }
                select id="profile" name="profile" { @for p in &profiles { option value=(p.id) { (p.name) " (" (p.id) ")" } } }
                label for="action" { (c.t("Action", "Action")) }
                select id="action" name="action" { @for a in &actions { option value=(a.name) { (if c.lang == Lang::En { &a.label_en } else { &a.label_fr }) } } }
                button type="submit" { (c.t("Lancer maintenant", "Run now")) }
            }
        }
    })
    .into_response()
}

#[derive(Deserialize)]
struct SyncForm {
    #[serde(default)]
    csrf: String,
    profile: String,
    action: String,
}

async fn sync_start(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<SyncForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, &format!("lancement {}", f.action)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    match enqueue_run(
        &s,
        &c.caller,
        StartRun {
            profile: f.profile,
            action: f.action,
            full: false,
        },
    )
    .await
    {
        Ok((id, _)) => Redirect::to(&format!("/journaux/{id}")).into_response(),
        Err(p) => problem_page(&c, p),
    }
}

async fn schedules_page(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let _ = s.app.projector.catch_up().await;
    let rows = passerelle_projections::schedules::list(&s.app.db, c.caller.account.as_str())
        .await
        .unwrap_or_default();
    let profiles = profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default();
    let actions = available_actions();
    page(&c, c.t("Tâches planifiées", "Scheduled tasks"), html! {
        table {
            thead { tr {
                th scope="col" { (c.t("Profil", "Profile")) } th scope="col" { (c.t("Tâche", "Task")) }
                th scope="col" { (c.t("Départ", "Start")) } th scope="col" { (c.t("Dernière", "Last run")) }
                th scope="col" { (c.t("Prochaine", "Next run")) } th scope="col" { (c.t("En cours", "Running")) } th scope="col" { "Actions" }
            } }
            tbody { @for r in &rows { tr {
                td { (r.profile) } td { (journal::action_label_in(&r.action, c.lang)) }
                td { (r.spec["start"].as_str().unwrap_or("")) }
                td { (r.last_run_at.as_deref().unwrap_or("-")) }
                td data-next-run { @if r.paused { (c.t("(en pause)", "(paused)")) } @else { (r.next_run_at.as_deref().unwrap_or("-")) } }
                td { (if r.running { c.t("oui", "yes") } else { c.t("non", "no") }) }
                td {
                    @for (op, label) in [(if r.paused { "reprendre" } else { "pause" }, if r.paused { c.t("Reprendre", "Resume") } else { c.t("Pause", "Pause") }), ("supprimer", c.t("Supprimer", "Delete"))] {
                        form class="inline" method="post" action=(format!("/planification/{}/{}", r.id, op)) {
                            input type="hidden" name="csrf" value=(c.csrf);
                            button type="submit" class=(if op == "supprimer" { "danger" } else { "" }) { (label) }
                        }
                    }
                }
            } } }
        }
        @if rows.is_empty() { p { (c.t("Aucune tâche planifiée.", "No scheduled task.")) } }
        h2 { (c.t("Nouvelle tâche planifiée", "New scheduled task")) }
        form method="post" action="/planification" {
            input type="hidden" name="csrf" value=(c.csrf);
            label for="s-profile" { (c.t("Profil", "Profile")) }
            select id="s-profile" name="profile" { @for p in &profiles { option value=(p.id) { (p.name) } } }
            label for="s-action" { (c.t("Tâche", "Task")) }
            select id="s-action" name="action" { @for a in &actions { option value=(a.name) { (if c.lang == Lang::En { &a.label_en } else { &a.label_fr }) } } }
            label for="s-start" { (c.t("Départ (heure locale, AAAA-MM-JJ HH:MM)", "Start (local time, YYYY-MM-DD HH:MM)")) }
            input id="s-start" name="start" type="text" required placeholder="2026-12-01 08:00";
            label for="s-daily" { (c.t("Tous les N jours", "Every N days")) }
            input id="s-daily" name="daily" type="number" min="1" value="1";
            label for="s-repeat" { (c.t("Répéter toutes les (5m…12h, facultatif)", "Repeat every (5m…12h, optional)")) }
            input id="s-repeat" name="repeat" type="text" placeholder="15m";
            label for="s-for" { (c.t("Pendant (ex. 12h)", "For (e.g. 12h)")) }
            input id="s-for" name="for_duration" type="text" placeholder="12h";
            button type="submit" { (c.t("Créer", "Create")) }
        }
    })
    .into_response()
}

#[derive(Deserialize)]
struct ScheduleForm {
    #[serde(default)]
    csrf: String,
    profile: String,
    action: String,
    start: String,
    daily: Option<String>,
    repeat: Option<String>,
    for_duration: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

async fn schedule_create(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<ScheduleForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, "planification").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let daily = match non_empty(f.daily).map(|d| d.parse::<u32>()) {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return problem_page(
                &c,
                Problem::bad_request("Horaire invalide", "nombre de jours invalide"),
            )
        }
        None => Some(1),
    };
    let b = NewSchedule {
        profile: f.profile,
        action: f.action,
        timing: TimingBody {
            start: f.start,
            daily,
            repeat: non_empty(f.repeat),
            for_duration: non_empty(f.for_duration),
            ..Default::default()
        },
    };
    match create_schedule_for(&s, &c.caller, b).await {
        Ok(_) => Redirect::to("/planification").into_response(),
        Err(p) => problem_page(&c, p),
    }
}

async fn schedule_op(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path((id, op)): Path<(String, String)>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, &format!("planification {op}")).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(p) = c.caller.require(&[Role::Admin]) {
        return problem_page(&c, p);
    }
    let cmd = match op.as_str() {
        "pause" => ScheduleCommand::Pause,
        "reprendre" => ScheduleCommand::Resume {
            now: chrono::Utc::now(),
        },
        "supprimer" => ScheduleCommand::Delete,
        _ => return problem_page(&c, Problem::not_found()),
    };
    let Ok(id) = uuid::Uuid::parse_str(&id) else {
        return problem_page(&c, Problem::not_found());
    };
    match schedule_command(&s, &c.caller, &id.to_string(), cmd).await {
        Ok(()) => Redirect::to("/planification").into_response(),
        Err(p) => problem_page(&c, p),
    }
}

#[derive(Deserialize)]
struct JournalQuery {
    page: Option<i64>,
}

async fn journal_page(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<JournalQuery>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let _ = s.app.projector.catch_up().await;
    let page_n = q.page.unwrap_or(0).max(0);
    let runs = journal::list(
        &s.app.db,
        c.caller.account.as_str(),
        &JournalFilter {
            limit: Some(50),
            offset: page_n * 50,
            ..Default::default()
        },
    )
    .await
    .unwrap_or_default();
    let (active, done): (Vec<_>, Vec<_>) = runs
        .into_iter()
        .partition(|r| matches!(r.status.as_str(), "queued" | "running" | "waiting"));
    page(&c, c.t("Journaux", "Logs"), html! {
        section aria-labelledby="en-cours" { h2 id="en-cours" { (c.t("En cours", "Running")) } (runs_table(&c, &active)) }
        section aria-labelledby="historique" { h2 id="historique" { (c.t("Historique", "History")) } (runs_table(&c, &done)) }
        nav aria-label=(c.t("Pages", "Pages")) {
            @if page_n > 0 { a href=(format!("/journaux?page={}", page_n - 1)) { (c.t("← Plus récentes", "← Newer")) } " " }
            a href=(format!("/journaux?page={}", page_n + 1)) { (c.t("Plus anciennes →", "Older →")) }
        }
    })
    .into_response()
}

async fn run_page(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(rid) = id.parse() else {
        return problem_page(&c, Problem::not_found());
    };
    let (v, _) = match run_detail(&s, &c.caller.account, rid, c.lang).await {
        Ok(Some(x)) => x,
        Ok(None) => return problem_page(&c, Problem::not_found()),
        Err(p) => return problem_page(&c, p),
    };
    let status = v["status"].as_str().unwrap_or("").to_string();
    let live = matches!(status.as_str(), "queued" | "running" | "waiting");
    let strs = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let errors = strs("errors");
    let log = strs("log");
    let files: Vec<(String, u64)> = v["files"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["name"].as_str().unwrap_or("").to_string(),
                        f["bytes"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let live_url = format!(
        "/api/v1/runs/{id}/live?lang={}",
        if c.lang == Lang::En { "en" } else { "fr" }
    );
    page(&c, c.t("Détail de la tâche", "Run detail"), html! {
        div data-live=[live.then_some(live_url.as_str())] {
            p { (c.t("Profil", "Profile")) " : " strong { (v["profile"].as_str().unwrap_or("")) } " — " (journal::action_label_in(v["action"].as_str().unwrap_or(""), c.lang)) }
            ul class="counts" aria-live="polite" {
                li { (c.t("Statut", "Status")) " : " strong data-count="status" { (status) } }
                li { "Total : " strong data-count="total" { (v["counts"]["total"]) } }
                li { (c.t("Réussis", "Succeeded")) " : " strong data-count="succeeded" { (v["counts"]["succeeded"]) } }
                li { (c.t("En échec", "Failed")) " : " strong data-count="failed" { (v["counts"]["failed"]) } }
                li { (c.t("Ignorés", "Ignored")) " : " strong data-count="ignored" { (v["counts"]["ignored"]) } }
            }
            p { (c.t("Début", "Start")) " : " (v["started_at"].as_str().unwrap_or("-")) " · " (c.t("Fin", "End")) " : " (v["finished_at"].as_str().unwrap_or("-")) " · " (c.t("Durée", "Duration")) " : " (v["duration_seconds"].as_f64().map(|d| format!("{d:.1} s")).unwrap_or_else(|| "-".into())) }
            p { "Message : " (v["message"].as_str().unwrap_or("")) }
            p id="fin-direct" hidden { (c.t("Tâche terminée : rechargez la page pour le détail complet.", "Run ended: reload the page for the full detail.")) }
            @if live && c.can(&[Role::Admin, Role::Operator]) {
                form method="post" action=(format!("/journaux/{id}/annuler")) {
                    input type="hidden" name="csrf" value=(c.csrf);
                    button type="submit" class="danger" { (c.t("Arrêter", "Stop")) }
                }
            }
        }
        section aria-labelledby="erreurs" class="erreurs" {
            h2 id="erreurs" { (c.t("Erreurs", "Errors")) " (" (errors.len()) ")" }
            @if errors.is_empty() { p { (c.t("Aucune erreur.", "No error.")) } }
            @else { ul { @for e in &errors { li { (e) } } } }
        }
        section aria-labelledby="fichiers" {
            h2 id="fichiers" { (c.t("Fichiers", "Files")) }
            @if files.is_empty() { p { (c.t("Aucun fichier.", "No file.")) } }
            ul { @for (n, b) in &files { li { a href=(format!("/journaux/{id}/fichiers/{}", urlencode(n))) download=(n) { (n) } " (" (b) " o)" } } }
        }
        section aria-labelledby="journal" {
            h2 id="journal" { (c.t("Journal détaillé (UTC)", "Detailed log (UTC)")) }
            ol id="journal-direct" { @for l in &log { li { (l) } } }
        }
    })
    .into_response()
}

/// Percent-encodes a path segment (file names have spaces: `Delivery Notes.txt`).
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn run_cancel(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, "arrêt de tâche").await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(p) = c.caller.require(&[Role::Admin, Role::Operator]) {
        return problem_page(&c, p);
    }
    let Ok(rid) = id.parse() else {
        return problem_page(&c, Problem::not_found());
    };
    if journal::get(&s.app.db, c.caller.account.as_str(), &id)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        return problem_page(&c, Problem::not_found());
    }
    use passerelle_workflows::engine::RunStore;
    let _ = s
        .app
        .store
        .request_cancel(
            &c.caller.account,
            rid,
            &c.caller.who.actor(),
            chrono::Utc::now(),
        )
        .await;
    Redirect::to(&format!("/journaux/{id}")).into_response()
}

async fn run_file(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Path((id, name)): Path<(String, String)>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(rid) = id.parse() else {
        return problem_page(&c, Problem::not_found());
    };
    match run_detail(&s, &c.caller.account, rid, c.lang).await {
        Ok(Some((_, files))) => match files.into_iter().find(|(n, _)| *n == name) {
            Some((n, content)) => file_response(&n, content),
            None => problem_page(&c, Problem::not_found()),
        },
        Ok(None) => problem_page(&c, Problem::not_found()),
        Err(p) => problem_page(&c, p),
    }
}

#[derive(Deserialize)]
struct ProfileQuery {
    profile: Option<String>,
}

async fn notifications_page(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Query(q): Query<ProfileQuery>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let profiles = profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default();
    let chosen = q.profile.or_else(|| profiles.first().map(|p| p.id.clone()));
    let current = match chosen.as_deref().and_then(|p| ProfileId::parse(p).ok()) {
        Some(p) if profiles.iter().any(|x| x.id == p.as_str()) => {
            crate::notify::load_settings(&s.app.db, &c.caller.account, &p)
                .await
                .ok()
                .flatten()
        }
        _ => None,
    };
    let v = current
        .map(|n| serde_json::to_value(n).unwrap_or_default())
        .unwrap_or_default();
    let text = |k: &str| v[k].as_str().unwrap_or("").to_string();
    let flag = |k: &str| v[k].as_bool().unwrap_or(false);
    page(&c, "Notifications", html! {
        form method="get" action="/notifications" {
            label for="n-p" { (c.t("Profil", "Profile")) }
            select id="n-p" name="profile" { @for p in &profiles { option value=(p.id) selected[Some(&p.id) == chosen.as_ref()] { (p.name) } } }
            button type="submit" { (c.t("Afficher", "Show")) }
        }
        @if let Some(p) = &chosen {
            form method="post" action="/notifications" {
                input type="hidden" name="csrf" value=(c.csrf);
                input type="hidden" name="profile" value=(p);
                label for="n-host" { (c.t("Serveur SMTP", "SMTP server")) } input id="n-host" name="smtp_host" type="text" required value=(text("smtp_host"));
                label for="n-port" { "Port" } input id="n-port" name="smtp_port" type="number" value=(v["smtp_port"].as_u64().unwrap_or(587));
                label for="n-tls" { "TLS" } select id="n-tls" name="tls" { @for t in ["starttls", "tls", "none"] { option value=(t) selected[v["tls"].as_str() == Some(t)] { (t) } } }
                label for="n-from" { (c.t("Expéditeur", "Sender")) } input id="n-from" name="from" type="email" required value=(text("from"));
                label for="n-to" { (c.t("Destinataires (séparés par ;)", "Recipients (separated by ;)")) } input id="n-to" name="recipients" type="text" required value=(text("recipients"));
                label for="n-subj" { (c.t("Objet (vide : par défaut)", "Subject (empty: default)")) } input id="n-subj" name="subject" type="text" value=(text("subject"));
                fieldset { legend { (c.t("Envoyer", "Send")) }
                    @for (k, fr, en) in [("on_failure", "quand une tâche échoue", "when a run fails"), ("on_success", "quand une tâche réussit", "when a run succeeds"), ("after_orders_created", "après création de commandes", "after orders were created"), ("after_quotes_created", "après création de devis", "after quotes were created"), ("attach_log", "joindre le journal", "attach the log")] {
                        label { input type="checkbox" name=(k) value="on" checked[flag(k)]; " " (tr(c.lang, fr, en)) }
                    }
                }
                button type="submit" { (c.t("Enregistrer", "Save")) }
            }
        }
    })
    .into_response()
}

async fn notifications_save(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    use passerelle_adapters::mail::{NotificationSettings, TlsMode};
    let c = match posted(
        &s,
        &headers,
        f.get("csrf").map(String::as_str).unwrap_or(""),
        "notifications",
    )
    .await
    {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(p) = c.caller.require(&[Role::Admin]) {
        return problem_page(&c, p);
    }
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let Ok(profile) = ProfileId::parse(&get("profile")) else {
        return problem_page(&c, Problem::not_found());
    };
    if !profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default()
        .iter()
        .any(|p| p.id == profile.as_str())
    {
        return problem_page(&c, Problem::not_found());
    }
    let settings = NotificationSettings {
        smtp_host: get("smtp_host"),
        smtp_port: get("smtp_port").parse().unwrap_or(587),
        tls: match get("tls").as_str() {
            "none" => TlsMode::None,
            "tls" => TlsMode::Tls,
            _ => TlsMode::StartTls,
        },
        from: get("from"),
        recipients: get("recipients"),
        subject: get("subject"),
        on_failure: f.contains_key("on_failure"),
        on_success: f.contains_key("on_success"),
        after_orders_created: f.contains_key("after_orders_created"),
        after_quotes_created: f.contains_key("after_quotes_created"),
        attach_log: f.contains_key("attach_log"),
        ..NotificationSettings::default()
    };
    if let Err(e) = s
        .app
        .target_guard()
        .check_host(&settings.smtp_host, settings.smtp_port)
        .await
    {
        return problem_page(&c, Problem::bad_request("Adresse refusée", &e.to_string()));
    }
    match crate::notify::save_settings(
        &s.app.db,
        &c.caller.account,
        &profile,
        settings,
        &c.caller.who.actor().to_text(),
    )
    .await
    {
        Ok(()) => Redirect::to(&format!("/notifications?profile={profile}")).into_response(),
        Err(e) => problem_page(&c, Problem::bad_request("Réglages refusés", &e.to_string())),
    }
}

async fn security_page(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if let Err(p) = c.caller.require(&[Role::Admin, Role::Auditor]) {
        return problem_page(&c, p);
    }
    let _ = s.app.projector.catch_up().await;
    let acc = c.caller.account.as_str();
    let users = passerelle_projections::access::users(&s.app.db, acc)
        .await
        .unwrap_or_default();
    let tokens = passerelle_projections::access::tokens(&s.app.db, acc)
        .await
        .unwrap_or_default();
    let log = passerelle_projections::access::security_log(&s.app.db, acc, 100, 0)
        .await
        .unwrap_or_default();
    page(&c, c.t("Sécurité", "Security"), html! {
        h2 { (c.t("Utilisateurs", "Users")) }
        table { thead { tr { th scope="col" { "E-mail" } th scope="col" { (c.t("Rôles", "Roles")) } th scope="col" { (c.t("Dernière connexion", "Last login")) } } }
            tbody { @for u in &users { tr { td { (u.email) } td { (u.roles.join(", ")) } td { (u.last_login_at.as_deref().unwrap_or("-")) } } } } }
        h2 { (c.t("Jetons d'API", "API tokens")) }
        table { thead { tr { th scope="col" { "Id" } th scope="col" { (c.t("Nom", "Name")) } th scope="col" { (c.t("Rôles", "Roles")) } th scope="col" { "Expiration" } th scope="col" { (c.t("Révoqué", "Revoked")) } } }
            tbody { @for t in &tokens { tr { td { (t.id) } td { (t.name) } td { (t.roles.join(", ")) } td { (t.expires_at.as_deref().unwrap_or("-")) } td { (t.revoked_at.as_deref().unwrap_or("-")) } } } } }
        h2 { (c.t("Journal de sécurité", "Security log")) }
        table { thead { tr { th scope="col" { (c.t("Quand", "When")) } th scope="col" { (c.t("Qui", "Who")) } th scope="col" { (c.t("Quoi", "What")) } th scope="col" { (c.t("Détail", "Detail")) } } }
            tbody { @for e in &log { tr { td { (e.at) } td { (e.actor) } td { (e.kind) } td { code { (e.detail.to_string()) } } } } } }
    })
    .into_response()
}

async fn support_page(State(s): State<ApiState>, headers: HeaderMap) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let profiles = profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default();
    page(&c, "Support", html! {
        @if c.caller.who.has(Role::Support) {
            h2 { (c.t("Ouvrir un compte client", "Open a customer account")) }
            form method="post" action="/support/compte" {
                input type="hidden" name="csrf" value=(c.csrf);
                label for="sup-acc" { (c.t("Compte", "Account")) } input id="sup-acc" name="account" type="text" required;
                label for="sup-why" { (c.t("Motif (enregistré, visible par l'administrateur du compte)", "Reason (recorded, visible to the account's admin)")) } input id="sup-why" name="reason" type="text" required;
                button type="submit" { (c.t("Ouvrir", "Open")) }
            }
        }
        h2 { (c.t("Réinitialiser des commandes transférées", "Reset transferred orders")) }
        @if !c.can(&[Role::Admin]) { p { (c.t("Réservé au support et aux administrateurs.", "Support and admins only.")) } }
        @else {
            form method="post" action="/support" {
                input type="hidden" name="csrf" value=(c.csrf);
                label for="r-p" { (c.t("Profil", "Profile")) }
                select id="r-p" name="profile" { @for p in &profiles { option value=(p.id) { (p.name) } } }
                label for="r-ids" { (c.t("Identifiants de commandes (124,3,48) ou ALL", "Order ids (124,3,48) or ALL")) }
                input id="r-ids" name="ids" type="text" required;
                label for="r-why" { (c.t("Motif (obligatoire, enregistré)", "Reason (mandatory, recorded)")) }
                input id="r-why" name="reason" type="text" required;
                button type="submit" class="danger" { (c.t("Réinitialiser", "Reset")) }
            }
        }
    })
    .into_response()
}

#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    csrf: String,
    profile: String,
    ids: String,
    reason: String,
}

async fn support_reset(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<ResetForm>,
) -> Response {
    let c = match posted(&s, &headers, &f.csrf, &format!("reset-orders {}", f.ids)).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Ok(profile) = ProfileId::parse(&f.profile) else {
        return problem_page(&c, Problem::not_found());
    };
    if !profile_summaries(&s, &c.caller.account)
        .await
        .unwrap_or_default()
        .iter()
        .any(|p| p.id == profile.as_str())
    {
        return problem_page(&c, Problem::not_found());
    }
    let all = f.ids.trim().eq_ignore_ascii_case("all");
    let ids = (!all).then(|| {
        f.ids
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    });
    match do_reset(&s, &c.caller, &profile, ids, all, Some(&f.reason)).await {
        Ok(n) => page(&c, "Support", html! {
            p role="status" { (n) " " (c.t("commande(s) réinitialisée(s) ; le prochain import les reprendra.", "order(s) reset; the next import takes them again.")) }
            p { a href="/support" { (c.t("Retour", "Back")) } }
        })
        .into_response(),
        Err(p) => problem_page(&c, p),
    }
}

#[derive(Deserialize)]
struct OpenForm {
    #[serde(default)]
    csrf: String,
    account: String,
    reason: String,
}

async fn support_open(
    State(s): State<ApiState>,
    headers: HeaderMap,
    Form(f): Form<OpenForm>,
) -> Response {
    let c = match ctx(&s, &headers).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    if f.csrf != c.csrf {
        return error_page(
            c.lang,
            StatusCode::FORBIDDEN,
            c.t("Jeton CSRF invalide.", "Invalid CSRF token."),
        );
    }
    if !c.caller.who.has(Role::Support) {
        return problem_page(&c, Problem::forbidden(&[Role::Support]));
    }
    let Ok(target) = AccountId::parse(f.account.trim()) else {
        return problem_page(&c, Problem::not_found());
    };
    if s.access.account(&target).await.ok().flatten().is_none() {
        return problem_page(&c, Problem::not_found());
    }
    match s
        .access
        .open_support_account(&c.caller.who, &target, &f.reason)
        .await
    {
        Ok(()) => Redirect::to("/").into_response(),
        Err(e) => problem_page(
            &c,
            Problem::bad_request("Motif obligatoire", &e.to_string()),
        ),
    }
}
