//! TLS for `mqtts://`: the CA file's certificates, or the system's roots.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::IngestError;

pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, IngestError> {
    super::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| IngestError::Config(format!("mqtt ca_file {}: {e}", path.display())))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| {
                    IngestError::Config(format!("mqtt ca_file {}: {e}", path.display()))
                })?;
            if certs.is_empty() {
                return Err(IngestError::Config(format!(
                    "mqtt ca_file {}: no PEM certificate in it",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    IngestError::Config(format!("mqtt ca_file {}: {e}", path.display()))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(IngestError::Config(
                    "mqtts:// without mqtt.ca_file, and no system CA certificates found \
                     (install ca-certificates or set mqtt.ca_file)"
                        .into(),
                ));
            }
        }
    }
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

/// What to do about a failed handshake, after its error (empty when there is
/// nothing to say): the certificate problems an operator can fix. `ca_file`
/// is what the certificate was checked against (`None`: the system's roots).
pub(super) fn handshake_hint(e: &std::io::Error, ca_file: Option<&Path>) -> String {
    use rustls::CertificateError as C;
    let Some(rustls::Error::InvalidCertificate(cert)) =
        e.get_ref().and_then(|inner| inner.downcast_ref())
    else {
        return String::new();
    };
    match cert {
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            ". Connect to a host name the broker's certificate is for (the host in mqtt.url)".into()
        }
        C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. } => {
            ". Renew the broker's certificate (or check this machine's clock)".into()
        }
        _ => {
            let against = match ca_file {
                Some(path) => format!("the CA in {} (mqtt.ca_file)", path.display()),
                None => "a CA this system trusts (mqtt.ca_file is unset)".into(),
            };
            format!(
                ". The broker's certificate was not issued by {against}: set mqtt.ca_file \
                 (SWEEPWATCH_MQTT_CA_FILE) to the CA that issued the broker's certificate"
            )
        }
    }
}
