//! `passerelle account|user|token …`: the hosted service's accounts, users and tokens from
//! the host's shell (the operator who runs the service; recorded with actor `cli`).

use crate::app::App;
use crate::auth::{random_token, Access, AccessError};
use crate::cli::{AccountOp, TokenOp, UserOp};
use crate::commands::{t, usage};
use passerelle_domain::access::Role;
use passerelle_domain::{AccountId, Actor};
use passerelle_projections::access as view;
use std::process::ExitCode;

fn refused(e: AccessError) -> anyhow::Error {
    match e {
        AccessError::Store(s) => anyhow::anyhow!(s),
        other => usage(other.to_string()),
    }
}

fn roles(s: &str) -> anyhow::Result<Vec<Role>> {
    Role::parse_list(s).map_err(|e| usage(e.to_string()))
}

fn read_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if !from_stdin {
        // 18 random bytes: 24 characters of base64, far beyond any guessing.
        return Ok((random_token(18), true));
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| usage(format!("lecture du mot de passe impossible : {e}")))?;
    Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
}

/// `passerelle account …`.
pub async fn account(url: &str, acc: &AccountId, op: &AccountOp) -> anyhow::Result<ExitCode> {
    let app = App::connect(url).await?;
    let access = Access::new(app.db.clone());
    match op {
        AccountOp::Create {
            id,
            name,
            time_zone,
        } => {
            let id = AccountId::parse(id).map_err(|e| usage(e.to_string()))?;
            access
                .create_account(
                    &id,
                    name.as_deref().unwrap_or(id.as_str()),
                    time_zone,
                    &Actor::Cli,
                )
                .await
                .map_err(refused)?;
            println!("{} {id}", t("Compte créé :", "Account created:"));
        }
        AccountOp::List { json } => {
            app.projector.catch_up().await?;
            let rows = view::accounts(&app.db).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!("{}  {}  {}  {}", r.id, r.name, r.time_zone, r.opened_at);
                }
            }
        }
        AccountOp::Log { limit, json } => {
            app.projector.catch_up().await?;
            let rows =
                view::security_log(&app.db, acc.as_str(), (*limit).clamp(1, 10_000), 0).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!("{}  {:<24} {:<22} {}", r.at, r.actor, r.kind, r.detail);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle user …` (on `--account`).
pub async fn user(url: &str, acc: &AccountId, op: &UserOp) -> anyhow::Result<ExitCode> {
    let app = App::connect(url).await?;
    let access = Access::new(app.db.clone());
    match op {
        UserOp::Add {
            email,
            roles: r,
            password_stdin,
        } => {
            let roles = roles(r)?;
            let (pw, generated) = read_password(*password_stdin)?;
            access
                .add_user(acc, email, roles, &pw, &Actor::Cli)
                .await
                .map_err(refused)?;
            println!(
                "{} {email} ({acc})",
                t("Utilisateur ajouté :", "User added:")
            );
            if generated {
                println!(
                    "{} {pw}",
                    t(
                        "Mot de passe (affiché une seule fois) :",
                        "Password (shown once):"
                    )
                );
            }
        }
        UserOp::Remove { email } => {
            access
                .remove_user(acc, email, &Actor::Cli)
                .await
                .map_err(refused)?;
            println!("{} {email}", t("Utilisateur retiré :", "User removed:"));
        }
        UserOp::Roles { email, roles: r } => {
            access
                .set_roles(acc, email, roles(r)?, &Actor::Cli)
                .await
                .map_err(refused)?;
            println!("{} {email} : {r}", t("Rôles de", "Roles of"));
        }
        UserOp::Passwd {
            email,
            password_stdin,
        } => {
            let (pw, generated) = read_password(*password_stdin)?;
            access
                .set_password(acc, email, &pw, &Actor::Cli)
                .await
                .map_err(refused)?;
            println!(
                "{} {email}",
                t("Mot de passe changé :", "Password changed:")
            );
            if generated {
                println!(
                    "{} {pw}",
                    t(
                        "Mot de passe (affiché une seule fois) :",
                        "Password (shown once):"
                    )
                );
            }
        }
        UserOp::List { json } => {
            app.projector.catch_up().await?;
            let rows = view::users(&app.db, acc.as_str()).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!(
                        "{:<32} {:<24} {}",
                        r.email,
                        r.roles.join(","),
                        r.last_login_at.as_deref().unwrap_or("-")
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `passerelle token …` (on `--account`).
pub async fn token(url: &str, acc: &AccountId, op: &TokenOp) -> anyhow::Result<ExitCode> {
    let app = App::connect(url).await?;
    let access = Access::new(app.db.clone());
    match op {
        TokenOp::Create {
            name,
            roles: r,
            days,
        } => {
            let expires =
                (*days > 0).then(|| chrono::Utc::now() + chrono::Duration::days(i64::from(*days)));
            let issued = access
                .create_token(acc, name, roles(r)?, expires, &Actor::Cli)
                .await
                .map_err(refused)?;
            println!(
                "{} {} ({})",
                t("Jeton créé :", "Token created:"),
                issued.id,
                t("affiché une seule fois", "shown once")
            );
            println!("{}", issued.token);
        }
        TokenOp::List { json } => {
            app.projector.catch_up().await?;
            let rows = view::tokens(&app.db, acc.as_str()).await?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    println!(
                        "{}  {:<20} {:<24} {} {}",
                        r.id,
                        r.name,
                        r.roles.join(","),
                        r.expires_at.as_deref().unwrap_or("-"),
                        if r.revoked_at.is_some() {
                            t("révoqué", "revoked")
                        } else {
                            ""
                        }
                    );
                }
            }
        }
        TokenOp::Revoke { id } => {
            access
                .revoke_token(acc, id, &Actor::Cli)
                .await
                .map_err(refused)?;
            println!("{} {id}", t("Jeton révoqué :", "Token revoked:"));
        }
    }
    Ok(ExitCode::SUCCESS)
}
