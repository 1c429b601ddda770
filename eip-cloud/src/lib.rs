//! The `Cloud` trait (the EIP and ENI operations kube-eip needs) and the Alibaba Cloud
//! OpenAPI client behind it.
//!
//! In: typed request arguments ([`args`]), credentials ([`credentials`]), an endpoint.
//! Out: the service's own response shapes ([`model`]) and typed errors ([`Error`]).
//! [`signature`] holds both signing schemes as pure functions; the emulator reuses them
//! (and [`model`]) to verify requests and emit responses.

pub mod args;
pub mod cloud;
pub mod credentials;
pub mod error;
pub mod model;
pub mod signature;

pub use cloud::Cloud;
pub use error::{ApiError, Error, ErrorKind};
