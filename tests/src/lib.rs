//! End-to-end harness and suite for kube-eip over the whole stack (sandbox cluster plus
//! `eip-cloudsim`). Not implemented yet.
