//! RFC 9457 problem documents (`application/problem+json`) with a French `title`; the
//! `detail` says what to do. Internal failures are logged with their cause and answered
//! with a generic text: no SQL or driver message reaches a client (STYLE §7).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use passerelle_domain::access::Role;
use serde::Serialize;

/// A problem answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`: the status says it all.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short French title.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened and what to do.
    pub detail: String,
    /// Seconds to wait (429).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<i64>,
}

impl Problem {
    /// A problem with `status`, `title` and `detail`.
    pub fn new(status: StatusCode, title: &str, detail: &str) -> Self {
        Self {
            kind: "about:blank".into(),
            title: title.into(),
            status: status.as_u16(),
            detail: detail.into(),
            retry_after: None,
        }
    }
    /// 401.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "Authentification requise",
            "connectez-vous ou présentez un jeton valide (Authorization: Bearer …)",
        )
    }
    /// 403 for a missing role.
    pub fn forbidden(roles: &[Role]) -> Self {
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        Self::new(
            StatusCode::FORBIDDEN,
            "Action non autorisée",
            &format!("rôle requis : {}", names.join(" ou ")),
        )
    }
    /// 403 for a missing or wrong CSRF token.
    pub fn csrf() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Jeton CSRF invalide",
            "rechargez la page puis recommencez",
        )
    }
    /// 404 (also for another account's ids).
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "Introuvable",
            "aucune ressource de ce nom dans votre compte",
        )
    }
    /// 400.
    pub fn bad_request(title: &str, detail: &str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, detail)
    }
    /// 409.
    pub fn conflict(detail: &str) -> Self {
        Self::new(StatusCode::CONFLICT, "Conflit", detail)
    }
    /// 429.
    pub fn too_many(wait: i64) -> Self {
        let mut p = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Trop de requêtes",
            &format!("réessayez dans {wait} s"),
        );
        p.retry_after = Some(wait);
        p
    }
    /// 500: the cause is logged here, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "erreur interne de l'API");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Erreur interne",
            "le service n'a pas pu traiter la demande ; réessayez plus tard",
        )
    }
    /// 503 (database unavailable and the like).
    pub fn unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "service indisponible");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service indisponible",
            "réessayez dans un instant",
        )
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry = self.retry_after;
        let mut r = (status, axum::Json(self)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(s) = retry.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
            r.headers_mut().insert(header::RETRY_AFTER, s);
        }
        r
    }
}
