//! `eip-extender`: the kube-scheduler HTTP extender that filters and scores nodes by ENI secondary-IP capacity, vSwitch free IPs, the region's EIP quota and the state of named EIPs, and binds pods under a per-node guard.
//! Not implemented yet.
