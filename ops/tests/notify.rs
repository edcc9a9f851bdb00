//! End-of-run e-mails, sent by a journaled step of the run to a real local SMTP server.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use base64::Engine;
use common::*;
use passerelle::notify::save_settings;
use passerelle_adapters::mail::{NotificationSettings, TlsMode};
use passerelle_domain::{ProfileId, RunEvent, RunStatus};
use std::sync::atomic::Ordering;
use std::sync::Arc;

fn settings(port: u16) -> NotificationSettings {
    NotificationSettings {
        smtp_host: "127.0.0.1".into(),
        smtp_port: port,
        tls: TlsMode::None,
        from: "passerelle@example.com".into(),
        recipients: "ops@example.com; marchand@example.com".into(),
        on_failure: true,
        on_success: false,
        attach_log: true,
        ..NotificationSettings::default()
    }
}

async fn failing_run_mails_once_success_sends_nothing(kind: Kind) {
    let sink = Sink::start();
    let tdb = fresh(kind).await;
    let app = tdb.app().await;
    let acc = account("acme");
    save_settings(
        &app.db,
        &acc,
        &ProfileId::parse("p1").unwrap(),
        settings(sink.port),
        "test",
    )
    .await
    .unwrap();
    let (_clock, c) = manual_clock();

    // A run that fails (the backend refuses the API key): one e-mail with the log.
    let failing = Arc::new(MemBackend::with_items(2, None));
    failing.list_permanent.store(true, Ordering::SeqCst);
    let run = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    let w = worker(&app, "w1", registry(failing), c.clone(), 1).with_notifier(app.notifier());
    assert_eq!(w.drain().await.unwrap(), vec![(run, RunStatus::Failed)]);
    let mails = sink.messages();
    assert_eq!(mails.len(), 1, "one e-mail for the failed run");
    let m = &mails[0];
    assert!(
        m.contains("ops@example.com") && m.contains("marchand@example.com"),
        "{m}"
    );
    assert!(m.contains("journal-p1.txt"), "{m}");
    let subject = m.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(
        subject.contains("=?utf-8?") || subject.contains("en échec"),
        "{subject}"
    );
    // The attached log is the run's log.
    let b64: String = m
        .split("journal-p1.txt")
        .last()
        .unwrap()
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("\r\n--")
        .next()
        .unwrap()
        .lines()
        .map(str::trim)
        .collect();
    let log = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .unwrap(),
    )
    .unwrap();
    assert!(log.contains("clé d'API refusée"), "{log}");
    // The e-mail is a journaled step: never sent again for this run.
    let events = app.run_store().load_run(&acc, run).await.unwrap();
    let notify = events
        .iter()
        .filter(|e| matches!(&e.event, RunEvent::StepCompleted { key, .. } if key.name == "notify"))
        .count();
    assert_eq!(notify, 1);
    assert!(w.drain().await.unwrap().is_empty());
    assert_eq!(sink.messages().len(), 1);

    // A successful run with "on success" unticked sends nothing.
    let ok = Arc::new(MemBackend::with_items(2, None));
    let run2 = enqueue(app.run_store().as_ref(), &acc, "p1", c.now()).await;
    let w2 = worker(&app, "w2", registry(ok), c.clone(), 1).with_notifier(app.notifier());
    assert_eq!(
        w2.drain().await.unwrap(),
        vec![(run2, RunStatus::Succeeded)]
    );
    assert_eq!(sink.messages().len(), 1, "no e-mail on success");
}
both!(notify_failure, failing_run_mails_once_success_sends_nothing);

#[test]
fn invalid_recipient_is_refused_at_configuration_time() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/n.db", dir.path().display());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args([
            "notifications",
            "set",
            "p1",
            "--smtp-host",
            "127.0.0.1",
            "--from",
            "p@example.com",
            "--recipients",
            "ok@example.com;bob@",
            "--on-failure",
        ])
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bob@"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
}
