//! The one outbound HTTP client factory, and its guard against server-side request forgery.
//!
//! Every address a merchant types (shop URL, EBP hosts, storage endpoints, FTP and SMTP
//! hosts) is user-supplied: a hosted service that connects to it blindly can be made to
//! probe its own network or the cloud metadata endpoint. The guard refuses loopback,
//! private (RFC 1918, unique-local fc00::/7), link-local (169.254/16 with the metadata
//! address, fe80::/10), CGNAT (100.64/10), multicast, unspecified, broadcast and
//! documentation/benchmark ranges, IPv4-mapped IPv6 forms of them included:
//!
//! * [`TargetGuard::check_url`] / [`TargetGuard::check_host`] before a setting is saved
//!   (a refused address is reported to the user, nothing is sent to it);
//! * [`builder`] (every reqwest client of the adapters): the DNS resolver drops forbidden
//!   addresses after resolution (so a name that later resolves to 10.0.0.1 — DNS rebinding —
//!   is refused at connection time) and the redirect policy refuses a redirect to a
//!   forbidden literal address (literals do not go through the resolver).
//!
//! The policy is process-wide: `passerelle serve` refuses by default and
//! `--allow-private-targets` (the demo, tests, a single-box install talking to its own
//! LAN) allows. The CLI commands of a single box allow, since their operator is the host's.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

static ALLOW_PRIVATE: AtomicBool = AtomicBool::new(true);

/// Sets the process-wide policy (see the module doc).
pub fn set_allow_private_targets(allow: bool) {
    ALLOW_PRIVATE.store(allow, Ordering::SeqCst);
}

/// The process-wide policy.
pub fn allow_private_targets() -> bool {
    ALLOW_PRIVATE.load(Ordering::SeqCst)
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not a URL we can connect to.
    #[error("adresse invalide « {0} » (invalid address)")]
    Invalid(String),
    /// Resolves to (or is) a forbidden address.
    #[error("adresse refusée : {host} désigne {ip}, une adresse {kind} (interne) ; le service ne s'y connecte pas (address refused: internal)")]
    Forbidden {
        /// Host as given.
        host: String,
        /// Offending address.
        ip: IpAddr,
        /// Which range, in French.
        kind: &'static str,
    },
    /// The name does not resolve.
    #[error("nom introuvable : {0} (name does not resolve)")]
    Unresolved(String),
}

/// The range a forbidden address belongs to, or `None` for a public one.
pub fn forbidden_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4);
            }
            let s = v6.segments();
            if v6.is_loopback() {
                Some("de bouclage")
            } else if v6.is_unspecified() {
                Some("non spécifiée")
            } else if v6.is_multicast() {
                Some("de multidiffusion")
            } else if s[0] & 0xffc0 == 0xfe80 {
                Some("lien-local")
            } else if s[0] & 0xfe00 == 0xfc00 {
                Some("privée")
            } else if s[0] == 0x2001 && s[1] == 0x0db8 {
                Some("de documentation")
            } else if s[0] == 0x0064 && s[1] == 0xff9b {
                // NAT64 well-known prefix: the embedded IPv4 decides.
                let v4 =
                    Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
                v4_kind(v4)
            } else {
                None
            }
        }
    }
}

fn v4_kind(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        Some("de bouclage")
    } else if ip.is_private() {
        Some("privée")
    } else if ip.is_link_local() {
        // 169.254.169.254: the cloud metadata service lives here.
        Some("lien-local (métadonnées cloud)")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("CGNAT")
    } else if ip.is_multicast() {
        Some("de multidiffusion")
    } else if ip.is_unspecified() || o[0] == 0 {
        Some("non spécifiée")
    } else if ip.is_broadcast() {
        Some("de diffusion")
    } else if ip.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) || o[0] >= 240 {
        Some("réservée")
    } else {
        None
    }
}

/// Checks user-supplied addresses against the policy.
#[derive(Debug, Clone, Copy)]
pub struct TargetGuard {
    allow_private: bool,
}

impl Default for TargetGuard {
    fn default() -> Self {
        Self::current()
    }
}

impl TargetGuard {
    /// The process-wide policy.
    pub fn current() -> Self {
        Self {
            allow_private: allow_private_targets(),
        }
    }

    /// An explicit policy (tests).
    pub fn new(allow_private: bool) -> Self {
        Self { allow_private }
    }

    /// Checks `ip` (as reached for `host`).
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), TargetError> {
        match forbidden_kind(ip) {
            Some(kind) if !self.allow_private => Err(TargetError::Forbidden {
                host: host.to_string(),
                ip,
                kind,
            }),
            _ => Ok(()),
        }
    }

    /// Resolves `host:port` and checks every address it gives (one bad address is enough
    /// to refuse: the connection may use any of them).
    pub async fn check_host(&self, host: &str, port: u16) -> Result<(), TargetError> {
        let h = host.trim().trim_start_matches('[').trim_end_matches(']');
        if h.is_empty() || h.len() > 253 || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TargetError::Invalid(host.chars().take(80).collect()));
        }
        if let Ok(ip) = h.parse::<IpAddr>() {
            return self.check_ip(h, ip);
        }
        if self.allow_private {
            return Ok(());
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((h, port))
            .await
            .map_err(|_| TargetError::Unresolved(h.to_string()))?
            .collect();
        if addrs.is_empty() {
            return Err(TargetError::Unresolved(h.to_string()));
        }
        for a in addrs {
            self.check_ip(h, a.ip())?;
        }
        Ok(())
    }

    /// Checks an `http(s)://` URL's host.
    pub async fn check_url(&self, url: &str) -> Result<(), TargetError> {
        let u = reqwest::Url::parse(url.trim())
            .map_err(|_| TargetError::Invalid(url.chars().take(80).collect()))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(TargetError::Invalid(url.chars().take(80).collect()));
        }
        let host = u
            .host_str()
            .ok_or_else(|| TargetError::Invalid(url.chars().take(80).collect()))?;
        self.check_host(host, u.port_or_known_default().unwrap_or(443))
            .await
    }
}

/// The resolver of guarded clients: resolves with the system, then drops nothing and
/// refuses the name when any address is forbidden (policy read at each resolution).
#[derive(Debug, Default)]
struct GuardedResolver;

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let guard = TargetGuard::current();
            for a in &addrs {
                guard
                    .check_ip(&host, a.ip())
                    .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Redirects followed at most.
const MAX_REDIRECTS: usize = 5;

/// A reqwest client builder with the project's defaults (timeouts, user agent) and the
/// SSRF guard (resolver and redirect policy). Every adapter builds its client here.
pub fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("passerelle/", env!("CARGO_PKG_VERSION")))
        // A proxy would resolve the target itself, out of the guard's sight.
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("trop de redirections (too many redirects)");
            }
            let host = attempt.url().host_str().unwrap_or("").to_string();
            let literal = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>();
            match literal {
                Ok(ip) => match TargetGuard::current().check_ip(&host, ip) {
                    Ok(()) => attempt.follow(),
                    Err(e) => attempt.error(e),
                },
                // Names are checked by the resolver when the redirect connects.
                Err(_) => attempt.follow(),
            }
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_named() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
        ] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            assert!(forbidden_kind(ip).is_some(), "{ip} should be refused");
        }
        for ip in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            let ip: IpAddr = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            assert_eq!(forbidden_kind(ip), None, "{ip} is public");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_after_resolution() {
        let g = TargetGuard::new(false);
        for u in [
            "http://127.0.0.1:8080/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/",
            "http://10.0.0.1/",
            "http://localhost:9/",
        ] {
            assert!(
                matches!(g.check_url(u).await, Err(TargetError::Forbidden { .. })),
                "{u}"
            );
        }
        assert!(matches!(
            g.check_url("file:///etc/passwd").await,
            Err(TargetError::Invalid(_))
        ));
        assert!(TargetGuard::new(true)
            .check_url("http://127.0.0.1:8080/")
            .await
            .is_ok());
    }
}
