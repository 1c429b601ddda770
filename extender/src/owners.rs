//! Reading the owner of a pod that names an EIP, for filter: an EIP serves one pod, so a
//! workload that can run more than one is refused before it is scheduled (the policy is
//! eip-core's [`workload`]). In: the pod's controlling owner reference. Out: the owner as
//! read, [`Owner::Unreadable`] when it cannot be (the check fails closed). Answers are
//! kept a few seconds, so a pod retried by the scheduler costs one read, not one per try.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use eip_core::workload::{self, Owner};
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use kube::Api;
use kube::core::NamespaceResourceScope;

/// How long an owner read stays fresh.
pub const OWNER_TTL: Duration = Duration::from_secs(5);

type Key = (String, String, String);

/// The reader and its cache.
pub struct Owners {
    client: kube::Client,
    cache: Mutex<HashMap<Key, (Owner, Instant)>>,
}

impl std::fmt::Debug for Owners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Owners").finish_non_exhaustive()
    }
}

impl Owners {
    /// Reads through `client`.
    pub fn new(client: kube::Client) -> Self {
        Self {
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The owner `kind`/`name` in `namespace`, from the cache while fresh.
    pub async fn read(&self, namespace: &str, kind: &str, name: &str) -> Owner {
        if !workload::must_read(kind) {
            return Owner::by_kind(kind, name);
        }
        let key = (namespace.to_owned(), kind.to_owned(), name.to_owned());
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            cache.retain(|_, (_, at)| at.elapsed() < OWNER_TTL);
            if let Some((owner, _)) = cache.get(&key) {
                return owner.clone();
            }
        }
        let owner = match kind {
            workload::KIND_REPLICA_SET => self
                .get::<ReplicaSet>(namespace, name)
                .await
                .map(|r| Owner::replica_set(&r)),
            workload::KIND_STATEFUL_SET => self
                .get::<StatefulSet>(namespace, name)
                .await
                .map(|s| Owner::stateful_set(&s)),
            _ => self
                .get::<Job>(namespace, name)
                .await
                .map(|j| Owner::job(&j)),
        }
        .unwrap_or_else(|why| Owner::unreadable(kind, name, why));
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, (owner.clone(), Instant::now()));
        owner
    }

    async fn get<K>(&self, namespace: &str, name: &str) -> Result<K, String>
    where
        K: kube::Resource<Scope = NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        match Api::<K>::namespaced(self.client.clone(), namespace)
            .get_opt(name)
            .await
        {
            Ok(Some(k)) => Ok(k),
            Ok(None) => Err("it does not exist".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    }
}
