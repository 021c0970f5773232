use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while starting or using the test control plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Go-built binaries are missing and could not be built. Never a reason to skip a test:
    /// the message tells the developer how to get them.
    #[error(
        "kelos-testenv: the test control plane's binaries (etcd, kube-apiserver, kubectl; for the \
         simulated-cluster tier also kube-controller-manager, kube-scheduler and kwok) are not \
         available: {0}\n\
         \n\
         To fix: install Go >= 1.26 (`go version`), then run `hack/test-bins.sh --full` (or \
         `make test-bins`) from the repository root. The first build takes tens of minutes and is \
         cached in ~/.cache/kelos/test-bin/. Tests that need a control plane never skip."
    )]
    Binaries(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("generating the test PKI: {0}")]
    Pki(#[from] rcgen::Error),

    /// Another process grabbed one of our free ports between probing and binding it. Retried.
    #[error("{component} could not bind its port (address already in use); log: {}", log.display())]
    AddressInUse {
        component: &'static str,
        log: PathBuf,
    },

    #[error("{component} exited during startup ({status}); log: {}\n--- last lines ---\n{tail}", log.display())]
    Exited {
        component: &'static str,
        status: String,
        log: PathBuf,
        tail: String,
    },

    #[error("{component} was not ready after {timeout:?} (last error: {last_error}); log: {}\n--- last lines ---\n{tail}", log.display())]
    NotReady {
        component: &'static str,
        timeout: Duration,
        last_error: String,
        log: PathBuf,
        tail: String,
    },

    #[error("kubeconfig {}: {reason}", path.display())]
    Kubeconfig { path: PathBuf, reason: String },

    /// The harness only ever talks to its own loopback apiserver; anything else is a bug or an
    /// ambient cluster sneaking in.
    #[error(
        "refusing to use API server {0}: the test control plane must be https://127.0.0.1:<port>"
    )]
    NotLoopback(String),

    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),

    #[error("CRD {name}: {reason}")]
    Crd { name: String, reason: String },

    #[error("{0}")]
    Yaml(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
