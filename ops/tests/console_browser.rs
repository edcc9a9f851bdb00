//! The console in a real headless Chromium, driven over WebDriver (fantoccini): the issue's
//! browser scenario end to end against the simulators, with screenshots of the main pages
//! in `target/console-screenshots/`. Every wait is on a DOM condition with a deadline,
//! never a fixed sleep. Needs Debian's `chromium` and `chromium-driver`
//! (`scripts/setup-test-deps.sh`).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use passerelle::api::PeerAddr;
use passerelle::auth::Access;
use passerelle::demo::DemoWorld;
use passerelle::hosting::{self, ServeOptions};
use passerelle_domain::access::Role;
use passerelle_domain::Actor;
use passerelle_simulators::ebp::EbpSimConfig;
use passerelle_workflows::engine::Worker;
use passerelle_workflows::ports::SystemClock;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PW: &str = "mot de passe du navigateur";

/// chromedriver on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let bin = [
        "chromedriver",
        "/usr/bin/chromedriver",
        "/usr/lib/chromium/chromedriver",
    ]
    .into_iter()
    .find(|b| Command::new(b).arg("--version").output().is_ok())
    .expect("chromedriver missing: run scripts/setup-test-deps.sh");
    let child = Command::new(bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = http.get(format!("{url}/status")).send().await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver { child, url }
}

async fn browser(d: &Driver, profile_dir: &std::path::Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,900",
            format!("--user-data-dir={}", profile_dir.display()),
        ]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&d.url)
        .await
        .unwrap()
}

/// Waits until `script` (a JS expression) is truthy.
async fn until(c: &Client, what: &str, script: &str, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = c
            .execute(&format!("return !!({script});"), vec![])
            .await
            .unwrap();
        if v.as_bool() == Some(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn shot(c: &Client, name: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join(format!("{name}.png")),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
}

async fn fill(c: &Client, id: &str, value: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

async fn text(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_scenario() {
    let db = fresh(Kind::Sqlite).await;
    std::env::set_var("PASSERELLE_MASTER_KEY", EXPORT_KEY);
    std::env::set_var("PASSERELLE_DAILY_BUDGET", "10000");
    let app = Arc::new(db.app().await);
    let acme = account("acme");
    let access = Access::new(app.db.clone());
    access
        .create_account(&acme, "ACME", "Europe/Paris", &Actor::Cli)
        .await
        .unwrap();
    access
        .add_user(&acme, "admin@acme.fr", vec![Role::Admin], PW, &Actor::Cli)
        .await
        .unwrap();
    passerelle::demo::ensure_import_plan(&app, &acme, 1000)
        .await
        .unwrap();
    // The simulators; EBP keeps its real 1 call/s, so the import lasts a few seconds.
    let world = DemoWorld::start(12, EbpSimConfig::default()).await.unwrap();
    let file = world.profile_file().unwrap();

    let opts = ServeOptions {
        listen: "127.0.0.1:0".into(),
        rate_limit: 0,
        allow_private_targets: true,
        ..Default::default()
    };
    let router = hosting::router(hosting::state(app.clone(), &opts), &opts)
        .into_make_service_with_connect_info::<PeerAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // `localhost`: browsers keep `Secure` cookies on it over plain HTTP.
    let base = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let w = Worker::new(
        "w-browser",
        app.run_store(),
        Arc::new(app.registry("http://127.0.0.1:9").unwrap()),
        Arc::new(SystemClock),
        app.settings.worker_config(),
    );
    let stop = w.shutdown_flag();
    let worker = tokio::spawn(async move { w.run_until_shutdown().await });

    let d = driver().await;
    let dir = tempfile::tempdir().unwrap();
    let c = browser(&d, dir.path()).await;

    // Log in.
    c.goto(&format!("{base}/")).await.unwrap();
    until(
        &c,
        "login form",
        "document.querySelector('input[type=password]')",
        10,
    )
    .await;
    assert_eq!(
        c.execute("return document.documentElement.lang", vec![])
            .await
            .unwrap(),
        "fr"
    );
    shot(&c, "01-connexion").await;
    fill(&c, "account", "acme").await;
    fill(&c, "email", "admin@acme.fr").await;
    fill(&c, "password", PW).await;
    click(&c, "main button[type=submit]").await;
    until(&c, "dashboard", "document.querySelector('#quotas')", 10).await;
    shot(&c, "02-espace-client").await;

    // The wizard against the simulators.
    c.goto(&format!("{base}/profils/nouveau")).await.unwrap();
    until(&c, "wizard", "document.getElementById('w-url')", 10).await;
    shot(&c, "03-assistant").await;
    fill(&c, "w-id", "boutique").await;
    fill(&c, "w-url", &file.shop.url).await;
    fill(&c, "w-key", file.shop.key.as_deref().unwrap()).await;
    fill(&c, "w-api", &file.erp.api_url).await;
    fill(&c, "w-login", &file.erp.login_url).await;
    fill(&c, "w-client", &file.erp.client_id).await;
    fill(&c, "w-secret", file.erp.client_secret.as_deref().unwrap()).await;
    fill(&c, "w-sub", file.erp.subscription_key.as_deref().unwrap()).await;
    fill(&c, "w-folder", &file.erp.folder_id).await;
    click(&c, "main form button[type=submit]").await;
    until(
        &c,
        "profile page",
        "location.pathname === '/profils/boutique'",
        10,
    )
    .await;
    // EBP login (the simulator answers the authorization at once), then the test.
    click(&c, "a[href='/profils/boutique/ebp']").await;
    until(&c, "EBP login stored", "document.querySelector('p.ok')", 15).await;
    click(&c, "form[action='/profils/boutique/tester'] button").await;
    until(
        &c,
        "connection test",
        "document.querySelector('[data-test=erp]')",
        20,
    )
    .await;
    assert!(
        text(&c, "[data-test=shop]").await.contains("OK"),
        "{}",
        text(&c, "[data-test=shop]").await
    );
    assert!(
        text(&c, "[data-test=erp]").await.contains("OK"),
        "{}",
        text(&c, "[data-test=erp]").await
    );
    shot(&c, "04-test-connexion").await;
    // The import profile's options come from the sample (the wizard stores connections).
    let mut full = file.clone();
    full.id = "boutique".into();
    full.shop.key = None;
    full.erp.client_secret = None;
    full.erp.subscription_key = None;
    passerelle::profiles::Profiles::new(app.db.clone())
        .import(&acme, full, app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();

    // Run import-orders and watch the counter move before the end.
    c.goto(&format!("{base}/synchronisation")).await.unwrap();
    c.find(Locator::Id("action"))
        .await
        .unwrap()
        .select_by_value("import-orders")
        .await
        .unwrap();
    click(&c, "main form button[type=submit]").await;
    until(&c, "run page", "document.querySelector('[data-live]')", 10).await;
    until(
        &c,
        "the live counter moving while running",
        "Number(document.querySelector('[data-count=succeeded]').textContent) > 0 && document.querySelector('[data-count=status]').textContent === 'running'",
        60,
    )
    .await;
    shot(&c, "05-tache-en-direct").await;
    until(
        &c,
        "the run's end",
        "document.querySelector('[data-live]').getAttribute('data-ended') === 'true'",
        90,
    )
    .await;
    let run_path: String = c
        .execute("return location.pathname", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let run_id = run_path.rsplit('/').next().unwrap().to_string();
    c.refresh().await.unwrap();
    until(&c, "detail", "document.getElementById('erreurs')", 10).await;
    // Errors come first, before the files and the log.
    let order: bool = c
        .execute("var e=document.getElementById('erreurs'),j=document.getElementById('journal');return !!(e.compareDocumentPosition(j) & Node.DOCUMENT_POSITION_FOLLOWING) && document.querySelectorAll('.erreurs li').length > 0", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(order, "errors listed first");
    shot(&c, "06-detail-tache").await;
    // Download Orders.txt (same request as the link) and compare with the CLI.
    let got = c
        .execute_async(
            "var done=arguments[0];fetch(document.querySelector(\"a[download='Orders.txt']\").href).then(r=>r.text()).then(done)",
            vec![],
        )
        .await
        .unwrap();
    let cli = Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args([
            "--account",
            "acme",
            "run-detail",
            &run_id,
            "--file",
            "Orders.txt",
        ])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(
        cli.status.success(),
        "{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert_eq!(
        got.as_str().unwrap().as_bytes(),
        cli.stdout.as_slice(),
        "Orders.txt differs"
    );

    // A schedule and its next run.
    c.goto(&format!("{base}/planification")).await.unwrap();
    c.find(Locator::Id("s-action"))
        .await
        .unwrap()
        .select_by_value("update-stock")
        .await
        .unwrap();
    fill(&c, "s-start", "2030-01-01 08:00").await;
    click(&c, "form[action='/planification'] button[type=submit]").await;
    until(&c, "next run shown", "[...document.querySelectorAll('[data-next-run]')].some(td => /2030-01-01/.test(td.textContent))", 10).await;
    shot(&c, "07-planification").await;
    for (path, name) in [
        ("/journaux", "08-journaux"),
        ("/profils", "09-profils"),
        ("/notifications", "10-notifications"),
        ("/support", "11-support"),
    ] {
        c.goto(&format!("{base}{path}")).await.unwrap();
        until(&c, path, "document.querySelector('main h1')", 10).await;
        shot(&c, name).await;
    }
    // 375 px wide: nothing overflows sideways.
    c.set_window_size(375, 800).await.unwrap();
    c.goto(&format!("{base}/journaux")).await.unwrap();
    until(&c, "narrow page", "document.querySelector('main h1')", 10).await;
    let overflow = c
        .execute("return document.documentElement.scrollWidth", vec![])
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    assert!(overflow <= 380, "page {overflow} px wide at 375 px");
    shot(&c, "12-journaux-375px").await;
    c.set_window_size(1280, 900).await.unwrap();
    // Change the language.
    click(&c, "header form[action='/langue'] button").await;
    until(&c, "English", "document.documentElement.lang === 'en'", 10).await;
    assert!(text(&c, "main h1").await.contains("Logs"));
    shot(&c, "13-english").await;

    c.close().await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    worker.await.unwrap().unwrap();
    drop(world);
}
