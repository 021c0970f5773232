//! Certificates and keys for one control plane, generated in-process.
//!
//! Two CAs on purpose: the apiserver trusts the client CA for authentication and clients trust
//! the serving CA, as in envtest. Each CA only signs leaves; rustls rejects a CA certificate
//! presented as an end-entity certificate, so no certificate plays both roles.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType, date_time_ymd,
};

use crate::error::{Error, Result};

/// PEM material kept in memory (for the kubeconfig) and written to disk (for the processes).
pub struct Pki {
    pub serving_ca_pem: String,
    pub admin_cert_pem: String,
    pub admin_key_pem: String,
    pub files: PkiFiles,
}

/// Paths handed to kube-apiserver.
pub struct PkiFiles {
    pub serving_ca: PathBuf,
    pub serving_cert: PathBuf,
    pub serving_key: PathBuf,
    pub client_ca: PathBuf,
    pub sa_public_key: PathBuf,
    pub sa_private_key: PathBuf,
}

fn ca_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name, None);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut params);
    params
}

fn leaf_params(common_name: &str, organization: Option<&str>) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = dn(common_name, organization);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    validity(&mut params);
    params
}

// A fixed, generous window: these certificates live as long as one test run, and a wall clock
// that jumps (suspended laptops, VMs) must not invalidate them.
fn validity(params: &mut CertificateParams) {
    params.not_before = date_time_ymd(2000, 1, 1);
    params.not_after = date_time_ymd(2100, 1, 1);
}

fn dn(common_name: &str, organization: Option<&str>) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    if let Some(org) = organization {
        // Kubernetes maps O to groups; system:masters bypasses RBAC for the admin user.
        dn.push(DnType::OrganizationName, org);
    }
    dn.push(DnType::CommonName, common_name);
    dn
}

fn serving_cert(ca: &Issuer<'_, KeyPair>) -> Result<(String, String)> {
    let mut params = leaf_params("kube-apiserver", None);
    params.subject_alt_names = vec![
        SanType::IpAddress([127, 0, 0, 1].into()),
        SanType::DnsName("localhost".try_into()?),
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn admin_cert(ca: &Issuer<'_, KeyPair>) -> Result<(String, String)> {
    let mut params = leaf_params("admin", Some("system:masters"));
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca)?;
    Ok((cert.pem(), key.serialize_pem()))
}

impl Pki {
    /// Generates everything (ECDSA P-256, like envtest) and writes it under `dir`.
    pub fn generate(dir: &Path) -> Result<Pki> {
        let serving_ca = CertifiedIssuer::self_signed(
            ca_params("kelos-testenv serving CA"),
            KeyPair::generate()?,
        )?;
        let client_ca = CertifiedIssuer::self_signed(
            ca_params("kelos-testenv client CA"),
            KeyPair::generate()?,
        )?;
        let (serving_cert_pem, serving_key_pem) = serving_cert(&serving_ca)?;
        let (admin_cert_pem, admin_key_pem) = admin_cert(&client_ca)?;
        let sa_key = KeyPair::generate()?;

        let files = PkiFiles {
            serving_ca: dir.join("serving-ca.crt"),
            serving_cert: dir.join("apiserver.crt"),
            serving_key: dir.join("apiserver.key"),
            client_ca: dir.join("client-ca.crt"),
            sa_public_key: dir.join("sa-signer.pub"),
            sa_private_key: dir.join("sa-signer.key"),
        };
        let admin_cert = dir.join("admin.crt");
        let admin_key = dir.join("admin.key");
        for (path, contents) in [
            (&files.serving_ca, serving_ca.pem()),
            (&files.serving_cert, serving_cert_pem),
            (&files.serving_key, serving_key_pem),
            (&files.client_ca, client_ca.pem()),
            (&files.sa_public_key, sa_key.public_key_pem()),
            (&files.sa_private_key, sa_key.serialize_pem()),
            (&admin_cert, admin_cert_pem.clone()),
            (&admin_key, admin_key_pem.clone()),
        ] {
            fs::write(path, contents)
                .map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        }

        Ok(Pki {
            serving_ca_pem: serving_ca.pem(),
            admin_cert_pem,
            admin_key_pem,
            files,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_separate_cas_and_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::generate(dir.path()).unwrap();
        let serving_ca = fs::read_to_string(&pki.files.serving_ca).unwrap();
        let client_ca = fs::read_to_string(&pki.files.client_ca).unwrap();
        assert_ne!(serving_ca, client_ca);
        assert_ne!(
            fs::read_to_string(&pki.files.serving_cert).unwrap(),
            serving_ca
        );
        assert!(
            pki.admin_cert_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(pki.admin_key_pem.contains("PRIVATE KEY"));
        assert!(
            fs::read_to_string(&pki.files.sa_public_key)
                .unwrap()
                .contains("BEGIN PUBLIC KEY")
        );
    }
}
