//! The web console (French first, English switch): server-rendered with maud (templates
//! checked at compile time, every value escaped), no JavaScript build step — one small
//! script file of our own for live progress (`EventSource`), no inline script (the CSP
//! forbids it).
//!
//! Pages after the manual (FEATURES §1–§2, §5–§9): Espace client, Profils (list and the
//! creation wizard), Synchronisation, Tâches planifiées, Journaux (en cours, historique,
//! détail with errors first and the run's files), Notifications, Sécurité (users, tokens,
//! the security log), Support (reset transferred orders). Every form that changes
//! something carries the session's CSRF token; the login form a pre-session one
//! (double-submit cookie).

mod pages;
mod wizard;

use crate::api::{cookie, ApiState, Caller, SESSION_COOKIE};
use crate::auth::Via;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use passerelle_domain::access::Role;
use passerelle_domain::Lang;

/// Cookie holding the chosen language.
pub const LANG_COOKIE: &str = "passerelle_lang";
/// Cookie of the login form's CSRF token (before any session exists).
pub const LOGIN_CSRF_COOKIE: &str = "passerelle_login_csrf";

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// Every console route.
pub fn router() -> Router<ApiState> {
    Router::new()
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/static/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .merge(pages::routes())
        .merge(wizard::routes())
}

fn asset(ctype: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// The language of a request: the cookie, else French.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    match cookie(headers, LANG_COOKIE).as_deref() {
        Some("en") => Lang::En,
        _ => Lang::Fr,
    }
}

/// A text in the page's language.
pub fn tr(lang: Lang, fr: &'static str, en: &'static str) -> &'static str {
    lang.pick(fr, en)
}

/// A logged-in page's context.
#[derive(Clone)]
pub struct Ctx {
    /// The caller as the API sees it (account acted on, support reason).
    pub caller: Caller,
    /// CSRF token of the session.
    pub csrf: String,
    /// Page language.
    pub lang: Lang,
}

impl Ctx {
    /// Text in the page's language.
    pub fn t(&self, fr: &'static str, en: &'static str) -> &'static str {
        tr(self.lang, fr, en)
    }
    /// Holds one of `roles` (support holds all).
    pub fn can(&self, roles: &[Role]) -> bool {
        self.caller.require(roles).is_ok()
    }
}

/// The session's context, or a redirect to the login page.
pub async fn ctx(s: &ApiState, headers: &HeaderMap) -> Result<Ctx, Response> {
    let lang = lang_of(headers);
    let to_login = || Redirect::to("/connexion").into_response();
    let token = cookie(headers, SESSION_COOKIE).ok_or_else(to_login)?;
    let info = s
        .access
        .session(&token, chrono::Utc::now())
        .await
        .ok_or_else(to_login)?;
    let Via::Session { csrf, .. } = info.principal.via.clone() else {
        return Err(to_login());
    };
    let (account, reason) = match (&info.support, info.principal.has(Role::Support)) {
        (Some((a, why)), true) => (a.clone(), Some(why.clone())),
        _ => (info.principal.account.clone(), None),
    };
    Ok(Ctx {
        caller: Caller {
            who: info.principal,
            account,
            support_reason: reason,
        },
        csrf,
        lang,
    })
}

/// The context of a posted form: the session ([`ctx`]) and its CSRF token checked
/// ([`check_form`]), `action` naming what the form does for the support audit.
pub async fn posted(
    s: &ApiState,
    headers: &HeaderMap,
    token: &str,
    action: &str,
) -> Result<Ctx, Response> {
    let c = ctx(s, headers).await?;
    check_form(s, &c, token, action).await?;
    Ok(c)
}

/// Checks a form's CSRF token (403 page otherwise) and, for support acting on another
/// account, records the action with the session's reason.
pub async fn check_form(s: &ApiState, c: &Ctx, token: &str, action: &str) -> Result<(), Response> {
    if token.is_empty() || token != c.csrf {
        return Err(error_page(
            c.lang,
            StatusCode::FORBIDDEN,
            c.t(
                "Jeton CSRF invalide : rechargez la page puis recommencez.",
                "Invalid CSRF token: reload the page and try again.",
            ),
        ));
    }
    if c.caller.who.account != c.caller.account {
        let reason = c.caller.support_reason.clone().unwrap_or_default();
        if s.access
            .record_support(&c.caller.account, &c.caller.who, action, &reason)
            .await
            .is_err()
        {
            return Err(error_page(
                c.lang,
                StatusCode::BAD_REQUEST,
                c.t("Motif obligatoire.", "Reason required."),
            ));
        }
    }
    Ok(())
}

/// An error page.
pub fn error_page(lang: Lang, status: StatusCode, text: &str) -> Response {
    let body = bare(
        lang,
        tr(lang, "Erreur", "Error"),
        html! {
            h1 { (tr(lang, "Erreur", "Error")) " " (status.as_u16()) }
            p role="alert" { (text) }
            p { a href="/" { (tr(lang, "Retour à l'accueil", "Back to home")) } }
        },
    );
    (status, body).into_response()
}

/// The page skeleton without navigation (login, errors).
pub fn bare(lang: Lang, title: &str, content: Markup) -> Html<String> {
    Html(html! {
        (DOCTYPE)
        html lang=(lang_code(lang)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Passerelle" }
                link rel="stylesheet" href="/static/app.css";
            }
            body {
                a class="skip" href="#contenu" { (tr(lang, "Aller au contenu", "Skip to content")) }
                header { strong { "Passerelle" } (lang_switch(lang)) }
                main id="contenu" { (content) }
            }
        }
    }
    .into_string())
}

fn lang_code(lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => "fr",
        Lang::En => "en",
    }
}

fn lang_switch(lang: Lang) -> Markup {
    html! {
        form class="inline" method="get" action="/langue" {
            @match lang {
                Lang::Fr => { input type="hidden" name="lang" value="en"; button type="submit" lang="en" { "English" } }
                Lang::En => { input type="hidden" name="lang" value="fr"; button type="submit" lang="fr" { "Français" } }
            }
        }
    }
}

/// The page skeleton with the navigation of a logged-in user.
pub fn page(c: &Ctx, title: &str, content: Markup) -> Html<String> {
    let l = c.lang;
    let nav: Vec<(&str, &str)> = vec![
        ("/", tr(l, "Espace client", "Dashboard")),
        ("/profils", tr(l, "Profils", "Profiles")),
        ("/synchronisation", tr(l, "Synchronisation", "Sync")),
        (
            "/planification",
            tr(l, "Tâches planifiées", "Scheduled tasks"),
        ),
        ("/journaux", tr(l, "Journaux", "Logs")),
        ("/notifications", "Notifications"),
        ("/securite", tr(l, "Sécurité", "Security")),
        ("/support", "Support"),
    ];
    Html(html! {
        (DOCTYPE)
        html lang=(lang_code(l)) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " — Passerelle" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                a class="skip" href="#contenu" { (tr(l, "Aller au contenu", "Skip to content")) }
                header {
                    strong { "Passerelle" }
                    nav aria-label=(tr(l, "Navigation principale", "Main navigation")) {
                        ul { @for (href, label) in &nav { li { a href=(href) { (label) } } } }
                    }
                    span {
                        (c.caller.who.login) " · " (tr(l, "compte", "account")) " " strong { (c.caller.account.as_str()) }
                        @if c.caller.who.account != c.caller.account { " (" (tr(l, "support", "support")) ")" }
                    }
                    (lang_switch(l))
                    form class="inline" method="post" action="/deconnexion" {
                        input type="hidden" name="csrf" value=(c.csrf);
                        button type="submit" { (tr(l, "Se déconnecter", "Log out")) }
                    }
                }
                main id="contenu" { h1 { (title) } (content) }
                footer { p { small { "Passerelle " (env!("CARGO_PKG_VERSION")) } } }
            }
        }
    }
    .into_string())
}
