//! `kubectl eip`: request, show, release, nodes and doctor for pod EIPs.
//! Not implemented yet.
