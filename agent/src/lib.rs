//! `eip-agent`: the node-side allocator. It watches its node's pods and allocates, associates, records (PodEIP), annotates, unbinds and releases their EIPs.
//! Not implemented yet.
