//! Typed, layered settings (STYLE §17): defaults → TOML file → `PASSERELLE_`-prefixed
//! environment variables → command-line flags, later layers winning. One [`Settings`] value
//! is built at start-up ([`load`]) and passed down; nothing reads a production setting from
//! the environment where it is used.
//!
//! * Every key is declared once, in [`keys`] (the `define_settings!` table).
//! * A bad value is refused with the key, the layer it came from and what is allowed
//!   ([`SettingsError`]); the binary exits 2 with that one line.
//! * Secrets are [`Secret`]s (`Debug`/`Display` print `***`); `config show` and errors never
//!   print them, and a database URL's password is masked.
//! * Test knobs ([`TestKnobs`]: fault injection, short retries, the demo-engine backend) are
//!   a separate layer read from their own environment variables only: the file cannot set
//!   them and production units never do.

use passerelle_adapters::secrets::Secret;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Declares the settings table: the [`Settings`] struct, [`KEYS`] and the per-key parsing.
/// Each entry: `/// doc` lines, `field: Type { key, env, flag, default, kind }`.
macro_rules! define_settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident : $ty:ty {
            key: $key:literal, env: $env:literal, flag: $flag:expr,
            default: $default:literal, kind: $kind:expr $(,)?
        }
    )*) => {
        /// The effective settings of this process (see the module docs of
        /// [`crate::settings`]); built once by [`crate::settings::load`].
        #[derive(Clone, Default)]
        pub struct Settings {
            $( $(#[doc = $doc])+ pub $field: $ty, )*
            /// Test-only knobs (never from the file, never set in production units).
            pub test: $crate::settings::TestKnobs,
            /// The config file read, if any.
            pub file: Option<std::path::PathBuf>,
            pub(crate) origins: std::collections::BTreeMap<&'static str, $crate::settings::Layer>,
        }

        /// Every production key, in declaration order.
        pub const KEYS: &[$crate::settings::KeySpec] = &[
            $( $crate::settings::KeySpec {
                key: $key, env: $env, flag: $flag, default: $default, kind: $kind,
                doc: concat!($($doc, "\n"),+),
            }, )*
        ];

        impl Settings {
            /// Sets `key` from `text`, validated, recording `layer` as its origin.
            /// `Ok(false)` when the key is unknown.
            pub(crate) fn set(
                &mut self,
                key: &str,
                text: &str,
                layer: $crate::settings::Layer,
            ) -> Result<bool, $crate::settings::SettingsError> {
                use $crate::settings::SettingValue as _;
                match key {
                    $( $key => {
                        let kind: $crate::settings::Kind = $kind;
                        self.$field = <$ty>::parse_setting(text, &kind).ok_or_else(|| {
                            $crate::settings::SettingsError::Invalid {
                                key: $key,
                                value: kind.echo(text),
                                layer: layer.clone(),
                                allowed: kind.allowed(),
                            }
                        })?;
                        self.origins.insert($key, layer);
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }

            /// The value of `key` as shown to an operator (secrets masked).
            pub fn shown(&self, key: &str) -> Option<String> {
                use $crate::settings::SettingValue as _;
                match key {
                    $( $key => Some(self.$field.show_setting(&$kind)), )*
                    _ => None,
                }
            }
        }
    };
}

pub mod keys;
pub use keys::{Settings, KEYS};

/// What values a key accepts; drives validation, the messages and `config show`.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Any non-empty text.
    Text,
    /// An integer in `min..=max`.
    Int {
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// One of these words (case-insensitive, stored lower-case).
    OneOf(&'static [&'static str]),
    /// `true` / `false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
    Bool,
    /// A secret: never echoed, shown as `***`; empty means unset.
    Secret,
    /// A database URL (`sqlite:…`, `postgres://…`); its password is masked when shown.
    DbUrl,
    /// A tracing filter directive.
    LogFilter,
    /// `host:port` to listen on (`off` allowed when `off` is true).
    Listen {
        /// Whether `off` (no listener) is allowed.
        off: bool,
    },
}

impl Kind {
    /// The allowed values, in French then English.
    pub fn allowed(&self) -> String {
        match self {
            Kind::Text => "un texte non vide (a non-empty text)".into(),
            Kind::Int { min, max } => {
                format!("un entier de {min} à {max} (an integer from {min} to {max})")
            }
            Kind::OneOf(words) => format!("{} (one of them)", words.join(" | ")),
            Kind::Bool => "true | false".into(),
            Kind::Secret => "une valeur secrète (a secret value)".into(),
            Kind::DbUrl => "sqlite://FICHIER | postgres://… (a database URL)".into(),
            Kind::LogFilter => {
                "un filtre tracing, ex. warn ou passerelle=debug,sqlx=warn (a tracing filter)"
                    .into()
            }
            Kind::Listen { off: true } => "hôte:port | off (host:port or off)".into(),
            Kind::Listen { off: false } => "hôte:port (host:port)".into(),
        }
    }

    /// `text` as it may appear in an error: secrets never.
    pub fn echo(&self, text: &str) -> String {
        match self {
            Kind::Secret => "***".into(),
            Kind::DbUrl => passerelle_adapters::store::redact(text),
            _ => text.chars().take(80).collect(),
        }
    }

    /// The TOML literal of a default, for the sample file.
    fn toml_literal(&self, text: &str) -> String {
        match self {
            Kind::Int { .. } | Kind::Bool => text.to_string(),
            _ => format!("{text:?}"),
        }
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layer {
    /// The built-in default.
    Default,
    /// The TOML file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag (as typed: `--lang`, `--set engine.lease_ms`).
    Flag(String),
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Layer::Default => f.write_str("défaut (default)"),
            Layer::File(p) => write!(f, "fichier (file) {}", p.display()),
            Layer::Env(v) => write!(f, "variable d'environnement (environment variable) {v}"),
            Layer::Flag(x) => write!(f, "option (flag) {x}"),
        }
    }
}

/// The declaration of one key (see [`keys`]).
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// Dotted TOML key: `section.name`.
    pub key: &'static str,
    /// Environment variable of the env layer.
    pub env: &'static str,
    /// Dedicated command-line flag, if any (every key is also settable with
    /// `--set KEY=VALUE`).
    pub flag: Option<&'static str>,
    /// Default, as text (empty: unset).
    pub default: &'static str,
    /// Allowed values.
    pub kind: Kind,
    /// Documentation (the `///` lines of the declaration).
    pub doc: &'static str,
}

/// Why the settings could not be built. Every variant is a configuration error (exit 2)
/// whose message names the key and the layer; no variant carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A value outside what the key allows. Fix the named layer.
    #[error("réglage {key} invalide : « {value} » ({layer}) ; attendu : {allowed}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// The value (masked when secret).
        value: String,
        /// Where it came from.
        layer: Layer,
        /// What is allowed.
        allowed: String,
    },
    /// A key no setting has (a typo in the file or in `--set`).
    #[error(
        "réglage inconnu « {key} » ({layer}) ; voir `passerelle config sample` (unknown setting)"
    )]
    Unknown {
        /// The key as written.
        key: String,
        /// Where it was written.
        layer: Layer,
    },
    /// The config file is missing, unreadable or not TOML.
    #[error("fichier de réglages {path} illisible : {reason} (unreadable settings file)")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Conversion of one setting between its text and its typed field.
pub trait SettingValue: Sized {
    /// The typed value of `text` if `kind` allows it.
    fn parse_setting(text: &str, kind: &Kind) -> Option<Self>;
    /// The value as shown by `config show` (secrets masked).
    fn show_setting(&self, kind: &Kind) -> String;
}

impl SettingValue for u64 {
    fn parse_setting(text: &str, kind: &Kind) -> Option<Self> {
        let n: u64 = text.trim().replace('_', "").parse().ok()?;
        match kind {
            Kind::Int { min, max } if (*min..=*max).contains(&n) => Some(n),
            Kind::Int { .. } => None,
            _ => Some(n),
        }
    }
    fn show_setting(&self, _: &Kind) -> String {
        self.to_string()
    }
}

impl SettingValue for bool {
    fn parse_setting(text: &str, _: &Kind) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => None,
        }
    }
    fn show_setting(&self, _: &Kind) -> String {
        self.to_string()
    }
}

impl SettingValue for String {
    fn parse_setting(text: &str, kind: &Kind) -> Option<Self> {
        let t = text.trim();
        match kind {
            Kind::Text => (!t.is_empty()).then(|| t.to_string()),
            Kind::OneOf(words) => {
                let low = t.to_ascii_lowercase();
                words.contains(&low.as_str()).then_some(low)
            }
            Kind::DbUrl => ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| t.starts_with(p))
                .then(|| t.to_string()),
            Kind::LogFilter => tracing_subscriber::EnvFilter::try_new(t)
                .ok()
                .map(|_| t.to_string()),
            Kind::Listen { off } => {
                if *off && t.eq_ignore_ascii_case("off") {
                    Some("off".into())
                } else {
                    t.parse::<std::net::SocketAddr>()
                        .ok()
                        .map(|a| a.to_string())
                }
            }
            Kind::Int { .. } | Kind::Bool | Kind::Secret => None,
        }
    }
    fn show_setting(&self, kind: &Kind) -> String {
        match kind {
            Kind::DbUrl => passerelle_adapters::store::redact(self),
            _ => self.clone(),
        }
    }
}

impl SettingValue for Option<Secret> {
    fn parse_setting(text: &str, _: &Kind) -> Option<Self> {
        // Empty means unset (an exported but empty variable must not become a key).
        Some((!text.trim().is_empty()).then(|| Secret::new(text.trim())))
    }
    fn show_setting(&self, _: &Kind) -> String {
        match self {
            Some(_) => "***".into(),
            None => "(non défini / unset)".into(),
        }
    }
}

/// Test-only knobs, read from their own environment variables only (never the file):
/// `PASSERELLE_FAULT=abort-after:<step>:<n>` (crash tests), `PASSERELLE_TEST_RETRY_INITIAL_MS`
/// (short first retry delay put into the input of runs queued by `run`), and
/// `PASSERELLE_DEMO_BACKEND_URL` (the demo-engine backend of `worker`, `serve` and `run`).
#[derive(Debug, Clone, Default)]
pub struct TestKnobs {
    /// Abort the process after the n-th effect of a step, before its journal append.
    pub fault: Option<(String, u32)>,
    /// First retry delay of runs queued by `run`, in milliseconds.
    pub retry_initial_ms: Option<u64>,
    /// Base URL of the demo-engine backend.
    pub demo_backend_url: Option<String>,
}

/// The test knobs' variables, for `config show`.
pub const TEST_KNOB_VARS: [&str; 3] = [
    "PASSERELLE_FAULT",
    "PASSERELLE_TEST_RETRY_INITIAL_MS",
    "PASSERELLE_DEMO_BACKEND_URL",
];

impl TestKnobs {
    fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<TestKnobs, SettingsError> {
        let mut k = TestKnobs::default();
        if let Some(spec) = env(TEST_KNOB_VARS[0]) {
            let mut parts = spec.splitn(3, ':');
            let parsed = match (parts.next(), parts.next(), parts.next()) {
                (Some("abort-after"), Some(step), Some(n)) if !step.is_empty() => {
                    n.parse::<u32>().ok().map(|n| (step.to_string(), n))
                }
                _ => None,
            };
            k.fault = Some(parsed.ok_or_else(|| SettingsError::Invalid {
                key: "test.fault",
                value: spec.chars().take(80).collect(),
                layer: Layer::Env(TEST_KNOB_VARS[0]),
                allowed: "abort-after:<étape>:<n>".into(),
            })?);
        }
        if let Some(ms) = env(TEST_KNOB_VARS[1]) {
            let kind = Kind::Int {
                min: 1,
                max: 3_600_000,
            };
            k.retry_initial_ms =
                Some(
                    u64::parse_setting(&ms, &kind).ok_or_else(|| SettingsError::Invalid {
                        key: "test.retry_initial_ms",
                        value: kind.echo(&ms),
                        layer: Layer::Env(TEST_KNOB_VARS[1]),
                        allowed: kind.allowed(),
                    })?,
                );
        }
        k.demo_backend_url = env(TEST_KNOB_VARS[2]);
        Ok(k)
    }

    /// Adds the test retry delay, when set, to a run's input.
    pub fn run_input(&self, mut input: serde_json::Value) -> serde_json::Value {
        if let (Some(ms), Some(o)) = (self.retry_initial_ms, input.as_object_mut()) {
            o.insert("retry_initial_ms".into(), ms.into());
        }
        input
    }

    /// Whether any knob is set (`config show` then says so).
    pub fn any(&self) -> bool {
        self.fault.is_some() || self.retry_initial_ms.is_some() || self.demo_backend_url.is_some()
    }
}

/// Where the layers come from.
pub struct Sources<'a> {
    /// `--config FILE` (a missing file is an error).
    pub config: Option<PathBuf>,
    /// Read `/etc/passerelle/passerelle.toml` when present and no file is named.
    pub system_file: bool,
    /// The environment (the process's, or a map in tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// Flag values: (key, value, flag as typed), in command-line order.
    pub flags: Vec<(String, String, String)>,
}

/// The system-wide config file, read when present.
pub const SYSTEM_FILE: &str = "/etc/passerelle/passerelle.toml";

/// The process environment, empty values treated as unset.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Builds the settings: defaults, then the file, the environment and the flags.
pub fn load(src: &Sources<'_>) -> Result<Settings, SettingsError> {
    let mut s = Settings::default();
    for k in KEYS {
        s.set(k.key, k.default, Layer::Default)?;
    }
    let file = match (&src.config, (src.env)("PASSERELLE_CONFIG")) {
        (Some(p), _) => Some(p.clone()),
        (None, Some(p)) => Some(PathBuf::from(p)),
        (None, None) if src.system_file && Path::new(SYSTEM_FILE).exists() => {
            Some(PathBuf::from(SYSTEM_FILE))
        }
        _ => None,
    };
    if let Some(path) = &file {
        apply_file(&mut s, path)?;
        s.file = Some(path.clone());
    }
    for k in KEYS {
        if let Some(v) = (src.env)(k.env) {
            s.set(k.key, &v, Layer::Env(k.env))?;
        }
    }
    for (key, value, flag) in &src.flags {
        if !s.set(key, value, Layer::Flag(flag.clone()))? {
            return Err(SettingsError::Unknown {
                key: key.clone(),
                layer: Layer::Flag(flag.clone()),
            });
        }
    }
    s.test = TestKnobs::load(src.env)?;
    Ok(s)
}

/// Defaults and the process environment only (no file, no flags): what tests and
/// benchmarks use when they call the library directly after setting variables.
pub fn from_env() -> Result<Settings, SettingsError> {
    load(&Sources {
        config: None,
        system_file: false,
        env: &process_env,
        flags: Vec::new(),
    })
}

fn apply_file(s: &mut Settings, path: &Path) -> Result<(), SettingsError> {
    let err = |reason: String| SettingsError::File {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        err(e.message().lines().next().unwrap_or_default().to_string())
    })?;
    let layer = Layer::File(path.to_path_buf());
    for (section, body) in &table {
        let toml::Value::Table(body) = body else {
            return Err(SettingsError::Unknown {
                key: section.clone(),
                layer,
            });
        };
        for (name, value) in body {
            let key = format!("{section}.{name}");
            let text = match value {
                toml::Value::String(t) => t.clone(),
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => other.to_string(),
            };
            if !s.set(&key, &text, layer.clone())? {
                return Err(SettingsError::Unknown { key, layer });
            }
        }
    }
    Ok(())
}

impl Settings {
    /// Where `key`'s value came from.
    pub fn origin(&self, key: &str) -> Option<&Layer> {
        self.origins.get(key)
    }

    /// `(key, shown value, origin)` of every key, in declaration order (secrets masked).
    pub fn effective(&self) -> Vec<(&'static str, String, Layer)> {
        KEYS.iter()
            .map(|k| {
                (
                    k.key,
                    self.shown(k.key).unwrap_or_default(),
                    self.origin(k.key).cloned().unwrap_or(Layer::Default),
                )
            })
            .collect()
    }

    /// The engine's worker settings.
    pub fn worker_config(&self) -> passerelle_workflows::engine::WorkerConfig {
        let lease = std::time::Duration::from_millis(self.lease_ms);
        passerelle_workflows::engine::WorkerConfig {
            poll: std::time::Duration::from_millis(self.poll_ms),
            lease,
            heartbeat: lease / 3,
            item_concurrency: usize::try_from(self.item_concurrency).unwrap_or(8),
        }
    }

    /// The store's connection options.
    pub fn db_options(&self) -> passerelle_adapters::store::DbOptions {
        passerelle_adapters::store::DbOptions {
            pg_pool: u32::try_from(self.pg_pool).unwrap_or(16),
            sqlite_full_sync: self.sqlite_synchronous == "full",
        }
    }

    /// The language chosen.
    pub fn language(&self) -> passerelle_domain::Lang {
        passerelle_domain::Lang::parse(&self.lang).unwrap_or_default()
    }

    /// A listen address, `None` when `off`.
    pub fn listen_or_off(addr: &str) -> Option<&str> {
        (addr != "off").then_some(addr)
    }

    /// Settings for a test or benchmark: defaults and the environment, with `url` as the
    /// database URL (the flag layer).
    pub fn for_url(url: &str) -> Result<Settings, SettingsError> {
        let mut s = from_env()?;
        s.set("database.url", url, Layer::Flag("--database-url".into()))?;
        Ok(s)
    }
}

/// The documented sample file (`passerelle config sample`): every key with its default,
/// its variable and what it allows; secrets commented out.
pub fn sample_toml() -> String {
    let mut out = String::from(
        "# Passerelle settings: generated by `passerelle config sample` (keep it so: a test\n\
         # compares). Layers: defaults < this file (--config, or /etc/passerelle/passerelle.toml\n\
         # when present) < PASSERELLE_* environment variables < command-line flags\n\
         # (--set KEY=VALUE for any key). `passerelle config show` prints the effective values\n\
         # and where each came from.\n",
    );
    let mut section = "";
    for k in KEYS {
        let (sec, name) = k.key.split_once('.').unwrap_or(("", k.key));
        if sec != section {
            out.push_str(&format!("\n[{sec}]\n"));
            section = sec;
        }
        out.push('\n');
        for line in k.doc.lines() {
            out.push_str(&format!(
                "#{}{}\n",
                if line.is_empty() { "" } else { " " },
                line.trim()
            ));
        }
        out.push_str(&format!(
            "# env: {}{}; allowed: {}\n",
            k.env,
            k.flag.map(|f| format!(", flag: {f}")).unwrap_or_default(),
            k.kind.allowed()
        ));
        if k.default.is_empty() {
            out.push_str(&format!("# {name} = \"\"\n"));
        } else {
            out.push_str(&format!("{name} = {}\n", k.kind.toml_literal(k.default)));
        }
    }
    out
}

/// The settings as a map `key → (shown value, origin)`, for `config show --json`.
pub fn show_json(s: &Settings) -> serde_json::Value {
    let mut m = BTreeMap::new();
    for (k, v, layer) in s.effective() {
        m.insert(
            k,
            serde_json::json!({"value": v, "origin": layer.to_string()}),
        );
    }
    serde_json::json!({
        "file": s.file.as_ref().map(|p| p.display().to_string()),
        "settings": m,
        "test_knobs": TEST_KNOB_VARS.iter().filter(|v| process_env(v).is_some()).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn load_with(
        file: Option<&str>,
        env: &[(&str, &str)],
        flags: &[(&str, &str, &str)],
    ) -> (Result<Settings, SettingsError>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let config = file.map(|text| {
            let p = dir.path().join("p.toml");
            std::fs::write(&p, text).unwrap();
            p
        });
        let map: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env_fn = move |k: &str| map.get(k).cloned();
        let r = load(&Sources {
            config,
            system_file: false,
            env: &env_fn,
            flags: flags
                .iter()
                .map(|(k, v, f)| (k.to_string(), v.to_string(), f.to_string()))
                .collect(),
        });
        (r, dir)
    }

    #[test]
    fn file_is_overridden_by_env_which_is_overridden_by_flag() {
        let file = "[engine]\nlease_ms = 2000\nitem_concurrency = 4\n[general]\nlang = \"en\"\n";
        let (s, _d) = load_with(Some(file), &[], &[]);
        let s = s.unwrap();
        assert_eq!((s.lease_ms, s.item_concurrency), (2000, 4));
        assert!(matches!(s.origin("engine.lease_ms"), Some(Layer::File(_))));
        assert_eq!(s.origin("engine.poll_ms"), Some(&Layer::Default));

        let (s, _d) = load_with(Some(file), &[("PASSERELLE_LEASE_MS", "3000")], &[]);
        let s = s.unwrap();
        assert_eq!((s.lease_ms, s.item_concurrency), (3000, 4));
        assert_eq!(
            s.origin("engine.lease_ms"),
            Some(&Layer::Env("PASSERELLE_LEASE_MS"))
        );

        let (s, _d) = load_with(
            Some(file),
            &[("PASSERELLE_LEASE_MS", "3000"), ("PASSERELLE_LANG", "fr")],
            &[
                ("engine.lease_ms", "4000", "--set engine.lease_ms"),
                ("general.lang", "en", "--lang"),
            ],
        );
        let s = s.unwrap();
        assert_eq!(s.lease_ms, 4000);
        assert_eq!(s.lang, "en");
        assert_eq!(
            s.origin("general.lang"),
            Some(&Layer::Flag("--lang".into()))
        );
    }

    #[test]
    fn a_bad_value_is_refused_naming_key_layer_and_range_in_each_layer() {
        let (r, _d) = load_with(Some("[engine]\nlease_ms = 5\n"), &[], &[]);
        let e = r.err().unwrap().to_string();
        assert!(e.contains("engine.lease_ms"), "{e}");
        assert!(e.contains("fichier") && e.contains("p.toml"), "{e}");
        assert!(e.contains("100 à 3600000"), "{e}");

        let (r, _d) = load_with(None, &[("PASSERELLE_LEASE_MS", "banana")], &[]);
        let e = r.err().unwrap().to_string();
        assert!(
            e.contains("engine.lease_ms") && e.contains("PASSERELLE_LEASE_MS"),
            "{e}"
        );
        assert!(e.contains("banana") && e.contains("100 à 3600000"), "{e}");

        let (r, _d) = load_with(None, &[], &[("log.format", "xml", "--log-format")]);
        let e = r.err().unwrap().to_string();
        assert!(
            e.contains("log.format") && e.contains("--log-format") && e.contains("text | json"),
            "{e}"
        );

        let (r, _d) = load_with(Some("[engine]\nlease_msec = 1\n"), &[], &[]);
        let e = r.err().unwrap().to_string();
        assert!(
            e.contains("engine.lease_msec") && e.contains("inconnu"),
            "{e}"
        );

        let (r, _d) = load_with(Some("[engine\n"), &[], &[]);
        assert!(matches!(r, Err(SettingsError::File { .. })));
    }

    #[test]
    fn secrets_are_masked_everywhere() {
        let key = "ab".repeat(32);
        let (s, _d) = load_with(
            Some("[database]\nurl = \"postgres://u:pw-in-file@h/db\"\n"),
            &[
                ("PASSERELLE_MASTER_KEY", key.as_str()),
                ("PASSERELLE_SMTP_PASSWORD", "smtp-pw"),
            ],
            &[],
        );
        let s = s.unwrap();
        let shown = format!("{:?}", s.effective());
        assert!(
            !shown.contains(&key) && !shown.contains("smtp-pw"),
            "{shown}"
        );
        assert!(!shown.contains("pw-in-file"), "{shown}");
        assert_eq!(s.shown("secrets.master_key").unwrap(), "***");
        assert_eq!(format!("{:?}", s.master_key), "Some(***)");
        assert_eq!(s.master_key.as_ref().unwrap().expose(), key);
        let json = show_json(&s).to_string();
        assert!(
            !json.contains(&key) && !json.contains("pw-in-file"),
            "{json}"
        );
        // A bad secret is refused without echoing it.
        let (r, _d) = load_with(None, &[("DATABASE_URL", "mysql://u:hidden@h/db")], &[]);
        let e = r.err().unwrap().to_string();
        assert!(e.contains("database.url") && !e.contains("hidden"), "{e}");
    }

    #[test]
    fn test_knobs_come_from_their_variables_only() {
        let (s, _d) = load_with(
            None,
            &[("PASSERELLE_FAULT", "abort-after:erp_import:2")],
            &[],
        );
        assert_eq!(s.unwrap().test.fault, Some(("erp_import".to_string(), 2)));
        let (r, _d) = load_with(None, &[("PASSERELLE_FAULT", "boom")], &[]);
        assert!(r.err().unwrap().to_string().contains("PASSERELLE_FAULT"));
        let (r, _d) = load_with(Some("[test]\nfault = \"abort-after:x:1\"\n"), &[], &[]);
        assert!(matches!(r, Err(SettingsError::Unknown { .. })));
        let (s, _d) = load_with(None, &[("PASSERELLE_TEST_RETRY_INITIAL_MS", "50")], &[]);
        let input = s
            .unwrap()
            .test
            .run_input(serde_json::json!({"full": false}));
        assert_eq!(input["retry_initial_ms"], 50);
        let (s, _d) = load_with(None, &[], &[]);
        assert_eq!(
            s.unwrap().test.run_input(serde_json::json!({})),
            serde_json::json!({})
        );
    }

    #[test]
    fn the_sample_file_is_complete_parseable_and_gives_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/passerelle.sample.toml");
        let committed = std::fs::read_to_string(path).unwrap();
        assert_eq!(
            committed,
            sample_toml(),
            "ops/deploy/passerelle.sample.toml is stale: passerelle config sample > it"
        );
        for k in KEYS {
            let name = k.key.split_once('.').unwrap().1;
            assert!(
                committed.contains(&format!("{name} = ")) && committed.contains(k.env),
                "{} missing from the sample",
                k.key
            );
        }
        let (s, _d) = load_with(Some(&committed), &[], &[]);
        let s = s.unwrap();
        let (d, _d2) = load_with(None, &[], &[]);
        let d = d.unwrap();
        for k in KEYS {
            assert_eq!(s.shown(k.key), d.shown(k.key), "{}", k.key);
        }
    }
}
