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
            profile(dir.path(), "woocommerce").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let o = bin(
        &url,
        &["run", "shop-woocommerce", "import-orders"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("WooCommerce pas encore prise en charge"), "{e}");
    let o = bin(
        &url,
        &["run", "shop-woocommerce", "update-stock", "--enqueue-only"],
        dir.path(),
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = bin(
        &url,
        &[
            "schedule",
            "create",
            "shop-woocommerce",
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
        &["run", "shop-woocommerce", "demo-engine", "--enqueue-only"],
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
    let o = bin(&url, &["demo", "--shop", "shopify"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("Shopify"));
    let o = bin(&url, &["demo", "--shop", "oscommerce"], dir.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("valeurs possibles"));
    let o = bin(&url, &["sim", "magento"], dir.path());
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}
