//! FTP and explicit FTPS (`AUTH TLS`) storage, passive mode only, over tokio (and rustls
//! for FTPS). A small hand-written client: the few commands needed to list a folder and
//! read a file — `USER`/`PASS`, `PBSZ 0`/`PROT P` (FTPS), `TYPE I`, `CWD`, `PASV`, `LIST`,
//! `RETR` — instead of a general crate, to keep the build lean.
//!
//! Protocol: RFC 959 (<https://www.rfc-editor.org/rfc/rfc959>: replies, `PASV` 227
//! `(h1,h2,h3,h4,p1,p2)`, `LIST`, `RETR`), RFC 4217
//! (<https://www.rfc-editor.org/rfc/rfc4217>: `AUTH TLS` 234, `PBSZ 0`, `PROT P`, the data
//! connection in TLS too). The passive address's host is ignored and the control
//! connection's peer used instead (servers behind NAT often announce a private address).
//! Listing parses the Unix `ls -l` format most servers use and the DOS/IIS one.
//!
//! The password is only ever written on the control connection; errors name the server's
//! reply code and text, never the password (a server does not echo `PASS`).

use crate::secrets::Secret;
use async_trait::async_trait;
use passerelle_workflows::engine::StepError;
use passerelle_workflows::ports::{FileStorage, StoredFile};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_rustls::rustls;

/// Largest file read (bytes): product images and sheets, not archives.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// An FTP or FTPS server.
pub struct FtpStorage {
    host: String,
    port: u16,
    user: String,
    password: Secret,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
    session: Mutex<Option<Session>>,
}

impl std::fmt::Debug for FtpStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FtpStorage")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

struct Session {
    control: BufReader<Box<dyn Stream>>,
    peer: SocketAddr,
}

impl FtpStorage {
    /// Plain FTP to `address` (`host` or `host:port`, port 21 by default).
    pub fn plain(address: &str, user: &str, password: Secret) -> Result<Self, StepError> {
        let (host, port) = split_address(address)?;
        Ok(Self {
            host,
            port,
            user: user.to_string(),
            password,
            tls: None,
            timeout: Duration::from_secs(30),
            session: Mutex::new(None),
        })
    }

    /// Explicit FTPS: the public roots are trusted, plus the certificates of `extra_ca_pem`
    /// (PEM text: a private CA or a self-signed server certificate).
    pub fn tls(
        address: &str,
        user: &str,
        password: Secret,
        extra_ca_pem: Option<&str>,
    ) -> Result<Self, StepError> {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_ca_pem {
            for cert in rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| {
                    StepError::permanent(format!("certificat FTPS illisible (bad PEM) : {e}"))
                })?;
                roots.add(cert).map_err(|e| {
                    StepError::permanent(format!("certificat FTPS refusé (bad certificate) : {e}"))
                })?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| StepError::permanent(format!("TLS : {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut s = Self::plain(address, user, password)?;
        s.tls = Some(Arc::new(config));
        Ok(s)
    }

    /// Changes the timeout of each exchange (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn wrap(&self, tcp: TcpStream) -> Result<Box<dyn Stream>, StepError> {
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some(config) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone())
                    .map_err(|e| StepError::permanent(format!("nom de serveur FTPS : {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| StepError::permanent(format!("négociation TLS refusée : {e}")))?;
                Ok(Box::new(tls))
            }
        }
    }

    /// Connects and logs in.
    async fn login(&self) -> Result<Session, StepError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| StepError::transient(format!("serveur FTP injoignable : {e}")))?;
        let peer = tcp.peer_addr().map_err(io_err)?;
        let mut s = Session {
            control: BufReader::new(Box::new(tcp) as Box<dyn Stream>),
            peer,
        };
        expect(&mut s, None, &[220]).await?;
        if self.tls.is_some() {
            expect(&mut s, Some("AUTH TLS"), &[234]).await?;
            // Nothing may be buffered past the 234 reply: the TLS handshake starts here.
            let inner = std::mem::replace(
                &mut s.control,
                BufReader::new(Box::new(tokio::io::empty()) as Box<dyn Stream>),
            );
            let tcp = inner.into_inner();
            // The boxed stream is the plain TcpStream we made above; TLS needs it back.
            let tls = self.wrap_boxed(tcp).await?;
            s.control = BufReader::new(tls);
        }
        let (code, _) = send(&mut s, &format!("USER {}", self.user)).await?;
        if code == 331 {
            let (code, text) = send_secret(&mut s, self.password.expose()).await?;
            if code != 230 && code != 202 {
                return Err(StepError::permanent(format!(
                    "connexion FTP refusée (login failed) : {code} {text}"
                )));
            }
        } else if code != 230 {
            return Err(StepError::permanent(format!(
                "utilisateur FTP refusé (user refused) : {code}"
            )));
        }
        if self.tls.is_some() {
            expect(&mut s, Some("PBSZ 0"), &[200]).await?;
            expect(&mut s, Some("PROT P"), &[200]).await?;
        }
        expect(&mut s, Some("TYPE I"), &[200]).await?;
        Ok(s)
    }

    async fn wrap_boxed(&self, stream: Box<dyn Stream>) -> Result<Box<dyn Stream>, StepError> {
        let Some(config) = &self.tls else {
            return Ok(stream);
        };
        let name = rustls_pki_types::ServerName::try_from(self.host.clone())
            .map_err(|e| StepError::permanent(format!("nom de serveur FTPS : {e}")))?;
        let tls = tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, stream)
            .await
            .map_err(|e| StepError::permanent(format!("négociation TLS refusée : {e}")))?;
        Ok(Box::new(tls))
    }

    /// Runs `f` on the logged-in session (opened on first use, dropped after an error so
    /// the next call starts afresh), within the timeout.
    async fn with_session<T>(
        &self,
        f: impl for<'a> FnOnce(
            &'a FtpStorage,
            &'a mut Session,
        ) -> futures::future::BoxFuture<'a, Result<T, StepError>>,
    ) -> Result<T, StepError> {
        let mut guard = self.session.lock().await;
        let work = async {
            if guard.is_none() {
                *guard = Some(self.login().await?);
            }
            match guard.as_mut() {
                Some(s) => f(self, s).await,
                None => Err(StepError::transient("session FTP perdue")),
            }
        };
        let r = match tokio::time::timeout(self.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(StepError::transient(
                "le serveur FTP ne répond pas (délai dépassé)",
            )),
        };
        if r.is_err() {
            *guard = None;
        }
        r
    }

    /// Opens a passive data connection (`PASV`). For FTPS the TLS handshake comes after
    /// the transfer command's preliminary reply ([`Self::wrap`]): the server only starts
    /// its side of the handshake once it has the command.
    async fn data(&self, s: &mut Session) -> Result<TcpStream, StepError> {
        let (code, text) = send(s, "PASV").await?;
        if code != 227 {
            return Err(StepError::permanent(format!(
                "mode passif refusé (PASV) : {code} {text}"
            )));
        }
        let port = pasv_port(&text)
            .ok_or_else(|| StepError::permanent(format!("réponse PASV illisible : {text}")))?;
        let tcp = TcpStream::connect((s.peer.ip(), port))
            .await
            .map_err(|e| StepError::transient(format!("connexion de données FTP : {e}")))?;
        Ok(tcp)
    }
}

#[async_trait]
impl FileStorage for FtpStorage {
    async fn list(&self, folder: &str) -> Result<Vec<StoredFile>, StepError> {
        let folder = folder.trim_matches('/').to_string();
        self.with_session(|me, s| {
            Box::pin(async move {
                let (code, text) = send(s, &format!("CWD /{folder}")).await?;
                if code == 550 {
                    return Ok(Vec::new());
                }
                if code != 250 {
                    return Err(StepError::permanent(format!(
                        "dossier FTP « {folder} » inaccessible : {code} {text}"
                    )));
                }
                let data = me.data(s).await?;
                let (code, text) = send(s, "LIST").await?;
                if code != 150 && code != 125 {
                    return Err(StepError::permanent(format!(
                        "liste FTP refusée (LIST) : {code} {text}"
                    )));
                }
                let mut data = me.wrap(data).await?;
                let mut raw = Vec::new();
                data.read_to_end(&mut raw).await.map_err(io_err)?;
                drop(data);
                expect(s, None, &[226, 250]).await?;
                let prefix = if folder.is_empty() {
                    "/".to_string()
                } else {
                    format!("/{folder}/")
                };
                let mut files: Vec<StoredFile> = String::from_utf8_lossy(&raw)
                    .lines()
                    .filter_map(parse_list_line)
                    .map(|name| StoredFile {
                        locator: format!("{prefix}{name}"),
                        name,
                    })
                    .collect();
                files.sort_by(|a, b| a.name.cmp(&b.name));
                Ok(files)
            })
        })
        .await
    }

    async fn fetch(&self, file: &StoredFile) -> Result<Vec<u8>, StepError> {
        let path = file.locator.clone();
        self.with_session(|me, s| {
            Box::pin(async move {
                let data = me.data(s).await?;
                let (code, text) = send(s, &format!("RETR {path}")).await?;
                if code != 150 && code != 125 {
                    return Err(StepError::permanent(format!(
                        "fichier FTP « {path} » illisible : {code} {text}"
                    )));
                }
                let mut data = me.wrap(data).await?;
                let mut raw = Vec::new();
                (&mut data)
                    .take(MAX_FILE_BYTES as u64 + 1)
                    .read_to_end(&mut raw)
                    .await
                    .map_err(io_err)?;
                drop(data);
                if raw.len() > MAX_FILE_BYTES {
                    return Err(StepError::permanent(format!(
                        "fichier FTP « {path} » trop volumineux (too large)"
                    )));
                }
                expect(s, None, &[226, 250]).await?;
                Ok(raw)
            })
        })
        .await
    }
}

fn split_address(address: &str) -> Result<(String, u16), StepError> {
    let a = address.trim();
    let a = a
        .strip_prefix("ftp://")
        .or_else(|| a.strip_prefix("ftps://"))
        .unwrap_or(a)
        .trim_end_matches('/');
    if a.is_empty() {
        return Err(StepError::permanent("serveur FTP non renseigné (no host)"));
    }
    match a.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => p
            .parse()
            .map(|p| (h.to_string(), p))
            .map_err(|_| StepError::permanent(format!("port FTP invalide : {p}"))),
        _ => Ok((a.to_string(), 21)),
    }
}

fn io_err(e: std::io::Error) -> StepError {
    StepError::transient(format!("connexion FTP interrompue : {e}"))
}

/// Reads one reply (multi-line replies end with `NNN ` on their last line).
async fn reply(s: &mut Session) -> Result<(u16, String), StepError> {
    let mut first = String::new();
    if s.control.read_line(&mut first).await.map_err(io_err)? == 0 {
        return Err(StepError::transient("connexion FTP fermée par le serveur"));
    }
    let code: u16 = first
        .get(..3)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| StepError::permanent(format!("réponse FTP illisible : {first}")))?;
    let mut text = first.get(4..).unwrap_or("").trim_end().to_string();
    if first.as_bytes().get(3) == Some(&b'-') {
        let end = format!("{code} ");
        loop {
            let mut line = String::new();
            if s.control.read_line(&mut line).await.map_err(io_err)? == 0 {
                return Err(StepError::transient("connexion FTP fermée par le serveur"));
            }
            if line.starts_with(&end) {
                text = line[4..].trim_end().to_string();
                break;
            }
        }
    }
    Ok((code, text))
}

async fn send(s: &mut Session, command: &str) -> Result<(u16, String), StepError> {
    // A user, folder or file name carrying a line break would smuggle a second command.
    if command.contains(['\r', '\n']) {
        return Err(StepError::permanent(
            "nom FTP invalide : saut de ligne (line break in a name)",
        ));
    }
    let w = s.control.get_mut();
    w.write_all(format!("{command}\r\n").as_bytes())
        .await
        .map_err(io_err)?;
    w.flush().await.map_err(io_err)?;
    reply(s).await
}

/// `PASS`, kept apart so the command never reaches a log line or an error text.
async fn send_secret(s: &mut Session, password: &str) -> Result<(u16, String), StepError> {
    send(s, &format!("PASS {password}"))
        .await
        .map_err(|e| match e {
            StepError::Permanent(_) => StepError::permanent("réponse FTP illisible après PASS"),
            other => other,
        })
}

async fn expect(s: &mut Session, command: Option<&str>, codes: &[u16]) -> Result<(), StepError> {
    let (code, text) = match command {
        Some(c) => send(s, c).await?,
        None => reply(s).await?,
    };
    if codes.contains(&code) {
        return Ok(());
    }
    let what = command.unwrap_or("accueil");
    if (400..500).contains(&code) {
        Err(StepError::transient(format!(
            "serveur FTP momentanément indisponible ({what}) : {code} {text}"
        )))
    } else {
        Err(StepError::permanent(format!(
            "serveur FTP : {what} refusé : {code} {text}"
        )))
    }
}

/// The port of a `227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)` reply.
fn pasv_port(text: &str) -> Option<u16> {
    let inner = text.split_once('(')?.1.split_once(')')?.0;
    let n: Vec<u16> = inner
        .split(',')
        .map(|x| x.trim().parse().ok())
        .collect::<Option<_>>()?;
    if n.len() != 6 || n[4] > 255 || n[5] > 255 {
        return None;
    }
    Some(n[4] * 256 + n[5])
}

/// The file name of a `LIST` line, `None` for folders, links and anything unreadable.
/// Unix: `-rw-r--r-- 1 ftp ftp 1234 Nov 30 07:00 name with spaces.jpg` (8 fields, then
/// the name). DOS/IIS: `11-30-26  07:00AM  1234 name.jpg` (`<DIR>` for folders).
fn parse_list_line(line: &str) -> Option<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    let first = line.chars().next()?;
    if first.is_ascii_digit() {
        let mut rest = line;
        for _ in 0..3 {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace)?;
            let field = &rest[..end];
            if field == "<DIR>" {
                return None;
            }
            rest = &rest[end..];
        }
        let name = rest.trim_start();
        return (!name.is_empty()).then(|| name.to_string());
    }
    if first != '-' {
        return None;
    }
    let mut rest = line;
    for _ in 0..8 {
        rest = rest.trim_start();
        let end = rest.find(char::is_whitespace)?;
        rest = &rest[end..];
    }
    let name = rest.trim_start_matches(' ');
    (!name.is_empty() && name != "." && name != "..").then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_lines_give_file_names() {
        assert_eq!(
            parse_list_line("-rw-r--r--    1 0        0            1234 Nov 30 07:00 ABC 1.jpg"),
            Some("ABC 1.jpg".into())
        );
        assert_eq!(
            parse_list_line("drwxr-xr-x    2 0        0            4096 Nov 30 07:00 ABC"),
            None
        );
        assert_eq!(
            parse_list_line("11-30-26  07:00AM                 1234 ABC.png"),
            Some("ABC.png".into())
        );
        assert_eq!(
            parse_list_line("11-30-26  07:00AM       <DIR>          ABC"),
            None
        );
        assert_eq!(
            pasv_port("Entering Passive Mode (127,0,0,1,195,80)."),
            Some(195 * 256 + 80)
        );
        assert_eq!(
            split_address("ftp.example.com").ok(),
            Some(("ftp.example.com".into(), 21))
        );
        assert_eq!(
            split_address("127.0.0.1:2121").ok(),
            Some(("127.0.0.1".into(), 2121))
        );
    }
}
