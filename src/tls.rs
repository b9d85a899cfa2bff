//! The one TLS set-up of the project, for the HTTP client and the PostgreSQL connection alike:
//! rustls with ring (no OpenSSL on the target, static musl builds), and one certificate verifier
//! whose [`Check`] says how much of a server's certificate is checked.

use crate::ansible::Result;
use crate::fail;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use std::sync::Arc;

/// How much of a server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Nothing but the handshake's signatures (libpq's `sslmode=prefer` and `require`).
    SignaturesOnly,
    /// The chain, not the host name (libpq's `verify-ca`).
    Chain,
    /// The chain and the host name (libpq's `verify-full`; HTTPS).
    Full,
    /// The chain and the host name; failing that, the server's certificate must be one of the
    /// certificates given (`ca_path`) byte for byte, valid for the host where it names hosts:
    /// the self-signed certificate `openssl req -x509` makes is marked as a CA, which webpki
    /// refuses to see as a server's own certificate, while `curl --cacert` accepts it.
    FullOrPinned,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads the certificates of a PEM bundle; `what` names the option for messages.
pub fn pem_certificates(what: &str, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| fail!("{what} is not a PEM certificate bundle: {e:?}"))?;
    if certs.is_empty() {
        return Err(fail!("{what} holds no PEM certificate"));
    }
    Ok(certs)
}

/// The system's CA certificates, plus `extra` where given.
pub fn roots(extra: &[CertificateDer<'static>], with_system: bool) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(extra.iter().cloned());
    if with_system {
        for c in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(c);
        }
    }
    roots
}

/// A client configuration that checks what `check` says against `roots` (and `pinned` for
/// [`Check::FullOrPinned`]). `what` names the option for messages.
pub fn client_config(
    what: &str,
    check: Check,
    roots: rustls::RootCertStore,
    pinned: Vec<CertificateDer<'static>>,
) -> Result<rustls::ClientConfig> {
    let provider = provider();
    let webpki = match check {
        Check::SignaturesOnly => None,
        _ => {
            if roots.is_empty() {
                return Err(fail!(
                    "{what}: no usable CA certificate to check the server with"
                ));
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| fail!("{what}: TLS setup: {e}"))?,
            )
        }
    };
    let verifier = Verifier {
        check,
        webpki,
        pinned,
        provider: provider.clone(),
    };
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

#[derive(Debug)]
struct Verifier {
    check: Check,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    pinned: Vec<CertificateDer<'static>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, TlsError> {
        let Some(webpki) = &self.webpki else {
            return Ok(ServerCertVerified::assertion());
        };
        let err = match webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        match self.check {
            Check::Chain if is_wrong_name(&err) => Ok(ServerCertVerified::assertion()),
            Check::FullOrPinned
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                match rustls::client::verify_server_name(&parsed, server_name) {
                    Ok(()) => Ok(ServerCertVerified::assertion()),
                    // A certificate with a subject alternative name for another host is
                    // refused; one without any (CN only, as curl still accepts) is the pin.
                    Err(e) if is_wrong_name(&e) && !has_subject_alt_name(end_entity.as_ref()) => {
                        Ok(ServerCertVerified::assertion())
                    }
                    Err(e) => Err(e),
                }
            }
            _ => Err(err),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, TlsError> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn is_wrong_name(e: &TlsError) -> bool {
    matches!(
        e,
        TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
        )
    )
}

/// Whether a DER certificate carries the subjectAltName extension (OID 2.5.29.17).
fn has_subject_alt_name(der: &[u8]) -> bool {
    const SAN_OID: [u8; 5] = [0x06, 0x03, 0x55, 0x1d, 0x11];
    der.windows(SAN_OID.len()).any(|w| w == SAN_OID)
}
