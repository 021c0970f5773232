//! Errors.

/// Why the fake could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding 127.0.0.1:0: {0}")]
    Bind(#[source] std::io::Error),
    #[error("building the server's tokio runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("spawning the server thread: {0}")]
    Thread(#[source] std::io::Error),
    #[error("invalid path prefix {0:?}: it must start with '/' and not end with '/'")]
    Prefix(String),
}

/// What the connection handler returns to make hyper close the socket without a response.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by an injected fault")]
pub(crate) struct ConnectionDropped;
