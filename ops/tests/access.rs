//! Accounts, users, roles and tokens (issue 15, increment 1), on SQLite and PostgreSQL:
//! everything is recorded as `Account` events, rebuilt identically by `replay --verify`, and
//! authentication decides on the aggregate's state (a revoked token fails at once).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use chrono::{Duration, Utc};
use common::*;
use passerelle::auth::{Access, AccessError, LoginError};
use passerelle_adapters::store::Val;
use passerelle_domain::access::{AccountError, Role};
use passerelle_domain::Actor;
use passerelle_projections::access as view;
use passerelle_projections::rebuild::rebuild;

async fn accounts_users_tokens_as_events(kind: Kind) {
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let access = Access::new(app.db.clone());
    let acme = account("acme");
    let other = account("other");
    access
        .create_account(&acme, "ACME", "Europe/Paris", &Actor::Cli)
        .await
        .unwrap();
    access
        .create_account(&other, "Other", "Europe/Paris", &Actor::Cli)
        .await
        .unwrap();
    assert!(matches!(
        access
            .create_account(&acme, "ACME", "Europe/Paris", &Actor::Cli)
            .await,
        Err(AccessError::Refused(AccountError::AlreadyOpened))
    ));
    access
        .add_user(
            &acme,
            "Admin@Acme.fr",
            vec![Role::Admin],
            "un mot de passe solide",
            &Actor::Cli,
        )
        .await
        .unwrap();
    access
        .add_user(
            &acme,
            "op@acme.fr",
            vec![Role::Operator],
            "autre mot de passe",
            &Actor::Cli,
        )
        .await
        .unwrap();
    // A short password is refused before anything is recorded.
    assert!(matches!(
        access
            .add_user(
                &acme,
                "x@acme.fr",
                vec![Role::Auditor],
                "court",
                &Actor::Cli
            )
            .await,
        Err(AccessError::Password(_))
    ));

    // The stored password is an argon2id hash; the event log holds no trace of it.
    let phc = app
        .db
        .fetch(
            "SELECT phc FROM user_passwords WHERE account_id = 'acme' AND email = 'admin@acme.fr'",
            &[],
        )
        .await
        .unwrap();
    assert!(phc[0][0].as_str().unwrap().starts_with("$argon2id$"));
    let leaks = app
        .db
        .fetch(
            "SELECT count(*) FROM events WHERE CAST(payload AS text) LIKE '%argon2%' OR CAST(payload AS text) LIKE '%solide%'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(leaks[0][0].as_i64(), Some(0));

    // Login: good password, wrong password, unknown account — and throttling.
    let now = Utc::now();
    let who = access
        .login(
            "acme",
            "ADMIN@acme.fr",
            "un mot de passe solide",
            "10.1.1.1",
            now,
        )
        .await
        .unwrap();
    assert_eq!(who.roles, vec![Role::Admin]);
    assert_eq!(
        access
            .login(
                "nope",
                "admin@acme.fr",
                "un mot de passe solide",
                "10.1.1.1",
                now
            )
            .await,
        Err(LoginError::BadCredentials)
    );
    for _ in 0..5 {
        assert_eq!(
            access
                .login(
                    "acme",
                    "op@acme.fr",
                    "mauvais mot de passe",
                    "10.1.1.2",
                    now
                )
                .await,
            Err(LoginError::BadCredentials)
        );
    }
    // The sixth try is refused even with the right password, until the backoff ends.
    assert!(matches!(
        access
            .login("acme", "op@acme.fr", "autre mot de passe", "10.1.1.2", now)
            .await,
        Err(LoginError::Throttled(_))
    ));
    assert!(access
        .login(
            "acme",
            "op@acme.fr",
            "autre mot de passe",
            "10.1.1.2",
            now + Duration::seconds(5)
        )
        .await
        .is_ok());

    // Tokens: shown once, stored hashed, scoped to their account; revocation is immediate.
    let issued = access
        .create_token(
            &acme,
            "ci",
            vec![Role::Auditor],
            Some(now + Duration::days(1)),
            &Actor::Cli,
        )
        .await
        .unwrap();
    let secret = issued.token.rsplit('.').next().unwrap().to_string();
    let found = app
        .db
        .fetch(
            "SELECT count(*) FROM events WHERE CAST(payload AS text) LIKE $1",
            &[Val::text(format!("%{secret}%"))],
        )
        .await
        .unwrap();
    assert_eq!(
        found[0][0].as_i64(),
        Some(0),
        "the token's secret is never stored"
    );
    let p = access.authenticate_token(&issued.token, now).await.unwrap();
    assert_eq!(
        (p.account.as_str(), p.roles.clone()),
        ("acme", vec![Role::Auditor])
    );
    assert!(
        access
            .authenticate_token(&issued.token, now + Duration::days(2))
            .await
            .is_none(),
        "expired"
    );
    let forged = issued.token.replacen("pst.acme.", "pst.other.", 1);
    assert!(
        access.authenticate_token(&forged, now).await.is_none(),
        "another account"
    );
    access
        .revoke_token(&acme, &issued.id, &Actor::Cli)
        .await
        .unwrap();
    assert!(
        access
            .authenticate_token(&issued.token, now)
            .await
            .is_none(),
        "revoked"
    );

    // Sessions: revoked on logout and on a password change.
    let mut p = who.clone();
    let s = access.open_session(&p, now).await.unwrap();
    let info = access.session(&s.token, now).await.unwrap();
    assert_eq!(info.principal.login, "admin@acme.fr");
    p.via = info.principal.via.clone();
    assert!(access
        .session(&s.token, now + Duration::hours(13))
        .await
        .is_none());
    access
        .set_password(
            &acme,
            "admin@acme.fr",
            "un nouveau mot de passe",
            &Actor::Cli,
        )
        .await
        .unwrap();
    assert!(
        access.session(&s.token, now).await.is_none(),
        "password change ends sessions"
    );

    // Roles: the last admin stays; support actions need a reason.
    assert!(matches!(
        access
            .remove_user(&acme, "admin@acme.fr", &Actor::Cli)
            .await,
        Err(AccessError::Refused(AccountError::LastAdmin))
    ));
    assert!(matches!(
        access
            .record_support(&acme, &who, "reset-orders", " ")
            .await,
        Err(AccessError::Refused(AccountError::ReasonRequired))
    ));
    access
        .record_support(&acme, &who, "reset-orders 3", "ticket 42")
        .await
        .unwrap();
    access
        .set_roles(
            &acme,
            "op@acme.fr",
            vec![Role::Operator, Role::Auditor],
            &Actor::Cli,
        )
        .await
        .unwrap();

    // The admin's view: users, tokens, and the security log with logins and support actions.
    app.projector.catch_up().await.unwrap();
    let users = view::users(&app.db, "acme").await.unwrap();
    assert_eq!(
        users
            .iter()
            .map(|u| (u.email.as_str(), u.roles.join(",")))
            .collect::<Vec<_>>(),
        vec![
            ("admin@acme.fr", "admin".to_string()),
            ("op@acme.fr", "operator,auditor".to_string())
        ]
    );
    assert!(view::users(&app.db, "other").await.unwrap().is_empty());
    let tokens = view::tokens(&app.db, "acme").await.unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked_at.is_some());
    let log = view::security_log(&app.db, "acme", 100, 0).await.unwrap();
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    for k in [
        "LoginSucceeded",
        "LoginFailed",
        "TokenCreated",
        "TokenRevoked",
        "SupportActionRecorded",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert!(!serde_json::to_string(&log)
        .unwrap()
        .contains("secret_sha256"));
    let support = log
        .iter()
        .find(|e| e.kind == "SupportActionRecorded")
        .unwrap();
    assert!(support.detail.to_string().contains("ticket 42"));

    let report = rebuild(&app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}

both!(accounts_users_tokens, accounts_users_tokens_as_events);
