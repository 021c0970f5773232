//! The controller's errors. `metric_label` names the variant (low cardinality) for logs and
//! metrics; messages never carry Secret values.

use kube::runtime::finalizer;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Boxed: the finalizer error wraps this type.
    #[error("finalizer: {0}")]
    Finalizer(#[source] Box<finalizer::Error<Error>>),
    #[error("object {0} has no namespace")]
    MissingNamespace(String),
    #[error("encoding JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("listening on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error("GitHub App token: {0}")]
    GitHubApp(String),
    #[error("leader election lost: {0}")]
    LeaderElection(String),
}

impl Error {
    /// The variant's name in snake case, for `kelos_reconcile_errors_total`-style labels and
    /// structured logs.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Finalizer(_) => "finalizer",
            Error::MissingNamespace(_) => "missing_namespace",
            Error::Json(_) => "json",
            Error::Metrics(_) => "metrics",
            Error::Bind { .. } => "bind",
            Error::Config(_) => "config",
            Error::GitHubApp(_) => "github_app",
            Error::LeaderElection(_) => "leader_election",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
