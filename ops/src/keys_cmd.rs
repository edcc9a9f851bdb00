//! `passerelle keys generate | rotate`: the credentials' master key.
//!
//! Rotation re-encrypts every stored credential and EBP token pair under a new key in one
//! transaction ([`passerelle_adapters::store::rekey`]), then makes the new key the one in
//! force:
//! * key file (`secrets.key_file`, no `secrets.master_key`): the new key is written next to
//!   it (`.new`, mode 0600, synced) **before** the commit and renamed over it **after**: a
//!   crash in between leaves both files, and the `.new` one is the key of the store;
//! * master key given by the environment or the file: the new key must come from
//!   `--new-key-file` (made with `keys generate`); put its content in the secret manager
//!   before restarting the services.
//!
//! Stop `serve`, `worker` and `scheduler` first: a running process keeps the old key in
//! memory (docs/OPERATIONS.md, "Rotating the master key").

use crate::app::App;
use crate::commands::{t, usage};
use anyhow::Context;
use passerelle_adapters::secrets::SecretBox;
use passerelle_adapters::store::rekey;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `keys generate`: prints a new random key (base64 of 32 bytes).
pub fn generate() -> ExitCode {
    println!("{}", SecretBox::generate_key_text());
    ExitCode::SUCCESS
}

/// `keys rotate [--new-key-file FILE]`.
pub async fn rotate(app: &App, new_key_file: Option<&Path>) -> anyhow::Result<ExitCode> {
    let old = app.secrets()?;
    let from_file = app.settings.master_key.is_none();
    let (new_text, new_source) = match new_key_file {
        Some(p) => (
            std::fs::read_to_string(p)
                .map_err(|e| usage(format!("--new-key-file {} illisible : {e}", p.display())))?,
            p.display().to_string(),
        ),
        None if from_file => (SecretBox::generate_key_text(), "nouvelle clé".to_string()),
        None => {
            return Err(usage(
                "la clé maîtresse vient de secrets.master_key (PASSERELLE_MASTER_KEY) : \
                 donnez la nouvelle avec --new-key-file (passerelle keys generate > FICHIER)",
            ))
        }
    };
    let new = SecretBox::from_text(&new_text, &new_source).map_err(|e| usage(e.to_string()))?;
    // The key file path is only replaced when it is the key in force.
    let staged = if from_file {
        let key_file = app.key_file();
        let staged = staged_path(&key_file);
        write_private(&staged, &format!("{}\n", new_text.trim()))
            .with_context(|| format!("écriture de {}", staged.display()))?;
        Some((key_file, staged))
    } else {
        None
    };
    let report = match rekey::reencrypt_all(&app.db, &old, &new).await {
        Ok(r) => r,
        Err(e) => {
            if let Some((_, staged)) = &staged {
                let _ = std::fs::remove_file(staged);
            }
            return Err(e.into());
        }
    };
    if let Some((key_file, staged)) = &staged {
        std::fs::rename(staged, key_file).with_context(|| {
            format!(
                "la base est chiffrée avec la clé de {} : renommez-le en {}",
                staged.display(),
                key_file.display()
            )
        })?;
    }
    // Check what was committed opens under the new key.
    let stored = rekey::stored_ciphertexts(&app.db).await?;
    if let Some(bad) = stored.iter().position(|c| new.decrypt(c).is_err()) {
        anyhow::bail!("vérification : le secret n°{bad} ne s'ouvre pas avec la nouvelle clé");
    }
    println!(
        "{} {} {}, {} {}.",
        t("Clé maîtresse changée :", "Master key rotated:"),
        report.credentials,
        t("identifiant(s) de profil", "profile credential(s)"),
        report.token_pairs,
        t(
            "paire(s) de jetons EBP re-chiffrée(s)",
            "EBP token pair(s) re-encrypted"
        )
    );
    match &staged {
        Some((key_file, _)) => println!(
            "{} {}",
            t("Nouvelle clé dans", "New key in"),
            key_file.display()
        ),
        None => println!(
            "{}",
            t(
                "Mettez le contenu de --new-key-file dans PASSERELLE_MASTER_KEY avant de redémarrer les services.",
                "Put the content of --new-key-file into PASSERELLE_MASTER_KEY before restarting the services."
            )
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn staged_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}
