//! The `Cloud` trait (the EIP and ENI operations kube-eip needs) and the Alibaba Cloud
//! OpenAPI client behind it.
//!
//! In: typed request arguments ([`args`]), credentials ([`credentials`]), an endpoint.
//! Out: the service's own response shapes ([`model`]) and typed errors ([`Error`]).
//! [`signature`] holds both signing schemes as pure functions; the emulator reuses them
//! (and [`model`]) to verify requests and emit responses. [`metadata`] reads the ECS
//! instance metadata service; [`waiter`] waits for asynchronous EIP states, batching many
//! waiters into one DescribeEipAddresses per poll; [`metrics`] reports every attempt.

pub mod args;
pub mod client;
pub mod cloud;
pub mod credentials;
pub mod error;
mod lenient;
pub mod metadata;
pub mod metrics;
pub mod model;
pub mod signature;
pub mod waiter;

pub use client::{AliyunClient, AliyunClientBuilder, Product, RetryPolicy, SignatureVersion};
pub use cloud::Cloud;
pub use error::{ApiError, Error, ErrorKind};
pub use waiter::{WaitTarget, Waiter, WaiterConfig};
