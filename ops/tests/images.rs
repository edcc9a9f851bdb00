//! Images of export-articles end to end, on SQLite and PostgreSQL: the files come from a
//! REAL local FTP server (Debian `vsftpd`, started per test from a generated config, passive
//! mode; FTPS with a certificate made by `openssl`), the products are PrestaShop simulator
//! products checked image by image (count, bytes); per-reference sub-folders and a shared
//! folder; re-runs send nothing twice; a changed file replaces its image; delete-first
//! replaces every image; a file that is not an image is reported with its reason and the
//! run goes on; the storage secret never appears in events, aggregates, journal or logs.
//!
//! `vsftpd` and `openssl` are installed by `scripts/setup-test-deps.sh`; without them these
//! tests FAIL (they never skip).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::*;
use passerelle::app::App;
use passerelle::demo::DemoWorld;
use passerelle::export_demo::ensure_export_plan;
use passerelle::profiles::{Profiles, StorageSection};
use passerelle_domain::catalog::media::{MediaSettings, StorageKind, StorageSettings};
use passerelle_domain::{AccountId, Actor, ProfileId, RunId, RunStatus, SyncAction};
use passerelle_projections::journal;
use passerelle_projections::rebuild::rebuild;
use passerelle_simulators::ebp::contract::ITEM_IMAGE_COLUMN;
use passerelle_simulators::ebp::EbpSimConfig;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FTP_SECRET: &str = "Ftp-S3cret-Never-Logged-7f3a";

const PNG_A: &[u8] = b"\x89PNG\r\n\x1a\n-vase-face-";
const JPG_B: &[u8] = b"\xFF\xD8\xFF\xE0-vase-dos-";
const PNG_C: &[u8] = b"\x89PNG\r\n\x1a\n-tapis-";
const PNG_D: &[u8] = b"\x89PNG\r\n\x1a\n-coussin-";

/// A private vsftpd serving `root` (anonymous, read-only, passive ports of its own),
/// killed on drop.
struct Ftp {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for Ftp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `n` consecutive free ports (the passive range).
fn free_range(n: u16) -> u16 {
    for _ in 0..200 {
        let base = 20_000 + (rand_u16() % 30_000);
        let ok = (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if ok {
            return base;
        }
    }
    panic!("no free passive port range");
}

fn rand_u16() -> u16 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    (t ^ std::process::id().wrapping_mul(2_654_435_761)) as u16
}

fn require(bin: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
    ] {
        let p = Path::new(dir).join(bin);
        if p.exists() {
            return p;
        }
    }
    panic!(
        "`{bin}` is missing: run scripts/setup-test-deps.sh (these tests need a real FTP server)"
    );
}

impl Ftp {
    /// Starts vsftpd; `tls`: explicit FTPS with a certificate of a fresh local CA.
    fn start(tls: bool) -> Ftp {
        let bin = require("vsftpd");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&empty).unwrap();
        set_mode(dir.path(), 0o755);
        set_mode(&root, 0o755);
        set_mode(&empty, 0o755);
        let port = free_port();
        let pasv = free_range(10);
        let mut conf = format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nbackground=NO\n\
             anonymous_enable=YES\nno_anon_password=NO\nanon_root={root}\nlocal_enable=NO\n\
             write_enable=NO\npasv_enable=YES\npasv_min_port={pasv}\npasv_max_port={pmax}\n\
             pasv_address=127.0.0.1\nport_enable=NO\nseccomp_sandbox=NO\nisolate=NO\nisolate_network=NO\n\
             secure_chroot_dir={empty}\nxferlog_enable=NO\nvsftpd_log_file={log}\n",
            root = root.display(),
            pmax = pasv + 9,
            empty = empty.display(),
            log = dir.path().join("vsftpd.log").display(),
        );
        if tls {
            make_certs(dir.path());
            conf.push_str(&format!(
                "ssl_enable=YES\nallow_anon_ssl=YES\nforce_anon_logins_ssl=YES\nforce_anon_data_ssl=YES\n\
                 rsa_cert_file={}\nrsa_private_key_file={}\nrequire_ssl_reuse=YES\n",
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display(),
            ));
        }
        let conf_path = dir.path().join("vsftpd.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(bin)
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let ftp = Ftp { child, port, dir };
        // Ready when it accepts connections.
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return ftp;
            }
            std::thread::sleep(Duration::from_millis(30));
        }
        panic!("vsftpd did not start on port {port}");
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn put(&self, path: &str, bytes: &[u8]) {
        let p = self.root().join(path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
            let mut d = parent.to_path_buf();
            while d != self.root() {
                set_mode(&d, 0o755);
                d = d.parent().unwrap().to_path_buf();
            }
        }
        std::fs::write(&p, bytes).unwrap();
        set_mode(&p, 0o644);
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").display().to_string()
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A local CA and a `localhost` server certificate it signs (openssl CLI).
fn make_certs(dir: &Path) {
    let openssl = require("openssl");
    let run = |args: &[&str]| {
        let out = Command::new(&openssl)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Passerelle test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=localhost",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

fn env() {
    export_env();
}

struct Setup {
    _db: TestDb,
    app: App,
    world: DemoWorld,
    acc: AccountId,
    profile: ProfileId,
}

async fn setup(kind: Kind) -> Setup {
    env();
    let db = fresh(kind).await;
    let app = db.app().await;
    let world = DemoWorld::start(
        0,
        EbpSimConfig {
            rate_limit: false,
            min_interval: Duration::ZERO,
            ..EbpSimConfig::default()
        },
    )
    .await
    .unwrap();
    let acc = account("acme");
    let profile = world.install(&app, &acc).await.unwrap();
    ensure_export_plan(&app, &acc, 1000).await.unwrap();
    Setup {
        _db: db,
        app,
        world,
        acc,
        profile,
    }
}

/// Re-imports the profile with these media settings and the FTP secret.
async fn set_media(s: &Setup, media: MediaSettings) {
    let mut file = s.world.profile_file().unwrap();
    if let Some(e) = file.export.as_mut() {
        e.media = media;
    }
    file.storage = Some(StorageSection {
        secret: Some(FTP_SECRET.into()),
    });
    Profiles::new(s.app.db.clone())
        .import(&s.acc, file, s.app.secrets().unwrap().as_ref(), Actor::Cli)
        .await
        .unwrap();
}

fn ftp_media(ftp: &Ftp, tls: bool, per_reference: bool, delete_first: bool) -> MediaSettings {
    MediaSettings {
        images: true,
        documents: false,
        delete_first,
        erp_image: false,
        storage: Some(StorageSettings {
            kind: if tls {
                StorageKind::Ftps
            } else {
                StorageKind::Ftp
            },
            host: Some(format!(
                "{}:{}",
                if tls { "localhost" } else { "127.0.0.1" },
                ftp.port
            )),
            user: Some("anonymous".into()),
            images_folder: "/images".into(),
            per_reference_folder: per_reference,
            ca_file: tls.then(|| ftp.ca()),
            ..StorageSettings::default()
        }),
    }
}

async fn run(s: &Setup) -> (RunId, RunStatus, journal::Counts) {
    run_counted(&s.app, &s.acc, &s.profile, SyncAction::ExportArticles).await
}

async fn items(s: &Setup, run: RunId) -> HashMap<String, (&'static str, String)> {
    item_outcomes(&s.app, &s.acc, run).await
}

fn product_id(s: &Setup, reference: &str) -> u64 {
    s.world.shop.with_shop(|shop| {
        shop.rows("products")
            .into_iter()
            .find(|p| p.get("reference").and_then(Value::as_str) == Some(reference))
            .and_then(|p| {
                p.get("id")
                    .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            })
            .unwrap_or_else(|| panic!("no product {reference}"))
    })
}

/// (file name, bytes) of the product's images, in upload order.
fn images(s: &Setup, reference: &str) -> Vec<(String, Vec<u8>)> {
    s.world
        .shop
        .product_images(product_id(s, reference))
        .into_iter()
        .map(|i| (i.file_name, i.bytes))
        .collect()
}

fn image_ids(s: &Setup, reference: &str) -> Vec<u64> {
    s.world
        .shop
        .product_images(product_id(s, reference))
        .into_iter()
        .map(|i| i.id)
        .collect()
}

fn named(list: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(n, b)| (n.to_string(), b.to_vec()))
        .collect()
}

async fn ftp_per_reference(kind: Kind) {
    let ftp = Ftp::start(false);
    ftp.put("images/VASE-Gres/1-face.png", PNG_A);
    ftp.put("images/VASE-Gres/2-dos.jpg", JPG_B);
    ftp.put("images/TAPI-Gris-Pla/tapis.png", PNG_C);
    ftp.put("images/TAPI-Gris-Pla/notice.txt", b"pas une image");
    let s = setup(kind).await;
    set_media(&s, ftp_media(&ftp, false, true, false)).await;

    let (run1, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(
        (c.total, c.succeeded, c.failed, c.ignored),
        (11, 11, 0, 0),
        "{c:?}"
    );
    assert_eq!(
        images(&s, "VASE-Gres"),
        named(&[("1-face.png", PNG_A), ("2-dos.jpg", JPG_B)])
    );
    // The text file is reported with its reason; the image beside it is sent.
    assert_eq!(images(&s, "TAPI-Gris-Pla"), named(&[("tapis.png", PNG_C)]));
    assert!(images(&s, "COUS-Lin-40").is_empty());
    let it = items(&s, run1).await;
    let tapis = &it["TAPI-Gris-Pla"];
    assert_eq!(tapis.0, "succeeded");
    assert!(
        tapis
            .1
            .contains("fichier « notice.txt » ignoré : ce n'est pas une image"),
        "{tapis:?}"
    );
    assert!(
        it["VASE-Gres"].1.contains("images : 2 envoyée(s)"),
        "{:?}",
        it["VASE-Gres"]
    );

    // Again: nothing sent twice.
    let vase_ids = image_ids(&s, "VASE-Gres");
    let (run2, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0));
    assert_eq!(image_ids(&s, "VASE-Gres"), vase_ids);
    assert_eq!(images(&s, "TAPI-Gris-Pla").len(), 1);
    let it = items(&s, run2).await;
    assert!(
        it["VASE-Gres"]
            .1
            .contains("images : 0 envoyée(s), 2 inchangée(s)"),
        "{:?}",
        it["VASE-Gres"]
    );

    // A changed file replaces its image only.
    ftp.put(
        "images/VASE-Gres/2-dos.jpg",
        b"\xFF\xD8\xFF\xE0-vase-dos-v2",
    );
    let (_, status, _) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    let vase = images(&s, "VASE-Gres");
    assert_eq!(
        vase,
        named(&[
            ("1-face.png", PNG_A),
            ("2-dos.jpg", b"\xFF\xD8\xFF\xE0-vase-dos-v2")
        ])
    );
    assert_eq!(
        image_ids(&s, "VASE-Gres")[0],
        vase_ids[0],
        "the unchanged image stays"
    );

    // Delete first: images the shop already had are replaced by the storage's.
    let cous = product_id(&s, "COUS-Lin-40");
    s.world.shop.seed_image(cous, "ancienne.png", PNG_A);
    s.world.shop.seed_image(cous, "ancienne-2.png", PNG_C);
    ftp.put("images/COUS-Lin-40/coussin.png", PNG_D);
    set_media(&s, ftp_media(&ftp, false, true, true)).await;
    let (run4, status, _) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(images(&s, "COUS-Lin-40"), named(&[("coussin.png", PNG_D)]));
    let it = items(&s, run4).await;
    assert!(
        it["COUS-Lin-40"]
            .1
            .contains("1 envoyée(s), 0 inchangée(s), 2 supprimée(s)"),
        "{:?}",
        it["COUS-Lin-40"]
    );
    // … and an unchanged set is left alone on the next run.
    let cous_ids = image_ids(&s, "COUS-Lin-40");
    let vase_ids = image_ids(&s, "VASE-Gres");
    let (_, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(c.succeeded, 11);
    assert_eq!(image_ids(&s, "COUS-Lin-40"), cous_ids);
    assert_eq!(image_ids(&s, "VASE-Gres"), vase_ids);
    assert_eq!(images(&s, "VASE-Gres").len(), 2);
    // The projections rebuilt from the log (media memos included) match.
    let report = rebuild(&s.app.projector, true).await.unwrap();
    assert!(
        report.diffs.is_empty(),
        "replay differs: {:?}",
        report.diffs
    );
}
both!(ftp_images_per_reference_folder, ftp_per_reference);

async fn ftps_shared_folder(kind: Kind) {
    let ftp = Ftp::start(true);
    ftp.put("images/VASE-Gres.png", PNG_A);
    ftp.put("images/VASE-Gres-2.jpg", JPG_B);
    // Not VASE-Gres's: another reference that starts the same.
    ftp.put("images/VASE-Gresillon.png", PNG_C);
    ftp.put("images/TAPI-Gris-Pla_1.png", PNG_C);
    let s = setup(kind).await;
    set_media(&s, ftp_media(&ftp, true, false, false)).await;
    let (_, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    assert_eq!(
        images(&s, "VASE-Gres"),
        named(&[("VASE-Gres-2.jpg", JPG_B), ("VASE-Gres.png", PNG_A)])
    );
    assert_eq!(
        images(&s, "TAPI-Gris-Pla"),
        named(&[("TAPI-Gris-Pla_1.png", PNG_C)])
    );
    let (_, _, c) = run(&s).await;
    assert_eq!(c.succeeded, 11);
    assert_eq!(images(&s, "VASE-Gres").len(), 2);
}
both!(ftps_images_shared_folder, ftps_shared_folder);

/// A log sink for the whole test process.
#[derive(Clone)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn secret_never_logged(kind: Kind) {
    let logs = Logs(Arc::new(Mutex::new(Vec::new())));
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || sink.clone())
        .try_init()
        .unwrap();
    let ftp = Ftp::start(false);
    ftp.put("images/VASE-Gres/1.png", PNG_A);
    ftp.put("images/VASE-Gres/x.txt", b"not an image");
    let s = setup(kind).await;
    set_media(&s, ftp_media(&ftp, false, true, false)).await;
    let (run1, status, _) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!(images(&s, "VASE-Gres").len(), 1);
    // A wrong FTP host: the failure is reported without the secret either.
    let mut bad = ftp_media(&ftp, false, true, false);
    if let Some(st) = bad.storage.as_mut() {
        st.host = Some(format!("127.0.0.1:{}", free_port()));
    }
    set_media(&s, bad).await;
    let (_, status, _) = run(&s).await;
    assert_ne!(status, RunStatus::Succeeded);

    let mut everything = String::new();
    for sql in [
        "SELECT CAST(payload AS TEXT), CAST(metadata AS TEXT) FROM events",
        "SELECT CAST(state_json AS TEXT), aggregate_id FROM aggregate_state",
        "SELECT ciphertext, name FROM credentials",
    ] {
        for row in s.app.db.fetch(sql, &[]).await.unwrap() {
            for v in row {
                everything.push_str(v.as_str().unwrap_or(""));
                everything.push('\n');
            }
        }
    }
    for (_, (_, m)) in items(&s, run1).await {
        everything.push_str(&m);
    }
    let journal = journal::get(&s.app.db, s.acc.as_str(), &run1.to_string())
        .await
        .unwrap()
        .unwrap();
    everything.push_str(&journal.message);
    assert!(
        everything.contains("media:VASE-Gres"),
        "the memo is in the event log"
    );
    assert!(
        everything.contains("storage.secret"),
        "the secret is stored (encrypted)"
    );
    assert!(
        !everything.contains(FTP_SECRET),
        "secret found in the database"
    );
    let logged = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(logged.len() > 100, "logs were captured");
    assert!(!logged.contains(FTP_SECRET), "secret found in the logs");
}
both!(storage_secret_never_logged, secret_never_logged);

fn cloud_media(kind: StorageKind, url: &str) -> MediaSettings {
    MediaSettings {
        images: true,
        documents: false,
        delete_first: false,
        erp_image: false,
        storage: Some(StorageSettings {
            kind,
            host: Some(url.to_string()),
            user: Some("cle-api-123".into()),
            cloud_name: Some("demo-cloud".into()),
            images_folder: "images".into(),
            per_reference_folder: true,
            ..StorageSettings::default()
        }),
    }
}

/// The HTTP platforms through the whole export, each against its simulator (pages of 2
/// entries so that listings go through the cursors), then their clients' error answers.
async fn clouds(kind: Kind) {
    use passerelle_adapters::secrets::Secret;
    use passerelle_adapters::storage::{cloudinary, dropbox, pcloud};
    use passerelle_simulators::storage::{Platform, StorageSim};
    use passerelle_workflows::ports::FileStorage;
    let s = setup(kind).await;

    // Dropbox: 3 files in 2 pages, a sub-folder ignored.
    let dbx = StorageSim::start(Platform::Dropbox, FTP_SECRET, "", 2)
        .await
        .unwrap();
    dbx.put("images/VASE-Gres/a.png", PNG_A);
    dbx.put("images/VASE-Gres/b.jpg", JPG_B);
    dbx.put("images/VASE-Gres/c.png", PNG_C);
    dbx.put("images/VASE-Gres/old/x.png", PNG_D);
    set_media(&s, cloud_media(StorageKind::Dropbox, &dbx.url())).await;
    let (_, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    assert_eq!(
        images(&s, "VASE-Gres"),
        named(&[("a.png", PNG_A), ("b.jpg", JPG_B), ("c.png", PNG_C)])
    );
    assert!(dbx.calls("/2/files/list_folder/continue") >= 1, "paged");
    assert_eq!(dbx.calls("/2/files/download"), 3);
    // The other articles have no folder (409 path/not_found): no image, no failure.
    assert!(images(&s, "TAPI-Gris-Pla").is_empty());

    // pCloud.
    let pc = StorageSim::start(Platform::Pcloud, FTP_SECRET, "", 2)
        .await
        .unwrap();
    pc.put("images/TAPI-Gris-Pla/tapis.png", PNG_C);
    pc.put("images/TAPI-Gris-Pla/dos.jpg", JPG_B);
    set_media(&s, cloud_media(StorageKind::Pcloud, &pc.url())).await;
    let (_, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    assert_eq!(
        images(&s, "TAPI-Gris-Pla"),
        named(&[("dos.jpg", JPG_B), ("tapis.png", PNG_C)])
    );
    assert_eq!(pc.calls("/getfilelink"), 2);
    // Dropbox's images stay (only delete-first removes).
    assert_eq!(images(&s, "VASE-Gres").len(), 3);

    // Cloudinary: 3 images in 2 pages; a look-alike folder is not the article's.
    let cl = StorageSim::start(Platform::Cloudinary, FTP_SECRET, "cle-api-123", 2)
        .await
        .unwrap();
    cl.put("images/COUS-Lin-40/1.png", PNG_A);
    cl.put("images/COUS-Lin-40/2.png", PNG_C);
    cl.put("images/COUS-Lin-40/3.jpg", JPG_B);
    cl.put("images/COUS-Lin-40x/9.png", PNG_D);
    set_media(&s, cloud_media(StorageKind::Cloudinary, &cl.url())).await;
    let (_, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    assert_eq!(
        images(&s, "COUS-Lin-40"),
        named(&[("1.png", PNG_A), ("2.png", PNG_C), ("3.jpg", JPG_B)])
    );
    // Again: nothing sent twice.
    let (_, _, c) = run(&s).await;
    assert_eq!(c.succeeded, 11);
    assert_eq!(images(&s, "COUS-Lin-40").len(), 3);

    // The clients' error answers, French first, no secret in them.
    let bad = Secret::new("mauvais-jeton");
    let e = dropbox::DropboxStorage::new(&dbx.url(), &dbx.url(), bad.clone())
        .unwrap()
        .list("images/VASE-Gres")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("identifiants refusés") && e.contains("401"),
        "{e}"
    );
    let e = pcloud::PcloudStorage::new(&pc.url(), bad.clone())
        .unwrap()
        .list("images")
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("erreur 2000 Log in failed."), "{e}");
    assert!(!e.contains("mauvais-jeton"), "{e}");
    let e = cloudinary::CloudinaryStorage::new(&cl.url(), "demo-cloud", "cle-api-123", bad)
        .unwrap()
        .list("images")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("identifiants refusés") && e.contains("401"),
        "{e}"
    );
    let missing = pcloud::PcloudStorage::new(&pc.url(), Secret::new(FTP_SECRET))
        .unwrap()
        .list("images/NOPE")
        .await
        .unwrap();
    assert!(missing.is_empty(), "2005: no such folder, no file");
}
both!(dropbox_pcloud_cloudinary_images, clouds);

/// Documents from the FTP server attached to their products, once; and the shop's own
/// refusal of a file that is not an image (HTTP 400, code 73), reported with its reason.
async fn documents(kind: Kind) {
    use passerelle_adapters::cms::prestashop::PrestaShopClient;
    use passerelle_workflows::ports::ShopMedia;
    let ftp = Ftp::start(false);
    ftp.put("docs/VASE-Gres/notice.pdf", b"%PDF-1.4 notice du vase");
    ftp.put(
        "docs/VASE-Gres/fiche-technique.pdf",
        b"%PDF-1.4 fiche du vase",
    );
    ftp.put("docs/TAPI-Gris-Pla/entretien.pdf", b"%PDF-1.4 entretien");
    let s = setup(kind).await;
    let mut media = ftp_media(&ftp, false, true, false);
    media.images = false;
    media.documents = true;
    if let Some(st) = media.storage.as_mut() {
        st.documents_folder = Some("docs".into());
    }
    set_media(&s, media).await;
    let (run1, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    let mut vase = s.world.shop.product_documents(product_id(&s, "VASE-Gres"));
    vase.sort();
    assert_eq!(
        vase,
        named(&[
            ("fiche-technique.pdf", b"%PDF-1.4 fiche du vase"),
            ("notice.pdf", b"%PDF-1.4 notice du vase"),
        ])
    );
    assert_eq!(
        s.world
            .shop
            .product_documents(product_id(&s, "TAPI-Gris-Pla")),
        named(&[("entretien.pdf", b"%PDF-1.4 entretien")])
    );
    assert!(s
        .world
        .shop
        .product_documents(product_id(&s, "COUS-Lin-40"))
        .is_empty());
    assert!(images(&s, "VASE-Gres").is_empty(), "images are off");
    let it = items(&s, run1).await;
    assert!(
        it["VASE-Gres"]
            .1
            .contains("documents : 2 joint(s), 0 déjà joint(s)"),
        "{:?}",
        it["VASE-Gres"]
    );
    // Again: nothing attached twice.
    let (run2, _, _) = run(&s).await;
    assert_eq!(
        s.world
            .shop
            .product_documents(product_id(&s, "VASE-Gres"))
            .len(),
        2
    );
    let all = s
        .world
        .shop
        .with_shop(|shop| shop.rows("attachments").len());
    assert_eq!(all, 3);
    let it = items(&s, run2).await;
    assert!(
        it["VASE-Gres"]
            .1
            .contains("documents : 0 joint(s), 2 déjà joint(s)"),
        "{:?}",
        it["VASE-Gres"]
    );

    // The shop refuses what is not an image (the export checks first; the client maps the
    // shop's answer too).
    let client = PrestaShopClient::new(&s.world.shop.url(), &s.world.shop.key()).unwrap();
    let pid = product_id(&s, "VASE-Gres").to_string();
    let e = client
        .add_image(&pid, "notice.pdf", b"%PDF-1.4")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("400") && e.contains("This type of image format is not recognized"),
        "{e}"
    );
    let id = client.add_image(&pid, "vase.png", PNG_A).await.unwrap();
    assert_eq!(
        client
            .images(&pid)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        vec![id.clone()]
    );
    client.delete_image(&pid, &id).await.unwrap();
    // No image left: PrestaShop's bare 404 is an empty list; deleting again (code 57) is
    // not an error.
    assert!(client.images(&pid).await.unwrap().is_empty());
    client.delete_image(&pid, &id).await.unwrap();
}
both!(documents_attached_once, documents);

/// The ERP article image (`Item.Image`, base64): sent once, replaced when it changes; an
/// unreadable value or a non-image is reported for that article, the run goes on.
async fn erp_images(kind: Kind) {
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let s = setup(kind).await;
    s.world
        .ebp
        .update_article("VASE-Gres", &[(ITEM_IMAGE_COLUMN, json!(b64(PNG_A)))]);
    s.world.ebp.update_article(
        "TAPI-Gris-Pla",
        &[(ITEM_IMAGE_COLUMN, json!("@@ pas du base64 @@"))],
    );
    s.world.ebp.update_article(
        "COUS-Lin-40",
        &[(ITEM_IMAGE_COLUMN, json!(b64(b"%PDF-1.4")))],
    );
    set_media(
        &s,
        MediaSettings {
            erp_image: true,
            ..MediaSettings::default()
        },
    )
    .await;
    let (run1, status, c) = run(&s).await;
    assert_eq!(status, RunStatus::Succeeded);
    assert_eq!((c.succeeded, c.failed), (11, 0), "{c:?}");
    assert_eq!(
        images(&s, "VASE-Gres"),
        named(&[("VASE-Gres-erp.png", PNG_A)])
    );
    assert!(images(&s, "TAPI-Gris-Pla").is_empty());
    assert!(images(&s, "COUS-Lin-40").is_empty());
    let it = items(&s, run1).await;
    assert!(
        it["TAPI-Gris-Pla"]
            .1
            .contains("image ERP » ignoré : image de l'ERP illisible"),
        "{:?}",
        it["TAPI-Gris-Pla"]
    );
    assert!(
        it["COUS-Lin-40"].1.contains("ce n'est pas une image"),
        "{:?}",
        it["COUS-Lin-40"]
    );
    // Again: nothing sent twice; then a new ERP image replaces the old one.
    let ids = image_ids(&s, "VASE-Gres");
    run(&s).await;
    assert_eq!(image_ids(&s, "VASE-Gres"), ids);
    s.world
        .ebp
        .update_article("VASE-Gres", &[(ITEM_IMAGE_COLUMN, json!(b64(JPG_B)))]);
    run(&s).await;
    assert_eq!(
        images(&s, "VASE-Gres"),
        named(&[("VASE-Gres-erp.jpg", JPG_B)])
    );
}
both!(erp_article_image, erp_images);

/// The sample profile's commented media block, uncommented, is a valid profile file.
#[test]
fn the_sample_media_block_parses() {
    let sample = passerelle::demo::PROFILE_TEMPLATE;
    let (head, tail) = sample
        .split_once("# Images and documents (off unless set)")
        .unwrap();
    let tail: Vec<String> = tail
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(t) if t.starts_with('[') || t.contains(" = ") => t.to_string(),
            _ => l.to_string(),
        })
        .collect();
    let text = format!("{head}#{}", tail.join("\n"))
        .replace("{{", "")
        .replace("}}", "");
    let file: passerelle::profiles::ProfileFile = match toml::from_str(&text) {
        Ok(f) => f,
        Err(e) => panic!("{e}\n{text}"),
    };
    let media = file.export.unwrap().media;
    assert!(media.images && media.erp_image && media.documents && !media.delete_first);
    let st = media.storage.unwrap();
    assert_eq!(st.kind, StorageKind::Ftps);
    assert_eq!(st.host.as_deref(), Some("ftp.example.com:21"));
    assert_eq!(st.documents_folder.as_deref(), Some("/documents"));
    assert!(st.per_reference_folder);
    assert_eq!(file.storage.unwrap().secret.as_deref(), Some("…"));
}
