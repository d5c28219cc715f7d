//! HTTPS for the simulator: the same server behind a rustls acceptor, so that tests can
//! check how handover treats certificates (refused by default, trusted through
//! `ssl_verify: <CA bundle>`) without any host but loopback. The certificate and key are
//! the caller's, as PEM; nothing here generates or stores one.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::SimError;
use crate::config::SimConfig;
use crate::seed::Seed;
use crate::server::{Sim, SimHandle};

impl Sim {
    /// Like [`Sim::start`], but serves HTTPS with `cert_pem` (the certificate chain, leaf
    /// first) and `key_pem` (its private key); [`SimHandle::endpoint`] then starts with
    /// `https://`. HTTP/2 and HTTP/1.1 are offered through ALPN.
    pub fn start_tls(
        addr: SocketAddr,
        seed: Seed,
        config: SimConfig,
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<SimHandle, SimError> {
        let acceptor = acceptor(cert_pem, key_pem)?;
        Sim::launch(addr, seed, config, Some(acceptor))
    }
}

/// A TLS acceptor for one certificate chain and key.
fn acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<TlsAcceptor, SimError> {
    let tls = |what: &str, e: &dyn std::fmt::Display| SimError::Tls(format!("{what}: {e}"));
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls("certificate", &e))?;
    if certs.is_empty() {
        return Err(SimError::Tls("no certificate in the PEM".to_string()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| tls("private key", &e))?;
    // The provider is named rather than taken from the process default, which a binary
    // with two providers compiled in could not choose.
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| tls("protocol versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| tls("certificate and key", &e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
