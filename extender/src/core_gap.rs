//! Stop-gap for pieces eip-core has not published yet. Each function here is replaced by
//! the eip-core equivalent once it lands.

/// `(EniQuantity, EniPrivateIpAddressQuantity)` of an ECS instance type from eip-core's
/// instance-type table. eip-core's `capacity` module has not landed yet, so no instance
/// type is known here: nodes without the agent's annotations are failed as "capacity
/// unknown" (never guessed).
pub fn instance_type_enis(_instance_type: &str) -> Option<(u32, u32)> {
    None
}
