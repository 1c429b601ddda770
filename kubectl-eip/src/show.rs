//! `kubectl eip show`: reads pods, PodEIPs and events, and prints [`EipList`] as a table,
//! JSON, YAML or names; with `--watch`, prints rows again as they change.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use eip_core::podeip::PodEIP;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};

use crate::cli::{Global, Output, ShowArgs};
use crate::connect::Kube;
use crate::error::{Call, Error};
use crate::list::{self, EipItem, EipList, NONE, State};
use crate::table::{self, Paint};
use crate::target::{self, Kind, Target};

/// The resource name of PodEIPs, for messages.
pub fn podeips_resource() -> String {
    format!("podeips.{}", eip_core::podeip::GROUP)
}

/// Reads what `show` shows: the target's pods (or every pod of the namespace, or of all with
/// `-A`), filtered by `-l`.
pub async fn collect(
    kube: &Kube,
    target: Option<&Target>,
    selector: Option<&str>,
) -> Result<Vec<EipItem>, Error> {
    let ns = match target {
        Some(_) => Some(kube.namespace.as_str()),
        None => kube.list_namespace(),
    };
    let (pods, include_orphans) = match target {
        Some(t) if t.kind == Kind::Pod => {
            let mut lp = ListParams::default().fields(&format!("metadata.name={}", t.name));
            if let Some(s) = selector {
                lp = lp.labels(s);
            }
            (list_pods(kube, ns, &lp).await?, selector.is_none())
        }
        Some(t) => (
            target::pods_of(kube, t, &kube.namespace, selector).await?,
            false,
        ),
        None => {
            let mut lp = ListParams::default();
            if let Some(s) = selector {
                lp = lp.labels(s);
            }
            (list_pods(kube, ns, &lp).await?, selector.is_none())
        }
    };
    let podeips = list_podeips(kube, ns).await?;
    let events = list_events(kube, ns).await?;
    let mut items = list::build(&pods, &podeips, &events, include_orphans);
    if let Some(t) = target.filter(|t| t.kind == Kind::Pod) {
        items.retain(|i| i.name == t.name);
        if items.is_empty() && pods.is_empty() {
            return Err(Error::NotFound {
                what: format!("pod {:?}", t.name),
                namespace: Some(kube.namespace.clone()),
            });
        }
    }
    Ok(items)
}

async fn list_pods(kube: &Kube, ns: Option<&str>, lp: &ListParams) -> Result<Vec<Pod>, Error> {
    let api: Api<Pod> = match ns {
        Some(ns) => Api::namespaced(kube.client.clone(), ns),
        None => Api::all(kube.client.clone()),
    };
    Ok(api
        .list(lp)
        .await
        .map_err(kube.err(Call::new("list", "pods").in_namespace(ns)))?
        .items)
}

/// PodEIPs in `ns` (all with `None`); a missing CRD is [`Error::CrdMissing`].
pub async fn list_podeips(kube: &Kube, ns: Option<&str>) -> Result<Vec<PodEIP>, Error> {
    let api: Api<PodEIP> = match ns {
        Some(ns) => Api::namespaced(kube.client.clone(), ns),
        None => Api::all(kube.client.clone()),
    };
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(kube.err(Call::new("list", podeips_resource()).in_namespace(ns)))?
        .items)
}

/// Events in `ns` (all with `None`).
pub async fn list_events(kube: &Kube, ns: Option<&str>) -> Result<Vec<Event>, Error> {
    let api: Api<Event> = match ns {
        Some(ns) => Api::namespaced(kube.client.clone(), ns),
        None => Api::all(kube.client.clone()),
    };
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(kube.err(Call::new("list", "events").in_namespace(ns)))?
        .items)
}

/// How rows are printed.
#[derive(Debug, Clone, Copy)]
pub struct Format {
    /// `-o`.
    pub output: Output,
    /// `-A`: a NAMESPACE column.
    pub namespaces: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// Colour the STATUS column.
    pub colour: bool,
}

impl Format {
    /// From the global flags.
    pub fn of(g: &Global) -> Self {
        Self {
            output: g.output,
            namespaces: g.all_namespaces,
            no_headers: g.no_headers,
            colour: table::colour_stdout(),
        }
    }
}

const HEADER: [&str; 8] = [
    "NAME",
    "NODE",
    "POD-IP",
    "EIP",
    "ALLOCATION-ID",
    "BANDWIDTH",
    "STATUS",
    "AGE",
];
const WIDE: [&str; 5] = ["ISP", "CHARGE-TYPE", "RELEASE", "ENI", "PHASE"];

fn or_none(v: Option<&String>) -> String {
    v.cloned().unwrap_or_else(|| NONE.to_owned())
}

fn paint_of(state: State) -> Paint {
    match state {
        State::Bound => Paint::Green,
        State::Pending | State::Retained | State::Releasing => Paint::Yellow,
        State::Failed | State::Unschedulable => Paint::Red,
    }
}

fn row(i: &EipItem, f: Format, now: jiff::Timestamp) -> Vec<String> {
    let mut r = Vec::new();
    if f.namespaces {
        r.push(i.namespace.clone());
    }
    let created = i
        .creation_timestamp
        .as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok());
    r.extend([
        i.name.clone(),
        or_none(i.node.as_ref()),
        or_none(i.pod_ip.as_ref()),
        or_none(i.eip_address.as_ref()),
        or_none(i.allocation_id.as_ref()),
        list::bandwidth_text(i.bandwidth_mbps),
        table::paint(&i.status, paint_of(i.state), f.colour),
        table::age(created.as_ref(), now),
    ]);
    if f.output == Output::Wide {
        r.extend([
            or_none(i.isp.as_ref()),
            or_none(i.internet_charge_type.as_ref()),
            or_none(i.release_strategy.as_ref()),
            or_none(i.eni.as_ref()),
            or_none(i.phase.as_ref()),
        ]);
    }
    r
}

fn header(f: Format) -> Vec<&'static str> {
    let mut h = Vec::new();
    if f.namespaces {
        h.push("NAMESPACE");
    }
    h.extend(HEADER);
    if f.output == Output::Wide {
        h.extend(WIDE);
    }
    h
}

/// The text `show` prints on stdout for `items`.
pub fn render(items: &[EipItem], f: Format, now: jiff::Timestamp) -> Result<String, Error> {
    match f.output {
        Output::Json => {
            let mut s = serde_json::to_string_pretty(&EipList::new(items.to_vec()))
                .map_err(|e| Error::Failed(format!("failed to write JSON: {e}")))?;
            s.push('\n');
            Ok(s)
        }
        Output::Yaml => serde_saphyr::to_string(&EipList::new(items.to_vec()))
            .map_err(|e| Error::Failed(format!("failed to write YAML: {e}"))),
        Output::Name => Ok(items.iter().map(|i| format!("pod/{}\n", i.name)).collect()),
        Output::Table | Output::Wide => {
            let rows: Vec<Vec<String>> = items.iter().map(|i| row(i, f, now)).collect();
            let h = header(f);
            Ok(table::render(
                (!f.no_headers).then_some(h.as_slice()),
                &rows,
            ))
        }
    }
}

/// kubectl's "No resources found" line, for stderr.
pub fn nothing_found(kube: &Kube, namespaced: bool) -> String {
    if namespaced && !kube.all_namespaces {
        format!("No EIP requests found in {} namespace.", kube.namespace)
    } else {
        "No EIP requests found.".to_owned()
    }
}

/// `kubectl eip show`.
pub async fn run(
    kube: &Kube,
    g: &Global,
    args: &ShowArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Error> {
    let target = args
        .target
        .as_deref()
        .map(|t| Target::parse(t, "show"))
        .transpose()?;
    if target.is_some() && g.all_namespaces {
        return Err(Error::usage(
            "show",
            "a TARGET is looked up in one namespace; use -n instead of -A",
        ));
    }
    let f = Format::of(g);
    let mut items = collect(kube, target.as_ref(), g.selector.as_deref()).await?;
    let now = jiff::Timestamp::now();
    if items.is_empty() && matches!(f.output, Output::Table | Output::Wide | Output::Name) {
        writeln!(err, "{}", nothing_found(kube, true)).map_err(Error::Output)?;
    } else {
        out.write_all(render(&items, f, now)?.as_bytes())
            .map_err(Error::Output)?;
    }
    out.flush().map_err(Error::Output)?;
    if !args.watch {
        return Ok(());
    }
    let watch_format = Format {
        no_headers: true,
        ..f
    };
    let mut last: BTreeMap<String, String> =
        items.iter().map(|i| (i.key(), signature(i))).collect();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        items = collect(kube, target.as_ref(), g.selector.as_deref()).await?;
        let changed: Vec<EipItem> = items
            .iter()
            .filter(|i| last.get(&i.key()) != Some(&signature(i)))
            .cloned()
            .collect();
        last = items.iter().map(|i| (i.key(), signature(i))).collect();
        if changed.is_empty() {
            continue;
        }
        let text = match f.output {
            Output::Json | Output::Yaml => changed
                .iter()
                .map(|i| match f.output {
                    Output::Json => serde_json::to_string_pretty(i)
                        .map(|s| s + "\n")
                        .map_err(|e| e.to_string()),
                    _ => serde_saphyr::to_string(i)
                        .map(|s| format!("---\n{s}"))
                        .map_err(|e| e.to_string()),
                })
                .collect::<Result<String, String>>()
                .map_err(|e| Error::Failed(format!("failed to write the output: {e}")))?,
            _ => render(&changed, watch_format, jiff::Timestamp::now())?,
        };
        out.write_all(text.as_bytes()).map_err(Error::Output)?;
        out.flush().map_err(Error::Output)?;
    }
}

/// What makes a row worth printing again under `--watch` (everything but its age).
fn signature(i: &EipItem) -> String {
    serde_json::to_string(&EipItem {
        creation_timestamp: None,
        ..i.clone()
    })
    .unwrap_or_default()
}
