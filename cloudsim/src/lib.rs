//! `eip-cloudsim`: a local emulator of the Alibaba Cloud VPC and ECS OpenAPI subset and of the ECS instance metadata service, for tests and the sandbox.
//! Not implemented yet.
