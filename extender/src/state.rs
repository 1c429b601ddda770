//! The extender's view of the cluster, kept current by the watchers and read by every
//! request: nodes with their pod-IP capacity, pods reduced to what decisions need,
//! reservations granted by bind, PodEIP allocation ids, the `eni-config` switches and the
//! read-only cloud view. Used slots per node and the region's pending EIP count are
//! maintained incrementally on every change, never recomputed per request.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use eip_core::capacity::{NodeCapacity, SlotSource, UnknownCapacity, Victim};

/// Maps keyed by node names and pod uids: looked up thousands of times per filter call,
/// so they use foldhash (randomly seeded per map) rather than SipHash.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
use serde::Serialize;

/// A short explanation of a node's capacity for `/debug/state`.
pub fn capacity_text(c: &NodeCapacity) -> String {
    match c {
        NodeCapacity::Known { total, source } => match source {
            SlotSource::MaxAvailableIp(_) => format!("{total} (published by eip-agent)"),
            SlotSource::EniAnnotations(e) => format!(
                "{total} (agent ENI annotations: {} ENIs x {} IPs)",
                e.secondary_enis(),
                e.eni_private_ip_quantity
            ),
            SlotSource::BuiltinTable(e) => format!(
                "{total} (instance-type table: {} ENIs x {} IPs)",
                e.secondary_enis(),
                e.eni_private_ip_quantity
            ),
        },
        NodeCapacity::Unknown(UnknownCapacity::NoInstanceType) => {
            "unknown: no capacity annotation and no instance type".to_string()
        }
        NodeCapacity::Unknown(UnknownCapacity::UnknownInstanceType) => {
            "unknown: instance type not in the table".to_string()
        }
        NodeCapacity::Unknown(UnknownCapacity::BadAnnotation(key)) => {
            format!("unknown: annotation {key} is not a whole number")
        }
    }
}

/// What the extender keeps about one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// Node name.
    pub name: String,
    /// ECS instance type label, if any.
    pub instance_type: Option<String>,
    /// Zone label, if any.
    pub zone: Option<String>,
    /// Pod-IP capacity, computed once when the node changes.
    pub capacity: NodeCapacity,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// `Ready` condition is `True`.
    pub ready: bool,
}

/// What a pod asks for in EIP terms.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum EipNeed {
    /// No EIP.
    #[default]
    None,
    /// A new EIP to allocate (consumes a quota unit).
    Auto,
    /// An existing EIP by allocation id.
    Named(Box<str>),
    /// The EIP annotations are invalid; the sentence says what to fix.
    Invalid(Box<str>),
}

/// A pod reduced to what decisions need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodView {
    /// `metadata.uid`.
    pub uid: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `spec.nodeName`.
    pub node: Option<String>,
    /// `spec.hostNetwork`.
    pub host_network: bool,
    /// Phase is `Succeeded` or `Failed`.
    pub terminal: bool,
    /// EIP request from the annotations.
    pub eip: EipNeed,
    /// `allocated-eip-id` written by the agent, if any.
    pub allocated_eip: Option<String>,
    /// Its EIP outlives it (release strategy `Never` or a duration); `false` for `Follow`.
    pub eip_kept: bool,
    /// The shared bandwidth package its new EIP joins (`eip-common-bandwidth-package-id`).
    pub bandwidth_package: Option<String>,
    /// For a pod that names an EIP: its controlling owner (`kind`, `name`).
    pub controller: Option<(String, String)>,
    /// That owner as read from the API (filter reads it; `None`: not read, and an owner
    /// that must be read to decide is then not judged here).
    pub owner: Option<eip_core::workload::Owner>,
}

/// Compact stored pod (the uid is the map key).
#[derive(Debug, Clone)]
struct PodRecord {
    namespace: Box<str>,
    name: Box<str>,
    node: Option<Arc<str>>,
    host_network: bool,
    terminal: bool,
    eip: EipNeed,
    allocated_eip: Option<Box<str>>,
    eip_kept: bool,
}

impl PodRecord {
    fn new(facts: PodView, node: Option<Arc<str>>) -> (Box<str>, Self) {
        let rec = PodRecord {
            namespace: facts.namespace.into(),
            name: facts.name.into(),
            node,
            host_network: facts.host_network,
            terminal: facts.terminal,
            eip: facts.eip,
            allocated_eip: facts.allocated_eip.map(Into::into),
            eip_kept: facts.eip_kept,
        };
        (facts.uid.into(), rec)
    }
    fn takes_slot(&self) -> bool {
        self.node.is_some() && !self.host_network && !self.terminal
    }
    fn pending_eip(&self) -> bool {
        self.takes_slot() && self.eip == EipNeed::Auto && self.allocated_eip.is_none()
    }
    fn held_eip(&self) -> Option<&str> {
        if self.terminal {
            None
        } else {
            self.allocated_eip.as_deref()
        }
    }
    /// Evicting it returns a region quota unit: it counts against the quota (its new EIP
    /// is allocated, or it waits on its node for one) and the EIP goes with it (`Follow`).
    fn frees_eip_quota(&self) -> bool {
        self.eip == EipNeed::Auto
            && !self.eip_kept
            && (self.pending_eip() || self.held_eip().is_some())
    }
    fn victim_on(&self, node: &str) -> Victim {
        Victim {
            uses_slot: self.takes_slot() && self.node.as_deref() == Some(node),
            frees_eip_quota: self.frees_eip_quota(),
        }
    }
}

/// What evicting this pod (sent in full by the scheduler as a victim on `node`) gives back,
/// judged by the same rules as pods in the view.
pub fn victim_from_facts(facts: PodView, node: &str) -> Victim {
    let (_, rec) = PodRecord::new(facts, Some(Arc::from(node)));
    rec.victim_on(node)
}

/// Per-node entry: facts from the Node watch (None while only pods refer to it) and the
/// counters maintained incrementally.
#[derive(Debug, Clone, Default)]
pub struct NodeEntry {
    /// Facts from the Node object; `None` when the node is not (or no longer) known.
    pub facts: Option<NodeFacts>,
    /// Pods on the node that hold a pod IP.
    pub used: u32,
    /// Reservations granted by bind and not yet seen by the pod watch.
    pub reserved: u32,
}

impl NodeEntry {
    /// Free slots when capacity is known.
    pub fn free(&self) -> Option<u32> {
        let slots = self.facts.as_ref()?.capacity.total()?;
        Some(slots.saturating_sub(self.used.saturating_add(self.reserved)))
    }
}

/// The state of a reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum ReservationState {
    /// The binding call is in flight.
    Binding,
    /// The binding succeeded; waiting for the pod watch to show the pod on the node.
    Bound,
}

/// A slot (and maybe a quota unit) held for a pod between bind and the watch.
#[derive(Debug, Clone)]
pub struct Reservation {
    /// Node the slot is on.
    pub node: Arc<str>,
    /// Whether a region quota unit is held too.
    pub eip_unit: bool,
    /// Whether the pod needs a pod IP slot (false for host-network pods).
    pub slot: bool,
    /// Binding in flight or done.
    pub state: ReservationState,
    /// When it was granted (expired ones are swept).
    pub since: Instant,
}

/// One EIP as the cloud view sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EipFacts {
    /// Allocation id.
    pub allocation_id: String,
    /// Cloud status (`Available`, `InUse`, `Associating`, ...).
    pub status: String,
    /// Instance it is bound to, if any.
    pub instance_id: Option<String>,
    /// Private IP it is bound to, if any.
    pub private_ip: Option<String>,
}

/// The background, read-only view of the cloud.
#[derive(Debug, Clone, Default)]
pub struct CloudView {
    /// Region id.
    pub region: String,
    /// Every EIP allocated in the region, by allocation id.
    pub eips: HashMap<String, EipFacts>,
    /// Free IPs per zone, summed over the zone's vSwitches (zones without vSwitches absent).
    pub zone_free_ips: HashMap<String, u64>,
    /// The region's shared bandwidth packages (`None`: not known, not checked).
    pub bandwidth_packages: Option<std::collections::HashSet<String>>,
    /// When it was fetched.
    pub fetched_at: Option<SystemTime>,
}

/// The `eni-config` switches the extender applies: eip-core's one policy, shared with the
/// agents.
pub use eip_core::eni_config::EipSwitches as EniSwitches;

/// Outcome of [`ClusterState::reserve`] when nothing new is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReserveOutcome {
    /// A new reservation was granted; the caller must call [`ClusterState::bind_finished`].
    Reserved,
    /// The pod is already on that node (watch) or already bound there (reservation):
    /// the bind is a retry of one that succeeded.
    AlreadyThere,
}

/// The whole view. One writer per source (watchers, cloud refresher, binder); requests read.
#[derive(Debug)]
pub struct ClusterState {
    nodes: FastMap<Arc<str>, NodeEntry>,
    pods: FastMap<Box<str>, PodRecord>,
    reservations: FastMap<Box<str>, Reservation>,
    /// PodEIP `namespace/name` -> allocation id recorded in it.
    podeips: HashMap<String, String>,
    /// Allocation ids annotated on live pods, with multiplicity.
    annotated_eips: HashMap<Box<str>, u32>,
    /// Auto-EIP pods on a node without an allocated EIP yet.
    pending_eip: u32,
    /// Quota units held by reservations.
    reserved_eip: u32,
    /// eni-config switches.
    pub switches: EniSwitches,
    /// Cloud view (None until the first refresh).
    pub cloud: Option<CloudView>,
    /// `eip_quota_instances_num`.
    pub quota: u32,
    /// Region id used in sentences before the cloud view arrives.
    pub region: String,
    /// vSwitch ids listed in `eni-config` (the cloud view sums their free IPs per zone).
    pub vswitches: Vec<String>,
}

impl ClusterState {
    /// An empty view with the given quota and region.
    pub fn new(quota: u32, region: impl Into<String>) -> Self {
        Self {
            nodes: FastMap::default(),
            pods: FastMap::default(),
            reservations: FastMap::default(),
            podeips: HashMap::new(),
            annotated_eips: HashMap::new(),
            pending_eip: 0,
            reserved_eip: 0,
            switches: EniSwitches::default(),
            cloud: None,
            quota,
            region: region.into(),
            vswitches: Vec::new(),
        }
    }

    // ---------- nodes ----------

    /// Insert or replace a node's facts.
    pub fn apply_node(&mut self, facts: NodeFacts) {
        if let Some(entry) = self.nodes.get_mut(facts.name.as_str()) {
            entry.facts = Some(facts);
            return;
        }
        let key: Arc<str> = Arc::from(facts.name.as_str());
        self.nodes.insert(
            key,
            NodeEntry {
                facts: Some(facts),
                used: 0,
                reserved: 0,
            },
        );
    }

    /// Forget a node's facts (counters stay while pods still refer to it).
    pub fn delete_node(&mut self, name: &str) {
        let remove = match self.nodes.get_mut(name) {
            Some(entry) => {
                entry.facts = None;
                entry.used == 0 && entry.reserved == 0
            }
            None => false,
        };
        if remove {
            self.nodes.remove(name);
        }
    }

    /// Replace every node (after a watch re-list).
    pub fn replace_nodes(&mut self, all: Vec<NodeFacts>) {
        let keep: HashSet<String> = all.iter().map(|n| n.name.clone()).collect();
        let stale: Vec<Arc<str>> = self
            .nodes
            .iter()
            .filter(|(k, e)| e.facts.is_some() && !keep.contains(k.as_ref()))
            .map(|(k, _)| k.clone())
            .collect();
        for name in stale {
            self.delete_node(&name);
        }
        for facts in all {
            self.apply_node(facts);
        }
    }

    /// A node entry by name.
    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.get(name)
    }

    /// Number of nodes with facts.
    pub fn node_count(&self) -> usize {
        self.nodes.values().filter(|e| e.facts.is_some()).count()
    }

    fn intern_node(&mut self, name: &str) -> Arc<str> {
        if let Some((key, _)) = self.nodes.get_key_value(name) {
            return key.clone();
        }
        let key: Arc<str> = Arc::from(name);
        self.nodes.insert(key.clone(), NodeEntry::default());
        key
    }

    fn drop_node_if_empty(&mut self, name: &str) {
        if let Some(e) = self.nodes.get(name)
            && e.facts.is_none()
            && e.used == 0
            && e.reserved == 0
        {
            self.nodes.remove(name);
        }
    }

    // ---------- pods ----------

    fn account(&mut self, rec: &PodRecord, sign: i8) {
        if rec.takes_slot()
            && let Some(node) = rec.node.as_deref()
            && let Some(entry) = self.nodes.get_mut(node)
        {
            entry.used = if sign > 0 {
                entry.used.saturating_add(1)
            } else {
                entry.used.saturating_sub(1)
            };
        }
        if rec.pending_eip() {
            self.pending_eip = if sign > 0 {
                self.pending_eip.saturating_add(1)
            } else {
                self.pending_eip.saturating_sub(1)
            };
        }
        if let Some(id) = rec.held_eip() {
            if sign > 0 {
                *self.annotated_eips.entry(Box::from(id)).or_insert(0) += 1;
            } else if let Some(n) = self.annotated_eips.get_mut(id) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.annotated_eips.remove(id);
                }
            }
        }
    }

    /// Insert or replace a pod; releases its reservation once the pod shows on a node
    /// (or has become terminal).
    pub fn apply_pod(&mut self, facts: PodView) {
        let node = facts.node.as_deref().map(|n| self.intern_node(n));
        let (uid, rec) = PodRecord::new(facts, node);
        if let Some(old) = self.pods.remove(&uid) {
            self.account(&old, -1);
            if let Some(n) = old.node.as_deref() {
                let n = n.to_string();
                if rec.node.as_deref() != Some(n.as_str()) {
                    // counters for the old node are already decremented
                    self.drop_node_if_empty(&n);
                }
            }
        }
        self.account(&rec, 1);
        if rec.node.is_some() || rec.terminal {
            self.release(&uid);
        }
        self.pods.insert(uid, rec);
    }

    /// Remove a pod (and any reservation it held).
    pub fn delete_pod(&mut self, uid: &str) {
        if let Some(old) = self.pods.remove(uid) {
            self.account(&old, -1);
            if let Some(n) = old.node.as_deref() {
                let n = n.to_string();
                self.drop_node_if_empty(&n);
            }
        }
        self.release(uid);
    }

    /// Replace every pod (after a watch re-list). Reservations whose pods now show on a
    /// node are released.
    pub fn replace_pods(&mut self, all: Vec<PodView>) {
        for e in self.nodes.values_mut() {
            e.used = 0;
        }
        self.pods.clear();
        self.annotated_eips.clear();
        self.pending_eip = 0;
        for p in all {
            self.apply_pod(p);
        }
        let empty: Vec<Arc<str>> = self
            .nodes
            .iter()
            .filter(|(_, e)| e.facts.is_none() && e.used == 0 && e.reserved == 0)
            .map(|(k, _)| k.clone())
            .collect();
        for k in empty {
            self.nodes.remove(&k);
        }
    }

    /// Number of pods in the view.
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Whether a pod with this uid is in the view and on `node`.
    pub fn pod_on(&self, uid: &str, node: &str) -> bool {
        self.pods
            .get(uid)
            .and_then(|p| p.node.as_deref())
            .is_some_and(|n| n == node)
    }

    /// The facts kept for a pod, rebuilt for decisions.
    pub fn pod(&self, uid: &str) -> Option<PodView> {
        self.pods.get(uid).map(|p| PodView {
            uid: uid.to_string(),
            namespace: p.namespace.to_string(),
            name: p.name.to_string(),
            node: p.node.as_deref().map(str::to_string),
            host_network: p.host_network,
            terminal: p.terminal,
            eip: p.eip.clone(),
            allocated_eip: p.allocated_eip.as_deref().map(str::to_string),
            eip_kept: p.eip_kept,
            // not kept per pod: only the pod being scheduled is checked
            bandwidth_package: None,
            controller: None,
            owner: None,
        })
    }

    /// What evicting the pod with this uid from `node` gives back (for preemption): its
    /// slot if the view has it there, a quota unit if its EIP goes with it. A pod the view
    /// does not know gives back nothing.
    pub fn victim(&self, uid: &str, node: &str) -> Victim {
        self.pods
            .get(uid)
            .map_or_else(Victim::default, |p| p.victim_on(node))
    }

    // ---------- PodEIPs ----------

    /// Record the allocation id a PodEIP holds (None removes the record).
    pub fn apply_podeip(&mut self, namespace: &str, name: &str, allocation_id: Option<String>) {
        let key = format!("{namespace}/{name}");
        match allocation_id {
            Some(id) => {
                self.podeips.insert(key, id);
            }
            None => {
                self.podeips.remove(&key);
            }
        }
    }

    /// Replace every PodEIP record.
    pub fn replace_podeips(&mut self, all: Vec<(String, String, Option<String>)>) {
        self.podeips.clear();
        for (ns, name, id) in all {
            self.apply_podeip(&ns, &name, id);
        }
    }

    /// Allocation id recorded in the PodEIP of `namespace/name`.
    pub fn podeip(&self, namespace: &str, name: &str) -> Option<&str> {
        self.podeips
            .get(&format!("{namespace}/{name}"))
            .map(String::as_str)
    }

    // ---------- quota ----------

    /// EIPs counted as allocated in the region: the cloud view's, plus ids annotated on
    /// pods that the view does not show yet.
    pub fn allocated_eips(&self) -> Option<u32> {
        let cloud = self.cloud.as_ref()?;
        let extra = self
            .annotated_eips
            .keys()
            .filter(|id| !cloud.eips.contains_key(id.as_ref()))
            .count();
        Some(u32::try_from(cloud.eips.len().saturating_add(extra)).unwrap_or(u32::MAX))
    }

    /// EIP pods approved but not allocated yet: on a node without an EIP, or reserved.
    pub fn approved_unallocated(&self) -> u32 {
        self.pending_eip.saturating_add(self.reserved_eip)
    }

    // ---------- reservations ----------

    /// Take a reservation for `uid` on `node`. The caller has checked the pod fits (the
    /// decision functions in [`crate::decide`] do that under the same write lock).
    pub fn reserve(&mut self, uid: &str, node: &str, slot: bool, eip_unit: bool) -> ReserveOutcome {
        if self.pod_on(uid, node) {
            return ReserveOutcome::AlreadyThere;
        }
        if let Some(r) = self.reservations.get(uid)
            && r.node.as_ref() == node
        {
            return ReserveOutcome::AlreadyThere;
        }
        // a reservation elsewhere is superseded
        self.release(uid);
        let key = self.intern_node(node);
        if let Some(e) = self.nodes.get_mut(node)
            && slot
        {
            e.reserved = e.reserved.saturating_add(1);
        }
        if eip_unit {
            self.reserved_eip = self.reserved_eip.saturating_add(1);
        }
        self.reservations.insert(
            Box::from(uid),
            Reservation {
                node: key,
                eip_unit,
                slot,
                state: ReservationState::Binding,
                since: Instant::now(),
            },
        );
        ReserveOutcome::Reserved
    }

    /// Whether a reservation for `uid` exists (on any node).
    pub fn reservation(&self, uid: &str) -> Option<&Reservation> {
        self.reservations.get(uid)
    }

    /// Record the end of a binding call: on success the reservation stays until the watch
    /// shows the pod (unless it already has); on failure it is released.
    pub fn bind_finished(&mut self, uid: &str, ok: bool) {
        if !ok {
            self.release(uid);
            return;
        }
        if let Some(r) = self.reservations.get(uid) {
            let node = r.node.clone();
            if self.pod_on(uid, &node) {
                self.release(uid);
            } else if let Some(r) = self.reservations.get_mut(uid) {
                r.state = ReservationState::Bound;
            }
        }
    }

    /// Release a reservation (no-op when there is none).
    pub fn release(&mut self, uid: &str) {
        if let Some(r) = self.reservations.remove(uid) {
            if r.slot
                && let Some(e) = self.nodes.get_mut(r.node.as_ref())
            {
                e.reserved = e.reserved.saturating_sub(1);
            }
            if r.eip_unit {
                self.reserved_eip = self.reserved_eip.saturating_sub(1);
            }
            self.drop_node_if_empty(&r.node);
        }
    }

    /// Release bound reservations older than `ttl` whose pod the watch never showed
    /// (the pod was deleted, or the watch missed it). Returns how many were released.
    pub fn sweep_reservations(&mut self, ttl: Duration) -> usize {
        let now = Instant::now();
        let old: Vec<Box<str>> = self
            .reservations
            .iter()
            .filter(|(_, r)| {
                r.state == ReservationState::Bound && now.duration_since(r.since) > ttl
            })
            .map(|(k, _)| k.clone())
            .collect();
        for uid in &old {
            self.release(uid);
        }
        old.len()
    }

    /// Number of live reservations.
    pub fn reservation_count(&self) -> usize {
        self.reservations.len()
    }

    // ---------- debug ----------

    /// A JSON-ready snapshot for `/debug/state`.
    pub fn snapshot(&self) -> StateSnapshot {
        let mut nodes: Vec<NodeSnapshot> = self
            .nodes
            .iter()
            .map(|(name, e)| NodeSnapshot {
                name: name.to_string(),
                known: e.facts.is_some(),
                instance_type: e.facts.as_ref().and_then(|f| f.instance_type.clone()),
                zone: e.facts.as_ref().and_then(|f| f.zone.clone()),
                slots: e.facts.as_ref().and_then(|f| f.capacity.total()),
                capacity: e.facts.as_ref().map(|f| capacity_text(&f.capacity)),
                used: e.used,
                reserved: e.reserved,
                free: e.free(),
                unschedulable: e.facts.as_ref().is_some_and(|f| f.unschedulable),
                ready: e.facts.as_ref().is_some_and(|f| f.ready),
            })
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        let mut reservations: Vec<ReservationSnapshot> = self
            .reservations
            .iter()
            .map(|(uid, r)| ReservationSnapshot {
                pod_uid: uid.to_string(),
                node: r.node.to_string(),
                eip_unit: r.eip_unit,
                state: r.state,
                age_seconds: r.since.elapsed().as_secs_f64(),
            })
            .collect();
        reservations.sort_by(|a, b| a.pod_uid.cmp(&b.pod_uid));
        let mut named: Vec<EipFacts> = self
            .cloud
            .as_ref()
            .map(|c| c.eips.values().cloned().collect())
            .unwrap_or_default();
        named.sort_by(|a, b| a.allocation_id.cmp(&b.allocation_id));
        StateSnapshot {
            nodes,
            pods: self.pods.len(),
            reservations,
            quota: QuotaSnapshot {
                region: self.region.clone(),
                quota: self.quota,
                allocated: self.allocated_eips(),
                approved_unallocated: self.approved_unallocated(),
            },
            eips: named,
            zone_free_ips: self
                .cloud
                .as_ref()
                .map(|c| c.zone_free_ips.clone())
                .unwrap_or_default(),
            cloud_view_age_seconds: self.cloud_view_age().map(|d| d.as_secs_f64()),
            switches: self.switches.clone(),
        }
    }

    /// Age of the cloud view.
    pub fn cloud_view_age(&self) -> Option<Duration> {
        let at = self.cloud.as_ref()?.fetched_at?;
        Some(SystemTime::now().duration_since(at).unwrap_or_default())
    }
}

/// `/debug/state` body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSnapshot {
    /// Per node.
    pub nodes: Vec<NodeSnapshot>,
    /// Pods in the view.
    pub pods: usize,
    /// Live reservations.
    pub reservations: Vec<ReservationSnapshot>,
    /// Quota view.
    pub quota: QuotaSnapshot,
    /// EIPs in the region.
    pub eips: Vec<EipFacts>,
    /// Free IPs per zone.
    pub zone_free_ips: HashMap<String, u64>,
    /// Age of the cloud view.
    pub cloud_view_age_seconds: Option<f64>,
    /// eni-config switches.
    pub switches: EniSwitches,
}

/// One node in `/debug/state`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSnapshot {
    /// Name.
    pub name: String,
    /// Whether the Node object is known.
    pub known: bool,
    /// Instance type.
    pub instance_type: Option<String>,
    /// Zone.
    pub zone: Option<String>,
    /// Slots when known.
    pub slots: Option<u32>,
    /// Where the capacity came from, or why it is unknown.
    pub capacity: Option<String>,
    /// Used slots.
    pub used: u32,
    /// Reserved slots.
    pub reserved: u32,
    /// Free slots.
    pub free: Option<u32>,
    /// Cordoned.
    pub unschedulable: bool,
    /// Ready.
    pub ready: bool,
}

/// One reservation in `/debug/state`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReservationSnapshot {
    /// Pod uid.
    pub pod_uid: String,
    /// Node.
    pub node: String,
    /// Holds a quota unit.
    pub eip_unit: bool,
    /// State.
    pub state: ReservationState,
    /// Age.
    pub age_seconds: f64,
}

/// Quota view in `/debug/state`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaSnapshot {
    /// Region.
    pub region: String,
    /// Configured quota.
    pub quota: u32,
    /// Allocated (None before the first cloud refresh).
    pub allocated: Option<u32>,
    /// Approved but not yet allocated.
    pub approved_unallocated: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{node, pod};

    fn used(s: &ClusterState, n: &str) -> (u32, u32) {
        s.node(n).map(|e| (e.used, e.reserved)).unwrap_or((0, 0))
    }

    #[test]
    fn used_slots_follow_pod_changes() {
        let mut s = ClusterState::new(20, "r");
        s.apply_node(node("n1").max_ips(10).build());
        s.apply_pod(pod("a").on("n1").build());
        s.apply_pod(pod("b").on("n1").build());
        s.apply_pod(pod("h").on("n1").host_network().build());
        s.apply_pod(pod("pending").build());
        assert_eq!(used(&s, "n1"), (2, 0));
        s.apply_pod(pod("a").on("n1").terminal().build());
        assert_eq!(used(&s, "n1"), (1, 0));
        s.apply_pod(pod("pending").on("n1").build());
        assert_eq!(used(&s, "n1"), (2, 0));
        s.delete_pod("uid-b");
        assert_eq!(used(&s, "n1"), (1, 0));
        assert_eq!(s.node("n1").and_then(NodeEntry::free), Some(9));
    }

    #[test]
    fn pods_before_their_node_are_counted() {
        let mut s = ClusterState::new(20, "r");
        s.apply_pod(pod("a").on("late").build());
        s.apply_node(node("late").max_ips(4).build());
        assert_eq!(s.node("late").and_then(NodeEntry::free), Some(3));
        s.delete_node("late");
        assert_eq!(used(&s, "late"), (1, 0));
        s.delete_pod("uid-a");
        assert!(s.node("late").is_none());
    }

    #[test]
    fn reservation_lives_until_watch_shows_pod() {
        let mut s = ClusterState::new(20, "r");
        s.apply_node(node("n1").max_ips(3).build());
        s.apply_pod(pod("p").with_eip().build());
        assert_eq!(
            s.reserve("uid-p", "n1", true, true),
            ReserveOutcome::Reserved
        );
        assert_eq!(
            s.reserve("uid-p", "n1", true, true),
            ReserveOutcome::AlreadyThere
        );
        assert_eq!(used(&s, "n1"), (0, 1));
        assert_eq!(s.approved_unallocated(), 1);
        s.bind_finished("uid-p", true);
        assert_eq!(
            s.reservation("uid-p").map(|r| r.state),
            Some(ReservationState::Bound)
        );
        // the watch shows the pod: the reservation turns into a used slot, quota unit into pending
        s.apply_pod(pod("p").with_eip().on("n1").build());
        assert_eq!(used(&s, "n1"), (1, 0));
        assert_eq!(s.approved_unallocated(), 1);
        assert_eq!(s.reservation_count(), 0);
        assert_eq!(
            s.reserve("uid-p", "n1", true, true),
            ReserveOutcome::AlreadyThere
        );
        // allocation recorded: no longer pending
        s.apply_pod(pod("p").with_eip().on("n1").allocated("eip-1").build());
        assert_eq!(s.approved_unallocated(), 0);
    }

    #[test]
    fn failed_bind_and_sweep_release() {
        let mut s = ClusterState::new(20, "r");
        s.apply_node(node("n1").max_ips(3).build());
        s.reserve("u1", "n1", true, false);
        s.bind_finished("u1", false);
        assert_eq!(used(&s, "n1"), (0, 0));
        s.reserve("u2", "n1", true, true);
        s.bind_finished("u2", true);
        assert_eq!(s.sweep_reservations(Duration::from_secs(3600)), 0);
        assert_eq!(s.sweep_reservations(Duration::ZERO), 1);
        assert_eq!(used(&s, "n1"), (0, 0));
        assert_eq!(s.approved_unallocated(), 0);
    }

    #[test]
    fn relist_rebuilds_counts() {
        let mut s = ClusterState::new(20, "r");
        s.apply_node(node("n1").max_ips(5).build());
        s.apply_pod(pod("a").on("n1").build());
        s.apply_pod(pod("gone").on("n1").build());
        s.reserve("uid-new", "n1", true, false);
        s.replace_pods(vec![pod("a").on("n1").build(), pod("new").on("n1").build()]);
        assert_eq!(used(&s, "n1"), (2, 0));
        assert_eq!(s.pod_count(), 2);
        s.replace_nodes(vec![node("n2").max_ips(1).build()]);
        assert!(s.node("n1").is_some_and(|e| e.facts.is_none()));
        assert_eq!(s.node_count(), 1);
    }
}
