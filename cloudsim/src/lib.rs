//! `eip-cloudsim`: a local emulator of the Alibaba Cloud VPC 2016-04-28 (EIP) and ECS
//! 2014-05-26 (ENI) OpenAPI subset and of the ECS instance metadata service.
//!
//! In: signed OpenAPI calls (V1 HMAC-SHA1 or V3 ACS3-HMAC-SHA256) on one HTTP port, metadata
//! reads under `/instances/<instance-id>/latest/...`, and admin calls (`/_sim/...` over
//! HTTP, or the in-process [`Admin`] handle). Out: the real JSON responses and error
//! bodies, driven by a pure state machine ([`state::SimState`]).

pub mod actions;
mod admin_http;
mod api;
pub mod apierror;
pub mod auth;
pub mod cli;
pub mod config;
pub mod error;
mod keys;
mod metadata;
pub mod params;
mod runtime;
mod server;
pub mod state;
pub mod transport;

pub use apierror::ApiError;
pub use auth::StsCredential;
pub use config::{
    AuthConfig, BandwidthPackageConfig, Delays, FaultEffect, FaultRule, InstanceConfig,
    InstanceTypeConfig, MetadataConfig, RateLimit, RateLimits, Secret, SimConfig,
};
pub use error::Error;
pub use keys::write_credentials_dir;
pub use runtime::{Admin, Snapshot, VSwitchView};
pub use server::{CloudSim, RunningSim};
pub use state::{Eip, EipStatus, Eni, Instance, PodIp};
