//! The OpenAPI operations: parameter parsing and response shapes (the `eip_cloud::model`
//! types, which mirror the real JSON) around the pure [`crate::state::SimState`].

pub mod ecs;
pub mod vpc;

use crate::apierror::ApiError;
use crate::params::Params;

/// `2016-04-28`.
pub const VPC_VERSION: &str = "2016-04-28";
/// `2014-05-26`.
pub const ECS_VERSION: &str = "2014-05-26";

/// The product an action belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// VPC 2016-04-28.
    Vpc,
    /// ECS 2014-05-26.
    Ecs,
}

impl Product {
    /// The product name used in `Recommend` links.
    pub fn name(self) -> &'static str {
        match self {
            Self::Vpc => "Vpc",
            Self::Ecs => "Ecs",
        }
    }

    /// The endpoint host reported as `HostId`.
    pub fn host(self, region: &str) -> String {
        match (self, region) {
            (Self::Vpc, "cn-hangzhou") => "vpc.aliyuncs.com".into(),
            (Self::Vpc, r) => format!("vpc.{r}.aliyuncs.com"),
            (Self::Ecs, "cn-hangzhou") => "ecs-cn-hangzhou.aliyuncs.com".into(),
            (Self::Ecs, r) => format!("ecs.{r}.aliyuncs.com"),
        }
    }
}

/// Every action the emulator serves, by product.
pub const VPC_ACTIONS: &[&str] = vpc::ACTIONS;
/// Every ECS action the emulator serves.
pub const ECS_ACTIONS: &[&str] = ecs::ACTIONS;

/// The product serving `action` in `version`, or `InvalidApi.NotFound`.
pub fn product_of(action: &str, version: &str) -> Result<Product, ApiError> {
    match version {
        VPC_VERSION if VPC_ACTIONS.contains(&action) => Ok(Product::Vpc),
        ECS_VERSION if ECS_ACTIONS.contains(&action) => Ok(Product::Ecs),
        _ => Err(ApiError::api_not_found()),
    }
}

/// Checks `RegionId` (required) names the emulated region.
pub fn check_region(p: &Params, region: &str) -> Result<(), ApiError> {
    let r = p.required("RegionId")?;
    if r != region {
        return Err(ApiError::new(
            404,
            "Forbidden.RegionNotFound",
            "Specified region is not found during access authentication.",
        )
        .with_detail(format!("this emulator serves {region}, not {r}")));
    }
    Ok(())
}

/// Parses an IPv4 address parameter.
pub fn ipv4(name: &str, v: &str) -> Result<std::net::Ipv4Addr, ApiError> {
    v.trim()
        .parse()
        .map_err(|_| ApiError::invalid(name, "It must be an IPv4 address."))
}

/// `NextToken` is the decimal offset of the next item; anything else is malformed.
pub fn next_token_offset(p: &Params) -> Result<usize, ApiError> {
    match p.get("NextToken") {
        None => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| ApiError::invalid("NextToken", "It is not a token this API returned.")),
    }
}

/// The page `[offset, offset+size)` of `items` and the token of the next one, if any.
pub fn page<T>(items: Vec<T>, offset: usize, size: usize) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let end = offset.saturating_add(size).min(total);
    let next = (end < total).then(|| end.to_string());
    let page = items.into_iter().skip(offset).take(size).collect();
    (page, next)
}
