//! The shop-platform seam through the binary: the platform is parsed once (an unknown one is
//! refused, exit 2, listing the valid ones), an action the platform cannot do is refused by
//! `run` and `schedule create` before anything is queued, `docs/PLATFORMS.md` equals the
//! matrix rendered from the code, and the platform-name check can fail.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(url: &str, args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env("PASSERELLE_ACCOUNT", "acme")
        .env_remove("PASSERELLE_LANG")
        .env_remove("PASSERELLE_MASTER_KEY")
        .env_remove("PASSERELLE_KEY_FILE")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A minimal profile file on `platform`.
fn profile(dir: &Path, platform: &str) -> PathBuf {
    let path = dir.join(format!("{platform}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"id = "shop-{platform}"
[shop]
platform = "{platform}"
url = "https://shop.example/"
key = "K"
[erp]
client_id = "c"
folder_id = "1"
client_secret = "s"
subscription_key = "k"
"#
        ),
    )
    .unwrap();
    path
}

async fn queued_runs(app: &passerelle::app::App) -> i64 {
    let rows = app
        .db
        .fetch("SELECT COUNT(*) FROM run_queue", &[])
        .await
        .unwrap();
    rows[0][0].as_i64().unwrap()
}

async fn unsupported_platform_is_refused_before_queueing(kind: Kind) {
    let tdb = fresh(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let url = tdb.url.clone();

    // An unknown platform: exit 2, one line listing the valid names, nothing stored.
    let o = bin(
        &url,
        &[
            "profile",
            "import",
            profile(dir.path(), "joomla").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert_eq!(e.trim().lines().count(), 1, "{e}");
    assert!(
        e.contains("joomla") && e.contains("prestashop, woocommerce, shopify"),
        "{e}"
    );

    // A known platform without a client yet: imported, but no action can run on it.
    let o = bin(
        &url,
        &[
            "profile",
            "import",
            profile(dir.path(), "lenewblack").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = bin(
        &url,
        &["run", "shop-lenewblack", "import-orders"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("Le New Black pas encore prise en charge"), "{e}");
    let o = bin(
        &url,
        &["run", "shop-lenewblack", "update-stock", "--enqueue-only"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = bin(
        &url,
        &[
            "schedule",
            "create",
            "shop-lenewblack",
            "import-orders",
            "--start",
            "2026-12-01 08:00",
            "--daily",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("pas encore prise en charge"));

    let app = tdb.app().await;
    assert_eq!(queued_runs(&app).await, 0, "nothing queued");
    app.projector.catch_up().await.unwrap();
    let schedules = passerelle_projections::schedules::list(&app.db, "acme")
        .await
        .unwrap();
    assert!(schedules.is_empty(), "no schedule created: {schedules:?}");

    // The engine's own demonstration needs no shop: still accepted on that profile.
    let o = bin(
        &url,
        &["run", "shop-lenewblack", "demo-engine", "--enqueue-only"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(queued_runs(&app).await, 1);
}

#[tokio::test]
async fn unsupported_platform_is_refused_before_queueing_sqlite() {
    unsupported_platform_is_refused_before_queueing(Kind::Sqlite).await;
}

#[tokio::test]
async fn unsupported_platform_is_refused_before_queueing_pg() {
    unsupported_platform_is_refused_before_queueing(Kind::Pg).await;
}

#[test]
fn platforms_doc_equals_the_matrix_rendered_from_the_code() {
    let doc = std::fs::read_to_string(root().join("docs/PLATFORMS.md")).unwrap();
    let (begin, end) = (
        "<!-- BEGIN GENERATED: passerelle platforms --markdown -->\n",
        "<!-- END GENERATED -->",
    );
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    assert_eq!(
        &doc[start..stop],
        passerelle::platforms::matrix_markdown(),
        "docs/PLATFORMS.md is stale: paste `passerelle platforms --markdown` between the markers"
    );
}

#[test]
fn platform_name_check_passes_on_the_tree_and_fails_on_a_planted_name() {
    let script = root().join("scripts/check-platform-names.sh");
    let ok = Command::new("bash").arg(&script).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let planted = tempfile::tempdir().unwrap();
    let src = planted.path().join("workflows/src");
    std::fs::create_dir_all(&src).unwrap();
    // Allowed: a comment, a plain platform name; flagged: a platform type in workflows.
    std::fs::write(
        src.join("clean.rs"),
        "// PrestaShopClient in a comment\nfn f(p: Platform) -> bool { p == Platform::WooCommerce }\n",
    )
    .unwrap();
    let clean = Command::new("bash")
        .arg(&script)
        .arg(planted.path())
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
    std::fs::write(src.join("leak.rs"), "fn f(c: &ShopifyClient) {}\n").unwrap();
    let leak = Command::new("bash")
        .arg(&script)
        .arg(planted.path())
        .output()
        .unwrap();
    assert_eq!(leak.status.code(), Some(1));
    let out = String::from_utf8_lossy(&leak.stdout);
    assert!(out.contains("leak.rs:1:ShopifyClient"), "{out}");
}

#[test]
fn demo_on_a_platform_without_simulator_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/d.db", dir.path().display());
    let o = bin(&url, &["demo", "--shop", "lenewblack"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Le New Black"), "{}", stderr(&o));
    let o = bin(&url, &["demo", "--shop", "oscommerce"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("valeurs possibles"));
    let o = bin(&url, &["sim", "oasis"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

/// `passerelle sim …` started in the background; its first line parsed. Stopped with
/// SIGTERM when dropped.
struct SimProcess {
    child: std::process::Child,
    first: serde_json::Value,
}

impl SimProcess {
    fn start(args: &[&str]) -> SimProcess {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_passerelle"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        // The first line is printed once the server listens: reading it is the signal.
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .unwrap();
        let first = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
        SimProcess { child, first }
    }

    fn url(&self) -> String {
        self.first["url"]
            .as_str()
            .unwrap()
            .trim_end_matches('/')
            .to_string()
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        self.child.wait().unwrap()
    }
}

#[tokio::test]
async fn sim_prestashop_refuses_an_anonymous_call_like_prestashop() {
    let sim = SimProcess::start(&["sim", "prestashop", "--json"]);
    assert_eq!(sim.first["platform"], "prestashop");
    let key = sim.first["credentials"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::Client::new();
    let anonymous = http
        .get(format!("{}/api/orders", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    let challenge = anonymous.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Basic "), "{challenge}");
    let known = http
        .get(format!("{}/api/orders?output_format=JSON", sim.url()))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(known.status(), 200);
    let body: serde_json::Value = known.json().await.unwrap();
    assert_eq!(
        body["orders"].as_array().map(Vec::len),
        Some(52),
        "the demo seed"
    );
    assert!(sim.stop().success(), "SIGTERM stops it cleanly");
}

#[tokio::test]
async fn sim_ebp_prints_a_code_that_profile_ebp_login_accepts() {
    let sim = SimProcess::start(&["sim", "ebp", "--json"]);
    let c = &sim.first["credentials"];
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/e.db", dir.path().display());
    let file = dir.path().join("p.toml");
    std::fs::write(
        &file,
        format!(
            r#"id = "ebp-try"
[shop]
platform = "prestashop"
url = "http://127.0.0.1:9/"
key = "K"
[erp]
api_url = "{u}"
login_url = "{u}"
client_id = "{id}"
folder_id = "{folder}"
client_secret = "{secret}"
subscription_key = "{sub}"
"#,
            u = sim.url(),
            id = c["client_id"].as_str().unwrap(),
            folder = c["folder_id"].as_str().unwrap(),
            secret = c["client_secret"].as_str().unwrap(),
            sub = c["subscription_key"].as_str().unwrap(),
        ),
    )
    .unwrap();
    let o = bin(
        &url,
        &["profile", "import", file.to_str().unwrap()],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let code = c["authorization_code"].as_str().unwrap();
    let login = |code: &str| {
        bin(
            &url,
            &[
                "profile",
                "ebp-login",
                "ebp-try",
                "--code",
                code,
                "--redirect-uri",
                c["redirect_uri"].as_str().unwrap(),
            ],
            dir.path(),
        )
    };
    let o = login(code);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // The code is single-use, like EBP's: the simulator is really checking it.
    let again = login(code);
    assert_ne!(again.status.code(), Some(0));
    // And the stored tokens work: the EBP side of test-connection answers.
    let o = bin(&url, &["profile", "test-connection", "ebp-try"], dir.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("EBP : OK"), "{out}");
    assert!(sim.stop().success());
}

#[test]
fn sim_reads_a_neutral_seed_file() {
    let dir = tempfile::tempdir().unwrap();
    let seed = passerelle_simulators::seed::Seed::demo(4);
    let path = dir.path().join("seed.json");
    std::fs::write(&path, serde_json::to_string(&seed).unwrap()).unwrap();
    let sim = SimProcess::start(&[
        "sim",
        "prestashop",
        "--json",
        "--seed",
        path.to_str().unwrap(),
    ]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = sim.first["credentials"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    let body: serde_json::Value = rt.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/api/orders?output_format=JSON", sim.url()))
            .basic_auth(&key, Some(""))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(body["orders"].as_array().map(Vec::len), Some(4));
    assert!(sim.stop().success());
    let o = bin(
        "sqlite://unused.db",
        &["sim", "prestashop", "--seed", "/nonexistent.json"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
