//! The crate's error type (start-up, configuration and admin failures; API errors the
//! emulated service returns to callers are [`crate::apierror::ApiError`]).

use std::path::PathBuf;

/// Everything that can go wrong while configuring or running the emulator.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file could not be read.
    #[error("failed to read config file {path}")]
    ReadConfig {
        /// The file that was read.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid YAML/JSON of the expected shape.
    #[error("failed to parse config file {path}: {message}")]
    ParseConfig {
        /// The file that was parsed.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// The configuration is well-formed but inconsistent.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// The listening socket could not be bound.
    #[error("failed to listen on {addr}")]
    Bind {
        /// The requested address.
        addr: std::net::SocketAddr,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while running.
    #[error("emulator http server failed")]
    Serve(#[source] std::io::Error),
    /// An admin operation was refused (unknown instance, no free IP, ...).
    #[error("admin operation failed: {0}")]
    Admin(#[from] crate::apierror::ApiError),
}
