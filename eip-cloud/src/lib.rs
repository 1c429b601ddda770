//! The `Cloud` trait (the EIP and ENI operations kube-eip needs) and the Alibaba Cloud
//! OpenAPI client behind it. In: typed requests. Out: typed responses and typed errors.
//! Not implemented yet.
