//! The hosted service over HTTP (issue 15): the OpenAPI document against the router, the
//! listen rule, security headers, the console's pages (French, landmarks, labels), live
//! progress over SSE, and the attack suite — on SQLite and PostgreSQL, against the real
//! router served on a loopback port.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::api::{self, PeerAddr};
use passerelle::app::App;
use passerelle::auth::Access;
use passerelle::demo::DemoWorld;
use passerelle::hosting::{self, ServeOptions};
use passerelle_domain::access::Role;
use passerelle_domain::{Actor, RunStatus};
use passerelle_simulators::ebp::EbpSimConfig;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

const PW: &str = "mot de passe de test";

/// The server on a loopback port, its store, and every answer body it gave (scanned for
/// secrets at the end).
struct Hosted {
    base: String,
    app: Arc<App>,
    http: reqwest::Client,
    bodies: Arc<Mutex<Vec<String>>>,
    _db: TestDb,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Hosted {
    async fn start(kind: Kind) -> Hosted {
        export_env();
        let db = fresh(kind).await;
        let app = Arc::new(db.app().await);
        let opts = ServeOptions {
            listen: "127.0.0.1:0".into(),
            rate_limit: 0,
            ..Default::default()
        };
        let router = hosting::router(hosting::state(app.clone(), &opts), &opts)
            .into_make_service_with_connect_info::<PeerAddr>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Hosted {
            base,
            app,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            bodies: Arc::default(),
            _db: db,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in auth {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        self.bodies.lock().unwrap().push(body.clone());
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn form(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Answer {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(fields)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.text().await.unwrap_or_default();
        self.bodies.lock().unwrap().push(body.clone());
        Answer {
            status,
            headers,
            body,
        }
    }
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// Accounts acme (admin, operator, auditor), rival (admin) and the host's staff (support),
/// with a token each.
struct People {
    admin: String,
    operator: String,
    auditor: String,
    rival: String,
    support: String,
}

async fn people(app: &App) -> People {
    let a = Access::new(app.db.clone());
    for (acc, name) in [
        ("acme", "ACME"),
        ("rival", "Rival"),
        ("hebergeur", "Hébergeur"),
    ] {
        a.create_account(&account(acc), name, "Europe/Paris", &Actor::Cli)
            .await
            .unwrap();
    }
    let users = [
        ("acme", "admin@acme.fr", Role::Admin),
        ("acme", "op@acme.fr", Role::Operator),
        ("acme", "aud@acme.fr", Role::Auditor),
        ("rival", "admin@rival.fr", Role::Admin),
        ("hebergeur", "support@heb.fr", Role::Support),
    ];
    let mut tokens = Vec::new();
    for (acc, email, role) in users {
        let acc = account(acc);
        if role == Role::Support {
            // The staff account needs an admin of its own (the last admin stays).
            a.add_user(&acc, "chef@heb.fr", vec![Role::Admin], PW, &Actor::Cli)
                .await
                .unwrap();
        }
        a.add_user(&acc, email, vec![role], PW, &Actor::Cli)
            .await
            .unwrap();
        let t = a
            .create_token(&acc, email, vec![role], None, &Actor::Cli)
            .await
            .unwrap();
        tokens.push(bearer(&t.token));
    }
    People {
        admin: tokens[0].clone(),
        operator: tokens[1].clone(),
        auditor: tokens[2].clone(),
        rival: tokens[3].clone(),
        support: tokens[4].clone(),
    }
}

/// Logs in through the console's form (CSRF cookie first); returns the session cookie.
async fn console_login(h: &Hosted, account: &str, email: &str) -> String {
    let r = h
        .http
        .get(format!("{}/connexion", h.base))
        .send()
        .await
        .unwrap();
    let csrf_cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("passerelle_login_csrf="))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let token = csrf_cookie.split_once('=').unwrap().1.to_string();
    let a = h
        .form(
            "/connexion",
            &csrf_cookie,
            &[
                ("csrf", token.as_str()),
                ("account", account),
                ("email", email),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(a.status, 303, "login answers a redirect: {}", a.body);
    let set: Vec<String> = a
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let session = set
        .iter()
        .find(|v| v.starts_with("passerelle_session="))
        .unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(session.contains(flag), "{flag} missing: {session}");
    }
    session.split(';').next().unwrap().to_string()
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    page[i..].split('"').next().unwrap().to_string()
}

#[test]
fn openapi_document_matches_the_router() {
    let doc = serde_json::to_value(api::openapi()).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let paths = doc["paths"].as_object().unwrap();
    let routes = api::routes();
    // Every mounted route is documented…
    for (path, method) in routes.paths() {
        let op = &paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"))[*method];
        assert!(
            op.is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path}: no responses"
        );
        // …with its path parameters declared as required path parameters.
        for name in path.split('{').skip(1).filter_map(|p| p.split('}').next()) {
            let declared = op["parameters"].as_array().is_some_and(|ps| {
                ps.iter().any(|p| {
                    p["name"] == name && p["in"] == "path" && p["required"] == Value::Bool(true)
                })
            });
            assert!(
                declared,
                "{method} {path}: path parameter {name} not declared"
            );
        }
    }
    // …and nothing is documented that the router does not serve.
    let mut ids = std::collections::HashSet::new();
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                routes.paths().iter().any(|(p, m)| p == path && m == method),
                "{method} {path} documented but not routed"
            );
            if let Some(id) = op["operationId"].as_str() {
                assert!(ids.insert(id.to_string()), "operationId {id} twice");
            }
        }
    }
    assert!(paths.len() >= 15, "{} paths", paths.len());
}

#[test]
fn public_listen_needs_tls_or_a_proxy() {
    let o = |listen: &str, tls: bool, proxy: bool| ServeOptions {
        listen: listen.into(),
        tls: tls.then(|| ("c.pem".into(), "k.pem".into())),
        behind_proxy: proxy,
        ..Default::default()
    };
    let e = hosting::check_listen(&o("0.0.0.0:8080", false, false)).unwrap_err();
    assert!(e
        .downcast_ref::<passerelle::commands::UsageError>()
        .is_some());
    assert!(e.to_string().contains("TLS"), "{e}");
    assert!(hosting::check_listen(&o("[::]:8080", false, false)).is_err());
    assert!(hosting::check_listen(&o("0.0.0.0:8080", true, false)).is_ok());
    assert!(hosting::check_listen(&o("0.0.0.0:8080", false, true)).is_ok());
    assert!(hosting::check_listen(&o("127.0.0.1:8080", false, false)).is_ok());
    assert!(hosting::check_listen(&o("localhost:8080", false, false)).is_ok());
    // The binary exits 2 with the reason, before opening anything.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["serve", "--listen", "0.0.0.0:0", "--no-workers"])
        .env("DATABASE_URL", "sqlite:///nonexistent/dir/x.db")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--behind-proxy"));
}

async fn console_pages_are_french_accessible_and_guarded(kind: Kind) {
    let h = Hosted::start(kind).await;
    let _p = people(&h.app).await;
    // Anonymous: the home page sends to the login form, a French page with a CSP.
    let home = h.call(Method::GET, "/", &[], None).await;
    assert_eq!(home.status, 303);
    let login = h.call(Method::GET, "/connexion", &[], None).await;
    assert!(login.body.contains("lang=\"fr\"") && login.body.contains("type=\"password\""));
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    assert_eq!(login.headers["referrer-policy"], "same-origin");
    assert!(!login.body.contains("<script>"), "no inline script");

    let cookie = console_login(&h, "acme", "admin@acme.fr").await;
    let auth = [("cookie", cookie.as_str())];
    for path in [
        "/",
        "/profils",
        "/profils/nouveau",
        "/synchronisation",
        "/planification",
        "/journaux",
        "/notifications",
        "/securite",
        "/support",
    ] {
        let p = h.call(Method::GET, path, &auth, None).await;
        assert_eq!(p.status, 200, "{path}: {}", p.body);
        assert!(p.body.contains("lang=\"fr\""), "{path}");
        assert!(
            p.body.contains("<main") && p.body.contains("<nav"),
            "{path}: landmarks"
        );
        assert!(p.body.contains("<h1"), "{path}: heading");
        assert_labelled(path, &p.body);
    }
    // The language switch: English afterwards.
    let en = h
        .call(
            Method::GET,
            "/profils",
            &[("cookie", &format!("{cookie}; passerelle_lang=en"))],
            None,
        )
        .await;
    assert!(en.body.contains("lang=\"en\"") && en.body.contains("Profiles"));
}

/// Every visible form control has a label (`<label for=id>` or an enclosing label).
fn assert_labelled(path: &str, html: &str) {
    for tag in ["<input", "<select", "<textarea"] {
        for (i, _) in html.match_indices(tag) {
            let end = html[i..].find('>').map(|e| i + e).unwrap_or(html.len());
            let el = &html[i..end];
            if el.contains("type=\"hidden\"") || el.contains("type=\"submit\"") {
                continue;
            }
            let id = el
                .split("id=\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .map(str::to_string);
            let by_for = id
                .as_ref()
                .is_some_and(|id| html.contains(&format!("for=\"{id}\"")));
            let enclosed = html[..i]
                .rfind("<label")
                .is_some_and(|l| html[..i].rfind("</label>").is_none_or(|c| c < l));
            assert!(by_for || enclosed, "{path}: unlabelled control {el}");
        }
    }
}

both!(
    console_pages,
    console_pages_are_french_accessible_and_guarded
);

async fn live_progress_over_sse(kind: Kind) {
    let h = Hosted::start(kind).await;
    let p = people(&h.app).await;
    let acme = account("acme");
    let backend = Arc::new(MemBackend::with_items(6, None));
    // The third item's effect waits until the test has seen the counter move.
    let gate = Arc::new(tokio::sync::Notify::new());
    {
        let gate = gate.clone();
        *backend.on_apply.lock().unwrap() = Some(Arc::new(move |n| {
            let gate = gate.clone();
            Box::pin(async move {
                if n == 3 {
                    gate.notified().await;
                }
            })
        }));
    }
    let run = enqueue(h.app.run_store().as_ref(), &acme, "p1", chrono::Utc::now()).await;
    let mut resp = h
        .http
        .get(format!("{}/api/v1/runs/{run}/live", h.base))
        .header("authorization", &p.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let clock: Arc<dyn passerelle_workflows::ports::Clock> =
        Arc::new(passerelle_workflows::ports::SystemClock);
    let w = worker(&h.app, "w1", registry(backend.clone()), clock, 1);
    let job = tokio::spawn(async move { w.drain().await.unwrap() });
    let mut buf = String::new();
    let mut moved_while_running = false;
    let mut released = false;
    let mut last = Value::Null;
    let mut lines = 0;
    // A deadline instead of a hang if the stream never ends.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    'read: while let Some(chunk) = tokio::time::timeout_at(deadline, resp.chunk())
        .await
        .expect("SSE stream ended in time")
        .unwrap()
    {
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = buf.find("\n\n") {
            let ev: String = buf.drain(..i + 2).collect();
            let kind = ev
                .lines()
                .find_map(|l| l.strip_prefix("event: "))
                .unwrap_or("");
            let data = ev
                .lines()
                .find_map(|l| l.strip_prefix("data: "))
                .unwrap_or("");
            match kind {
                "progress" => {
                    last = serde_json::from_str(data).unwrap();
                    if last["status"] == "running" && last["succeeded"].as_u64() >= Some(2) {
                        moved_while_running = true;
                        if !released {
                            released = true;
                            gate.notify_one();
                        }
                    }
                }
                "log" => lines += 1,
                "end" => break 'read,
                _ => {}
            }
        }
    }
    assert!(moved_while_running, "the counter moved before the end");
    assert_eq!(last["succeeded"], 6, "{last}");
    assert_eq!(last["status"], "succeeded");
    assert!(lines > 0);
    assert_eq!(job.await.unwrap(), vec![(run, RunStatus::Succeeded)]);
    // Another account's watcher learns nothing.
    let other = h
        .call(
            Method::GET,
            &format!("/api/v1/runs/{run}/live"),
            &[("authorization", &p.rival)],
            None,
        )
        .await;
    assert_eq!(other.status, 404);
}

both!(live_sse, live_progress_over_sse);

/// A body each route accepts, so a refusal is about who asks, not about the body.
fn body_for(path: &str, method: &str) -> Option<Value> {
    match (method, path) {
        ("post", p) if p.ends_with("/reset-orders") => {
            Some(json!({"ids": ["1"], "reason": "essai"}))
        }
        ("post", p) if p.ends_with("/repair-keys") => Some(json!({"reason": "essai"})),
        ("put", p) if p.ends_with("/notifications") => Some(json!({
            "smtp_host": "smtp.example.com", "smtp_port": 587, "tls": "starttls",
            "from": "a@example.com", "recipients": "b@example.com", "subject": "",
            "after_orders_created": false, "after_quotes_created": false,
            "on_success": false, "on_failure": true, "attach_log": false
        })),
        ("put", p) if p.starts_with("/api/v1/schedules/") => {
            Some(json!({"start": "2030-01-01 08:00", "daily": 1}))
        }
        ("post", "/api/v1/runs") => {
            Some(json!({"profile": "demo-prestashop", "action": "update-stock"}))
        }
        ("post", "/api/v1/schedules") => Some(
            json!({"profile": "demo-prestashop", "action": "update-stock", "start": "2030-01-01 08:00", "daily": 1}),
        ),
        ("post", "/api/v1/tokens") => Some(json!({"name": "x", "roles": ["auditor"]})),
        ("post", "/api/v1/auth/login") => {
            Some(json!({"account": "acme", "email": "x@y.fr", "password": "z"}))
        }
        ("post", "/api/v1/profiles") => None,
        _ => None,
    }
}

async fn attack_suite(kind: Kind) {
    let h = Hosted::start(kind).await;
    let p = people(&h.app).await;
    let acme = account("acme");
    // acme's resources: the demo profile on the simulators, a run, a schedule, a token.
    let world = DemoWorld::start(3, EbpSimConfig::default()).await.unwrap();
    let file = world.profile_file().unwrap();
    let secrets = [
        file.shop.key.clone().unwrap(),
        file.erp.client_secret.clone().unwrap(),
        file.erp.subscription_key.clone().unwrap(),
    ];
    let profile = world.install(&h.app, &acme).await.unwrap();
    assert_eq!(profile.as_str(), "demo-prestashop");
    let admin = [("authorization", p.admin.as_str())];
    let run = h
        .call(
            Method::POST,
            "/api/v1/runs",
            &admin,
            body_for("/api/v1/runs", "post"),
        )
        .await;
    assert_eq!(run.status, 202, "{}", run.body);
    let run_id = run.json()["id"].as_str().unwrap().to_string();
    let sched = h
        .call(
            Method::POST,
            "/api/v1/schedules",
            &admin,
            body_for("/api/v1/schedules", "post"),
        )
        .await;
    assert_eq!(sched.status, 201, "{}", sched.body);
    let sched_id = sched.json()["id"].as_str().unwrap().to_string();
    let tok = h
        .call(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            body_for("/api/v1/tokens", "post"),
        )
        .await;
    let tok_id = tok.json()["id"].as_str().unwrap().to_string();
    let fill = |path: &str| {
        path.replace(
            "{id}",
            if path.starts_with("/api/v1/profiles") {
                profile.as_str()
            } else if path.starts_with("/api/v1/runs") {
                &run_id
            } else if path.starts_with("/api/v1/schedules") {
                &sched_id
            } else {
                &tok_id
            },
        )
        .replace("{name}", "Orders.txt")
    };
    let routes = api::routes();

    // 1. Anonymous: 401 everywhere but the login and the document itself.
    for (path, method) in routes.paths() {
        if path.ends_with("/auth/login") || path.ends_with("/openapi.json") {
            continue;
        }
        let m: Method = method.to_uppercase().parse().unwrap();
        let a = h.call(m, &fill(path), &[], body_for(path, method)).await;
        assert_eq!(a.status, 401, "anonymous {method} {path}: {}", a.body);
        assert_eq!(a.headers["content-type"], "application/problem+json");
        assert!(a.json()["title"].is_string());
    }
    // 2. Another account's token on every id-bearing route: 404, never 403 or 200.
    for (path, method) in routes.paths() {
        if !path.contains('{') {
            continue;
        }
        let m: Method = method.to_uppercase().parse().unwrap();
        let a = h
            .call(
                m,
                &fill(path),
                &[("authorization", &p.rival)],
                body_for(path, method),
            )
            .await;
        assert_eq!(a.status, 404, "rival {method} {path}: {}", a.body);
    }
    // …and its own lists hold nothing of acme's.
    for path in ["/api/v1/runs", "/api/v1/schedules", "/api/v1/profiles"] {
        let a = h
            .call(Method::GET, path, &[("authorization", &p.rival)], None)
            .await;
        assert_eq!(a.status, 200);
        assert_eq!(
            a.json().as_array().map(Vec::len),
            Some(0),
            "rival sees {path}: {}",
            a.body
        );
    }
    let a = h
        .call(
            Method::GET,
            "/api/v1/tokens",
            &[("authorization", &p.rival)],
            None,
        )
        .await;
    let names: Vec<String> = a
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        vec!["admin@rival.fr".to_string()],
        "rival sees only its own token"
    );
    // 3. Roles: an operator cannot reset, an auditor cannot start a run; support can, with
    // a reason recorded on acme's security log.
    let reset = "/api/v1/profiles/demo-prestashop/reset-orders";
    let a = h
        .call(
            Method::POST,
            reset,
            &[("authorization", &p.operator)],
            body_for(reset, "post"),
        )
        .await;
    assert_eq!(a.status, 403, "{}", a.body);
    let a = h
        .call(
            Method::POST,
            "/api/v1/runs",
            &[("authorization", &p.auditor)],
            body_for("/api/v1/runs", "post"),
        )
        .await;
    assert_eq!(a.status, 403);
    let a = h
        .call(
            Method::POST,
            reset,
            &[
                ("authorization", &p.support),
                ("x-passerelle-account", "acme"),
            ],
            body_for(reset, "post"),
        )
        .await;
    assert_eq!(a.status, 400, "support without a reason: {}", a.body);
    let a = h
        .call(
            Method::POST,
            reset,
            &[
                ("authorization", &p.support),
                ("x-passerelle-account", "acme"),
                ("x-passerelle-reason", "ticket 42"),
            ],
            Some(json!({"ids": ["1"]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let log = h
        .call(Method::GET, "/api/v1/security-log", &admin, None)
        .await;
    assert!(
        log.body.contains("SupportActionRecorded") && log.body.contains("ticket 42"),
        "{}",
        log.body
    );
    // 4. Expired and revoked tokens: 401.
    let access = Access::new(h.app.db.clone());
    let expiring = access
        .create_token(
            &acme,
            "court",
            vec![Role::Auditor],
            Some(chrono::Utc::now() + chrono::Duration::milliseconds(300)),
            &Actor::Cli,
        )
        .await
        .unwrap();
    let deadline = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    // Waiting for the wall clock to pass the expiry (not a synchronisation with a task).
    tokio::time::sleep((deadline - chrono::Utc::now()).to_std().unwrap_or_default()).await;
    let a = h
        .call(
            Method::GET,
            "/api/v1/runs",
            &[("authorization", &bearer(&expiring.token))],
            None,
        )
        .await;
    assert_eq!(a.status, 401, "expired");
    let a = h
        .call(
            Method::DELETE,
            &format!("/api/v1/tokens/{tok_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(a.status, 204);
    let revoked = bearer(tok.json()["token"].as_str().unwrap());
    let a = h
        .call(
            Method::GET,
            "/api/v1/runs",
            &[("authorization", &revoked)],
            None,
        )
        .await;
    assert_eq!(a.status, 401, "revoked");
    // 5. Sessions: a state-changing call without the CSRF token is refused, with it accepted.
    let login = h
        .call(
            Method::POST,
            "/api/v1/auth/login",
            &[],
            Some(json!({"account": "acme", "email": "admin@acme.fr", "password": PW})),
        )
        .await;
    assert_eq!(login.status, 200, "{}", login.body);
    let cookie = login.headers["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = login.json()["csrf"].as_str().unwrap().to_string();
    let body = json!({"profile": "demo-prestashop", "action": "update-prices"});
    let a = h
        .call(
            Method::POST,
            "/api/v1/runs",
            &[("cookie", &cookie)],
            Some(body.clone()),
        )
        .await;
    assert_eq!(a.status, 403, "API without CSRF: {}", a.body);
    let a = h
        .call(
            Method::POST,
            "/api/v1/runs",
            &[("cookie", &cookie), ("x-csrf-token", &csrf)],
            Some(body),
        )
        .await;
    assert_eq!(a.status, 202, "{}", a.body);
    let console = console_login(&h, "acme", "admin@acme.fr").await;
    for (path, fields) in [
        (
            "/synchronisation",
            vec![("profile", "demo-prestashop"), ("action", "update-stock")],
        ),
        (
            "/planification",
            vec![
                ("profile", "demo-prestashop"),
                ("action", "update-stock"),
                ("start", "2030-01-01 08:00"),
            ],
        ),
        (
            "/support",
            vec![
                ("profile", "demo-prestashop"),
                ("ids", "1"),
                ("reason", "x"),
            ],
        ),
        (
            "/notifications",
            vec![
                ("profile", "demo-prestashop"),
                ("smtp_host", "smtp.example.com"),
                ("from", "a@example.com"),
                ("recipients", "b@example.com"),
            ],
        ),
        (
            "/profils/nouveau",
            vec![("id", "p2"), ("platform", "prestashop")],
        ),
        ("/deconnexion", vec![]),
        (&format!("/planification/{sched_id}/pause"), vec![]),
        (&format!("/journaux/{run_id}/annuler"), vec![]),
        ("/profils/demo-prestashop/tester", vec![]),
    ] {
        let a = h.form(path, &console, &fields).await;
        assert_eq!(
            a.status, 403,
            "console form {path} without CSRF: {}",
            a.body
        );
    }
    // 6. Path traversal in file names: nothing outside the run's own files.
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "..%2FOrders.txt",
        "Orders.txt%00",
    ] {
        let a = h
            .call(
                Method::GET,
                &format!("/api/v1/runs/{run_id}/files/{name}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(a.status, 404, "{name}");
        assert!(!a.body.contains("root:"));
    }
    // 7. SQL metacharacters and 1 MB strings: stored and shown escaped, never a 500.
    let evil = "x'); DROP TABLE events; -- <script>alert(1)</script>";
    let a = h
        .call(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": evil, "roles": ["auditor"]})),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let listed = h.call(Method::GET, "/api/v1/tokens", &admin, None).await;
    assert!(listed
        .json()
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == evil));
    let page = h
        .call(Method::GET, "/securite", &[("cookie", &console)], None)
        .await;
    assert!(
        page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
            && !page.body.contains("<script>alert")
    );
    let big = "é".repeat(512 * 1024);
    let cases: Vec<(Method, &str, Value)> = vec![
        (
            Method::POST,
            "/api/v1/tokens",
            json!({"name": big, "roles": ["auditor"]}),
        ),
        (
            Method::POST,
            "/api/v1/auth/login",
            json!({"account": big, "email": big, "password": "x"}),
        ),
        (
            Method::POST,
            "/api/v1/runs",
            json!({"profile": big, "action": evil}),
        ),
        (
            Method::POST,
            "/api/v1/schedules",
            json!({"profile": "demo-prestashop", "action": "update-stock", "start": evil, "daily": 1}),
        ),
        (Method::POST, reset, json!({"ids": [evil], "reason": big})),
        (
            Method::PUT,
            "/api/v1/profiles/demo-prestashop/notifications",
            json!({"smtp_host": evil, "smtp_port": 25, "tls": "none", "from": big, "recipients": evil, "subject": big, "after_orders_created": false, "after_quotes_created": false, "on_success": false, "on_failure": false, "attach_log": false}),
        ),
    ];
    for (m, path, body) in cases {
        let a = h.call(m.clone(), path, &admin, Some(body)).await;
        assert!(
            a.status < 500,
            "{m} {path}: {} {}",
            a.status,
            a.body.chars().take(300).collect::<String>()
        );
    }
    let huge = h
        .call(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": "x".repeat(3 * 1024 * 1024), "roles": ["auditor"]})),
        )
        .await;
    assert_eq!(huge.status, 413, "body limit");
    let evil_form = h
        .form(
            "/planification",
            &console,
            &[
                (
                    "csrf",
                    &csrf_of(
                        &h.call(Method::GET, "/planification", &[("cookie", &console)], None)
                            .await
                            .body,
                    ),
                ),
                ("profile", "demo-prestashop"),
                ("action", "update-stock"),
                ("start", evil),
            ],
        )
        .await;
    assert_eq!(evil_form.status, 400, "{}", evil_form.body);
    assert!(!evil_form.body.contains("<script>alert"));
    let still = h
        .app
        .db
        .fetch("SELECT count(*) FROM events", &[])
        .await
        .unwrap();
    assert!(
        still[0][0].as_i64().unwrap() > 0,
        "the events table is still there"
    );
    // 8. Secrets are write-only: no API answer or page ever shows them.
    let exported = h
        .call(
            Method::GET,
            "/api/v1/profiles/demo-prestashop",
            &admin,
            None,
        )
        .await;
    assert_eq!(exported.status, 200);
    for path in [
        "/profils/demo-prestashop",
        "/notifications",
        "/",
        "/journaux",
    ] {
        h.call(Method::GET, path, &[("cookie", &console)], None)
            .await;
    }
    let bodies = h.bodies.lock().unwrap().clone();
    let tokens_clear: Vec<String> = [&p.admin, &p.operator, &p.auditor, &p.rival, &p.support]
        .iter()
        .map(|t| t.rsplit('.').next().unwrap().to_string())
        .collect();
    for secret in secrets
        .iter()
        .chain(tokens_clear.iter())
        .chain([PW.to_string()].iter())
    {
        for b in &bodies {
            assert!(
                !b.contains(secret.as_str()),
                "a secret appears in an answer"
            );
        }
        let found = h
            .app
            .db
            .fetch("SELECT count(*) FROM events WHERE CAST(payload AS text) LIKE $1 OR CAST(metadata AS text) LIKE $1", &[passerelle_adapters::store::Val::text(format!("%{secret}%"))])
            .await
            .unwrap();
        assert_eq!(found[0][0].as_i64(), Some(0), "a secret in the event log");
    }
    drop(world);
}

both!(attacks, attack_suite);

async fn ssrf_guard_refuses_internal_targets(kind: Kind) {
    let h = Hosted::start(kind).await;
    let p = people(&h.app).await;
    passerelle_adapters::http::set_allow_private_targets(false);
    // A listener that must never see a connection.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let port = trap.local_addr().unwrap().port();
    for url in [
        format!("http://127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/".to_string(),
        format!("http://[::1]:{port}/"),
        "http://10.0.0.1/".to_string(),
        format!("http://localhost:{port}/"),
    ] {
        let toml = format!(
            "id = \"p-ssrf\"\n[shop]\nplatform = \"prestashop\"\nurl = \"{url}\"\nkey = \"K\"\n[erp]\napi_url = \"https://api.example.com\"\nlogin_url = \"https://login.example.com\"\nclient_id = \"c\"\nfolder_id = \"f\"\n"
        );
        let r = h
            .http
            .post(format!("{}/api/v1/profiles", h.base))
            .header("authorization", &p.admin)
            .header("content-type", "application/toml")
            .body(toml)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        assert_eq!(status, 400, "{url}: {body}");
        assert!(
            body.contains("Adresse refusée") && body.contains("interne"),
            "{url}: {body}"
        );
    }
    // Redirects: a literal internal address, or a name resolving to one, is refused.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let redirector = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raddr = redirector.local_addr().unwrap();
    let locations = vec![
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://localhost:{port}/"),
    ];
    let locs = locations.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for loc in locs {
            let (mut s, _) = redirector.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let answer = format!("HTTP/1.1 302 Found\r\nLocation: {loc}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = s.write_all(answer.as_bytes()).await;
        }
    });
    let client = passerelle_adapters::http::builder(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in &locations {
        let e = client
            .get(format!("http://{raddr}/"))
            .send()
            .await
            .unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("refusée") || text.contains("Forbidden"),
            "{text}"
        );
    }
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "no request reached the internal address"
    );
    drop(target);
}

both!(ssrf, ssrf_guard_refuses_internal_targets);
