//! The admin kubeconfig: a file for kubectl and child processes, and the `kube::Config` the
//! harness builds its clients from. Both come from the same file, so what tests see is what
//! kubectl sees.

use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// Cluster, user and context name.
pub const NAME: &str = "kelos-test";

pub fn render(server: &str, ca_pem: &str, cert_pem: &str, key_pem: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {NAME}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {NAME}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {NAME}
  context:
    cluster: {NAME}
    user: {NAME}
current-context: {NAME}
",
        ca = STANDARD.encode(ca_pem),
        cert = STANDARD.encode(cert_pem),
        key = STANDARD.encode(key_pem),
    )
}

pub fn write(path: &Path, contents: &str) -> Result<()> {
    fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Loads a kubeconfig file, refusing any server that is not loopback 127.0.0.1.
pub async fn load(path: &Path) -> Result<kube::Config> {
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let options = KubeConfigOptions {
        context: Some(NAME.into()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| Error::Kubeconfig {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    ensure_loopback(&config.cluster_url)?;
    Ok(config)
}

pub fn ensure_loopback(url: &http::Uri) -> Result<()> {
    if url.scheme_str() == Some("https") && url.host() == Some("127.0.0.1") && url.port().is_some()
    {
        Ok(())
    } else {
        Err(Error::NotLoopback(url.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_https_is_accepted() {
        assert!(ensure_loopback(&"https://127.0.0.1:6443".parse().unwrap()).is_ok());
        for bad in [
            "https://localhost:6443",
            "http://127.0.0.1:6443",
            "https://10.0.0.1:6443",
            "https://127.0.0.1",
        ] {
            assert!(ensure_loopback(&bad.parse().unwrap()).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn rendered_kubeconfig_loads_into_a_client_config() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::generate(dir.path()).unwrap();
        let path = dir.path().join("kubeconfig");
        write(
            &path,
            &render(
                "https://127.0.0.1:12345",
                &pki.serving_ca_pem,
                &pki.admin_cert_pem,
                &pki.admin_key_pem,
            ),
        )
        .unwrap();
        let config = load(&path).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://127.0.0.1:12345/");
        assert!(config.root_cert.is_some());
        // Building a client parses the client identity and CA; fails on bad PEM.
        kube::Client::try_from(config).unwrap();
    }

    #[tokio::test]
    async fn ambient_server_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let pki = crate::pki::Pki::generate(dir.path()).unwrap();
        let path = dir.path().join("kubeconfig");
        write(
            &path,
            &render(
                "https://192.0.2.10:6443",
                &pki.serving_ca_pem,
                &pki.admin_cert_pem,
                &pki.admin_key_pem,
            ),
        )
        .unwrap();
        assert!(matches!(load(&path).await, Err(Error::NotLoopback(_))));
    }
}
