//! E-mail notifications end to end: `SmtpMailer` talks to a real SMTP server
//! (`scripts/smtp-sink.py`, aiosmtpd) which stores each message as a `.eml` file; the
//! tests read those files back and check what a mail client would show.
//!
//! Needs `python3` with `aiosmtpd`: run `scripts/setup-test-deps.sh`. Without it the
//! tests fail (they never pass silently).

#![allow(clippy::unwrap_used, missing_docs)]

use base64::Engine as _;
use passerelle_adapters::mail::{
    build_notification, MailError, NotificationSettings, RunSummary, Secret, SmtpMailer, TlsMode,
};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

// ---------------------------------------------------------------------------
// The sink
// ---------------------------------------------------------------------------

/// A running `scripts/smtp-sink.py`, killed on drop, with its own output folder.
struct Sink {
    port: u16,
    dir: tempfile::TempDir,
    _child: Child,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/smtp-sink.py")
}

/// Fails (never skips) when the sink cannot run here.
fn require_aiosmtpd() {
    let out = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the Python module aiosmtpd is not importable; run scripts/setup-test-deps.sh\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            panic!("python3 not found ({e}); install Python 3, then run scripts/setup-test-deps.sh")
        }
    }
}

impl Sink {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[&str]) -> Self {
        require_aiosmtpd();
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(script())
            .args(["--port", "0", "--out"])
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn python3 scripts/smtp-sink.py");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("smtp-sink did not print `ready` within 20 s")
            .unwrap()
            .unwrap_or_else(|| {
                panic!("smtp-sink exited before `ready`; run scripts/setup-test-deps.sh")
            });
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line from smtp-sink: {line:?}"));
        Self {
            port,
            dir,
            _child: child,
        }
    }

    /// The stored messages, oldest first.
    fn messages(&self) -> Vec<Part> {
        let mut files: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| Part::parse(&std::fs::read(f).unwrap()))
            .collect()
    }

    fn only_message(&self) -> Part {
        let mut all = self.messages();
        assert_eq!(all.len(), 1, "exactly one message stored");
        all.remove(0)
    }
}

// ---------------------------------------------------------------------------
// A small MIME reader: just what is needed to read lettre's output the way a mail
// client would (folded headers, RFC 2047 `b` words, multipart, base64 and
// quoted-printable bodies).
// ---------------------------------------------------------------------------

struct Part {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Part {
    fn parse(raw: &[u8]) -> Self {
        let split = find(raw, b"\r\n\r\n").expect("headers end with an empty line");
        let head = std::str::from_utf8(&raw[..split]).expect("headers are ASCII");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                let last = headers.last_mut().expect("continuation after a header");
                last.1.push(' ');
                last.1.push_str(line.trim());
            } else {
                let (name, value) = line.split_once(':').expect("name: value");
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        Self {
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn raw_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The header as a mail client shows it (encoded words decoded).
    fn header(&self, name: &str) -> String {
        decode_words(
            self.raw_header(name)
                .unwrap_or_else(|| panic!("no {name} header")),
        )
    }

    fn param(&self, header: &str, param: &str) -> Option<String> {
        let value = self.raw_header(header)?;
        value.split(';').skip(1).find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.eq_ignore_ascii_case(param)
                .then(|| v.trim_matches('"').to_string())
        })
    }

    fn is_multipart(&self) -> bool {
        self.raw_header("Content-Type")
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/"))
    }

    fn parts(&self) -> Vec<Part> {
        let boundary = self.param("Content-Type", "boundary").expect("boundary");
        let delimiter = format!("--{boundary}");
        let body = String::from_utf8_lossy(&self.body).into_owned();
        body.split(delimiter.as_str())
            .skip(1) // preamble
            .take_while(|chunk| !chunk.starts_with("--")) // epilogue
            .map(|chunk| {
                let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
                let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
                Part::parse(chunk.as_bytes())
            })
            .collect()
    }

    /// The body after undoing the Content-Transfer-Encoding.
    fn decoded(&self) -> Vec<u8> {
        let encoding = self
            .raw_header("Content-Transfer-Encoding")
            .unwrap_or("7bit")
            .to_ascii_lowercase();
        match encoding.as_str() {
            "base64" => {
                let compact: Vec<u8> = self
                    .body
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace())
                    .collect();
                base64::engine::general_purpose::STANDARD
                    .decode(compact)
                    .unwrap()
            }
            "quoted-printable" => decode_qp(&self.body),
            "7bit" | "8bit" | "binary" => self.body.clone(),
            other => panic!("unexpected transfer encoding {other}"),
        }
    }

    /// Decoded text with `\n` line endings.
    fn text(&self) -> String {
        String::from_utf8(self.decoded())
            .unwrap()
            .replace("\r\n", "\n")
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// RFC 2047: adjacent encoded words join without the space between them.
fn decode_words(value: &str) -> String {
    let mut out: Vec<u8> = Vec::new();
    let mut previous_encoded = false;
    for (i, token) in value.split(' ').enumerate() {
        let lower = token.to_ascii_lowercase();
        if lower.starts_with("=?utf-8?b?") && lower.ends_with("?=") {
            if i > 0 && !previous_encoded {
                out.push(b' ');
            }
            let inner = &token["=?utf-8?b?".len()..token.len() - 2];
            out.extend(
                base64::engine::general_purpose::STANDARD
                    .decode(inner)
                    .unwrap(),
            );
            previous_encoded = true;
        } else {
            assert!(!token.contains("=?"), "unsupported encoded word {token}");
            if i > 0 {
                out.push(b' ');
            }
            out.extend(token.as_bytes());
            previous_encoded = false;
        }
    }
    String::from_utf8(out).unwrap()
}

fn decode_qp(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < body.len() {
        if body[i] == b'=' {
            if body[i + 1..].starts_with(b"\r\n") {
                i += 3;
            } else {
                let hex = std::str::from_utf8(&body[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            }
        } else {
            out.push(body[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Test data
// ---------------------------------------------------------------------------

fn long_line() -> String {
    format!("3/6 - {}", "TAPI-Gris-Pla ".repeat(80))
}

fn summary() -> RunSummary {
    RunSummary {
        profile: "boutique-paris".into(),
        action_label: "Import des commandes".into(),
        status_label: "en échec".into(),
        started_at: "2024-09-09 17:06:40".into(),
        finished_at: "2024-09-09 17:06:45".into(),
        total: 6,
        succeeded: 5,
        failed: 1,
        ignored: 0,
        log_lines: vec![
            "2024-09-09 17:06:45 -> Sale document 78 is valid".into(),
            "1/4 - Customer id: 651, account = CL00004".into(),
            "2/4 - Élément refusé : référence « TAPI-Gris » inconnue dans l'ERP".into(),
            long_line(),
        ],
    }
}

fn settings(port: u16, recipients: &str) -> NotificationSettings {
    NotificationSettings {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        tls: TlsMode::None,
        from: "Passerelle <noreply@passerelle.test>".into(),
        recipients: recipients.into(),
        on_failure: true,
        ..NotificationSettings::default()
    }
}

fn mailer() -> SmtpMailer {
    SmtpMailer::with_timeout(Duration::from_secs(10))
}

async fn send(settings: &NotificationSettings) -> Result<(), MailError> {
    let recipients = settings.validate().unwrap();
    let notification = build_notification(settings, &summary());
    mailer().send(settings, &recipients, &notification).await
}

/// A port nothing listens on: bound to get a free number, then released.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------
// Delivery
// ---------------------------------------------------------------------------

#[tokio::test]
async fn delivers_default_subject_every_recipient_counts_and_the_log() {
    let sink = Sink::start().await;
    let s = NotificationSettings {
        attach_log: true,
        ..settings(
            sink.port,
            " alice@example.fr ;; Bob Martin <bob@example.fr>;carol@example.fr ; ",
        )
    };
    send(&s).await.unwrap();

    let eml = sink.only_message();
    assert_eq!(
        eml.header("Subject"),
        "Passerelle – Import des commandes – boutique-paris : en échec"
    );
    assert!(eml.header("From").contains("noreply@passerelle.test"));
    let to = eml.header("To");
    let envelope = eml.header("X-Sink-Rcpt-To");
    for address in ["alice@example.fr", "bob@example.fr", "carol@example.fr"] {
        assert!(to.contains(address), "{address} missing from To: {to}");
        assert!(
            envelope.contains(address),
            "{address} missing from the envelope: {envelope}"
        );
    }
    assert!(to.contains("Bob Martin"), "display name kept: {to}");

    assert!(eml.is_multipart(), "text + attachment");
    let parts = eml.parts();
    assert_eq!(parts.len(), 2);

    let body = parts[0].text();
    assert!(
        body.contains("Éléments : 6 au total, 5 réussi(s), 1 en échec, 0 ignoré(s)"),
        "{body}"
    );
    assert!(body.contains("Profil : boutique-paris"), "{body}");
    assert!(body.contains("Statut : en échec"), "{body}");

    let log = &parts[1];
    assert!(log
        .raw_header("Content-Disposition")
        .unwrap()
        .starts_with("attachment"));
    assert_eq!(
        log.param("Content-Disposition", "filename").as_deref(),
        Some("journal-boutique-paris.txt")
    );
    assert!(log
        .raw_header("Content-Type")
        .unwrap()
        .to_ascii_lowercase()
        .starts_with("text/plain; charset=utf-8"));
    let expected = summary().log_lines.join("\n") + "\n";
    assert_eq!(String::from_utf8(log.decoded()).unwrap(), expected);
}

#[tokio::test]
async fn custom_subject_and_no_attachment_without_attach_log() {
    let sink = Sink::start().await;
    let s = NotificationSettings {
        subject: "Rapport Passerelle – boutique été".into(),
        ..settings(sink.port, "alice@example.fr")
    };
    send(&s).await.unwrap();

    let eml = sink.only_message();
    assert_eq!(eml.header("Subject"), "Rapport Passerelle – boutique été");
    assert!(eml.header("To").contains("alice@example.fr"));
    assert!(!eml.is_multipart(), "a single text part");
    let body = eml.text();
    assert!(
        body.contains("Éléments : 6 au total, 5 réussi(s), 1 en échec, 0 ignoré(s)"),
        "{body}"
    );
    assert!(!body.contains("journal"), "{body}");
}

#[tokio::test]
async fn authenticates_with_the_configured_credentials() {
    let sink = Sink::start_with(&["--auth", "notifier:S3cr3t-pw"]).await;
    let s = NotificationSettings {
        smtp_user: Some("notifier".into()),
        smtp_password: Some(Secret::new("S3cr3t-pw")),
        ..settings(sink.port, "alice@example.fr")
    };
    send(&s).await.unwrap();
    assert_eq!(sink.messages().len(), 1);
}

// ---------------------------------------------------------------------------
// Failures, classified once
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unreachable_server_is_transient() {
    let err = send(&settings(closed_port(), "alice@example.fr"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("envoi momentanément impossible"),
        "{err}"
    );
}

#[tokio::test]
async fn silent_server_times_out_as_transient() {
    // Accepts the connection but never sends the SMTP greeting.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    });

    let s = settings(port, "alice@example.fr");
    let recipients = s.validate().unwrap();
    let started = Instant::now();
    let err = SmtpMailer::with_timeout(Duration::from_millis(500))
        .send(&s, &recipients, &build_notification(&s, &summary()))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "timeout honoured"
    );
    hold.abort();
}

#[tokio::test]
async fn a_4xx_reply_is_transient() {
    let sink = Sink::start().await;
    let err = send(&settings(
        sink.port,
        "alice@example.fr; tempfail@example.fr",
    ))
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    assert!(err.to_string().contains("451"), "{err}");
    assert!(sink.messages().is_empty(), "nothing delivered");
}

#[tokio::test]
async fn a_5xx_reply_is_permanent() {
    let sink = Sink::start().await;
    let err = send(&settings(sink.port, "reject@example.fr"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("550"), "{err}");
    assert!(sink.messages().is_empty(), "nothing delivered");
}

#[tokio::test]
async fn wrong_password_is_permanent_and_never_shown() {
    let sink = Sink::start_with(&["--auth", "notifier:S3cr3t-pw"]).await;
    let s = NotificationSettings {
        smtp_user: Some("notifier".into()),
        smtp_password: Some(Secret::new("wr0ng-Pa55")),
        ..settings(sink.port, "alice@example.fr")
    };
    let err = send(&s).await.unwrap_err();
    assert!(matches!(err, MailError::Permanent { .. }), "{err:?}");
    assert!(err.to_string().contains("535"), "{err}");
    let shown = format!("{err} {err:?} {s:?}");
    assert!(!shown.contains("wr0ng-Pa55"), "password leaked: {shown}");
    assert!(sink.messages().is_empty(), "nothing delivered");
}

#[tokio::test]
async fn tls_refused_by_a_plain_server_is_permanent() {
    let sink = Sink::start().await;
    for tls in [TlsMode::StartTls, TlsMode::Tls] {
        let s = NotificationSettings {
            tls,
            smtp_user: Some("notifier".into()),
            smtp_password: Some(Secret::new("S3cr3t-pw")),
            ..settings(sink.port, "alice@example.fr")
        };
        let err = send(&s).await.unwrap_err();
        assert!(
            matches!(err, MailError::Permanent { .. }),
            "{tls:?}: {err:?}"
        );
        assert!(!format!("{err} {err:?}").contains("S3cr3t-pw"));
    }
    assert!(sink.messages().is_empty(), "nothing delivered in clear");
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

#[test]
fn validation_names_the_bad_address() {
    let err = settings(25, "alice@example.fr; bob@ ; carol@example.fr")
        .validate()
        .unwrap_err();
    assert_eq!(
        err,
        MailError::InvalidAddress {
            address: "bob@".into()
        }
    );
    assert_eq!(
        err.to_string(),
        "adresse e-mail invalide : « bob@ » (invalid e-mail address)"
    );
    assert!(!err.is_transient());
}
