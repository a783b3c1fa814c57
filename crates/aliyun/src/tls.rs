//! TLS of every HTTP client of the crate: rustls with the *ring* crypto
//! provider, verifying servers against the platform's trust store (on Linux
//! the system bundle, or `SSL_CERT_FILE` / `SSL_CERT_DIR` when set), plus
//! the roots of a [`CaBundle`] when the caller gives one.
//!
//! Loading the trust store reads and parses every system root, so each
//! configuration is built once per process (the platform's in a static, a
//! bundle's inside the bundle) and every HTTP client gets a copy sharing
//! the same verifier. A root added to the system while the process runs is
//! seen by the next process.

use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rustls::ClientConfig as TlsConfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why TLS could not be set up. The sources are boxed to keep the errors
/// holding this one small.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("CA bundle {name} holds no PEM certificate")]
    EmptyBundle { name: String },
    #[error("CA bundle {name} is not readable PEM")]
    Pem {
        name: String,
        #[source]
        source: Box<rustls::pki_types::pem::Error>,
    },
    #[error("cannot load the trusted root certificates{}", bundle_suffix(bundle))]
    TrustStore {
        /// The bundle's name, when one was added to the platform's roots.
        bundle: Option<String>,
        #[source]
        source: Box<rustls::Error>,
    },
}

fn bundle_suffix(bundle: &Option<String>) -> String {
    match bundle {
        Some(name) => format!(" (the platform's and CA bundle {name})"),
        None => " of the platform".to_owned(),
    }
}

/// Root certificates trusted besides the platform's: a private CA in front
/// of the API, or a test's own root. Cheap to clone; clones share the TLS
/// configuration built from it on first use.
#[derive(Clone)]
pub struct CaBundle {
    inner: Arc<Bundle>,
}

struct Bundle {
    name: String,
    roots: Vec<CertificateDer<'static>>,
    config: OnceLock<Result<TlsConfig, rustls::Error>>,
}

impl CaBundle {
    /// The certificates of a PEM text (a file of one or more `BEGIN
    /// CERTIFICATE` blocks; anything else in it is skipped). `name` (a file
    /// name, say) is what errors call it.
    pub fn from_pem(name: impl Into<String>, pem: &[u8]) -> Result<CaBundle, TlsError> {
        let name = name.into();
        let roots = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| TlsError::Pem {
                name: name.clone(),
                source: Box::new(source),
            })?;
        if roots.is_empty() {
            return Err(TlsError::EmptyBundle { name });
        }
        Ok(CaBundle {
            inner: Arc::new(Bundle {
                name,
                roots,
                config: OnceLock::new(),
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }
}

impl fmt::Debug for CaBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaBundle")
            .field("name", &self.inner.name)
            .field("certificates", &self.inner.roots.len())
            .finish()
    }
}

/// A `reqwest` client builder speaking TLS as this module says, with the
/// platform's roots and `extra`'s. The first call per process (per bundle)
/// loads the trust store; later ones copy the configuration.
pub(crate) fn http_client(extra: Option<&CaBundle>) -> Result<reqwest::ClientBuilder, TlsError> {
    static PLATFORM: OnceLock<Result<TlsConfig, rustls::Error>> = OnceLock::new();
    let built = match extra {
        None => PLATFORM.get_or_init(|| build(&[])),
        Some(bundle) => bundle
            .inner
            .config
            .get_or_init(|| build(&bundle.inner.roots)),
    };
    let config = built.clone().map_err(|source| TlsError::TrustStore {
        bundle: extra.map(|b| b.inner.name.clone()),
        source: Box::new(source),
    })?;
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}

fn build(extra: &[CertificateDer<'static>]) -> Result<TlsConfig, rustls::Error> {
    let started = Instant::now();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new_with_extra_roots(
        extra.iter().cloned(),
        provider.clone(),
    )?;
    // `dangerous` is rustls's name for any verifier of one's own; this one
    // is the platform's, the verifier reqwest itself installs by default.
    let mut config = TlsConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // HTTP/1.1 only, what reqwest offers without its http2 feature.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    tracing::debug!(
        extra_roots = extra.len(),
        elapsed_us = started.elapsed().as_micros() as u64,
        "TLS trust store loaded"
    );
    Ok(config)
}

/// Whether `error` came from TLS (a certificate not trusted, a failed
/// handshake) rather than from the network or HTTP. rustls's error sits
/// inside `io::Error`s (two, nested, from the connector), whose `source`
/// skips the error they wrap, so each is opened instead.
pub(crate) fn is_tls_failure(error: &reqwest::Error) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return true;
        }
        next = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bundle_without_certificates_is_refused_by_name() {
        let e = CaBundle::from_pem("corp-ca.pem", b"no certificate here\n").unwrap_err();
        assert!(matches!(e, TlsError::EmptyBundle { ref name } if name == "corp-ca.pem"));
        assert_eq!(
            e.to_string(),
            "CA bundle corp-ca.pem holds no PEM certificate"
        );
    }

    #[test]
    fn a_broken_certificate_block_is_refused_by_name() {
        let pem = b"-----BEGIN CERTIFICATE-----\n%%%%\n-----END CERTIFICATE-----\n";
        let e = CaBundle::from_pem("corp-ca.pem", pem).unwrap_err();
        assert!(
            matches!(e, TlsError::Pem { ref name, .. } if name == "corp-ca.pem"),
            "{e:?}"
        );
    }
}
