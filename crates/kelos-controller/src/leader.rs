//! Leader election for running more than one controller replica (`--leader-elect`), on the
//! `coordination.k8s.io/v1` Lease `kelos-controller-leader-election`, with client-go's
//! algorithm and the timings controller-runtime gives the original (15 s / 10 s):
//!
//! * A **candidate** acquires the Lease when it is absent, released (no holder) or expired.
//!   Expiry is judged on the candidate's own monotonic clock: another holder is valid until
//!   `leaseDurationSeconds` after the candidate *observed* the Lease change, never from the
//!   `renewTime` another node's clock wrote, so clock skew between nodes does not matter.
//!   Candidates watch the Lease, so they see renewals and releases as they happen.
//! * **Every write is conditioned** on the resourceVersion it was computed from (an update,
//!   never an apply or a merge patch): of two candidates racing for an expired Lease exactly one
//!   wins, the other gets 409 Conflict and stays a candidate.
//! * The **leader renews every 5 s**. When it has not renewed successfully for 10 s
//!   (`renew_deadline`), or a renewal finds another holder or no Lease, it has lost: it reports
//!   [`Leadership::Lost`] and [`run`] returns an error at once, so the process exits non-zero and
//!   Kubernetes restarts it as a fresh candidate (what controller-runtime does). The 5 s between
//!   `renew_deadline` and `lease_duration` are the margin within which the old leader is gone
//!   before anyone else may take over; a renewal counts from when its request was *sent*.
//! * On a **graceful shutdown** the leader releases the Lease (no holder, 1 s duration) after its
//!   controllers have stopped, so a standby takes over at once instead of after 15 s.
//!
//! The Lease record is client-go's, so a replica of the Go original (controller-runtime, same
//! Lease name) and one of ours exclude each other during a migration.
//!
//! Why not `kube-lease-manager` 0.13.1 (rust-style §3.6), which builds fine with kube 5 and
//! brings no TLS stack: its leadership channel keeps saying "leader" while renewals fail
//! (errors are retried with a backoff of up to 30 s and never flip the state), so a
//! partitioned leader goes on writing after its Lease expired; it judges expiry from the
//! holder's `renewTime` against the local wall clock; and it takes over an expired Lease by an
//! unconditioned patch, which can wipe a slow leader's fresh renewal.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until, timeout};

use crate::error::{Error, Result};
use crate::runner::{self, Options};

/// The Lease's name (the original's `LeaderElectionID`).
pub const LEASE_NAME: &str = "kelos-controller-leader-election";
/// Where the Lease lives when neither the flag nor the pod's namespace says.
pub const DEFAULT_NAMESPACE: &str = "kelos-system";
/// Field manager of the Lease writes.
pub const FIELD_MANAGER: &str = "kelos-controller";
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Where the Lease is, who we are, and the timings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub namespace: String,
    pub name: String,
    /// Our holder identity: `<hostname>-<random>`, unique per process.
    pub identity: String,
    /// `leaseDurationSeconds` of our Lease (whole seconds): how long a candidate waits after
    /// the last change it saw before it may take over.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long has lost (< `lease_duration`).
    pub renew_deadline: Duration,
    /// How often the leader renews (< `renew_deadline`).
    pub renew_period: Duration,
    /// Pause before retrying a failed request, and the longest one request may take.
    pub retry_period: Duration,
}

impl Config {
    /// The defaults: the Lease in `namespace` (else `$POD_NAMESPACE`, else the in-cluster
    /// ServiceAccount's namespace, else `kelos-system`), identity `<hostname>-<random>`, lease
    /// 15 s, renew deadline 10 s, renew every 5 s, retry after 2 s.
    pub fn new(namespace: Option<&str>) -> Config {
        Config {
            namespace: namespace
                .map(str::to_owned)
                .filter(|n| !n.is_empty())
                .unwrap_or_else(default_namespace),
            name: LEASE_NAME.to_owned(),
            identity: default_identity(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            renew_period: Duration::from_secs(5),
            retry_period: Duration::from_secs(2),
        }
    }

    /// The timings must leave the margin the algorithm relies on.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Config(format!("leader election: {what}")));
        if self.namespace.is_empty() || self.name.is_empty() || self.identity.is_empty() {
            return bad("namespace, Lease name and identity must not be empty");
        }
        if self.lease_duration.as_secs() < 1 || self.lease_duration.subsec_nanos() != 0 {
            return bad("the lease duration must be a whole number of seconds >= 1");
        }
        if !(self.renew_period < self.renew_deadline && self.renew_deadline < self.lease_duration) {
            return bad("renew period < renew deadline < lease duration is required");
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return bad("the retry period must be > 0 and < the renew deadline");
        }
        Ok(())
    }

    fn lease_seconds(&self) -> i32 {
        i32::try_from(self.lease_duration.as_secs()).unwrap_or(i32::MAX)
    }
}

/// The namespace of the Lease when no flag names one: `$POD_NAMESPACE` (the chart sets it),
/// the in-cluster ServiceAccount's namespace, else `kelos-system`.
pub fn default_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE).ok())
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}

/// `<hostname>-<8 random hex digits>` (the hostname is the pod's name in Kubernetes).
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "kelos-controller".to_owned());
    format!("{host}-{:08x}", random_u32())
}

fn random_u32() -> u32 {
    use std::io::Read;
    let mut bytes = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u32::from_le_bytes(bytes);
    }
    // No /dev/urandom: the process id and the clock still tell replicas apart.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

/// Where this replica stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// Waiting for the Lease.
    Candidate,
    /// Holding the Lease: the controllers may write.
    Leading,
    /// Was leading and lost the Lease (the reason); the controllers must stop now.
    Lost(String),
}

/// A running election: a background task campaigning for, then renewing, the Lease.
pub struct LeaderElection {
    identity: String,
    state: watch::Receiver<Leadership>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl LeaderElection {
    /// Starts campaigning on the current runtime.
    pub fn start(client: Client, config: Config) -> LeaderElection {
        let (tx, rx) = watch::channel(Leadership::Candidate);
        let (stop_tx, stop_rx) = oneshot::channel();
        let identity = config.identity.clone();
        let elector = Elector {
            api: Api::namespaced(client, &config.namespace),
            config,
            seen: None,
            foreign_until: None,
            acquired_at: None,
        };
        LeaderElection {
            identity,
            state: rx,
            stop: Some(stop_tx),
            task: Some(tokio::spawn(elector.run(tx, stop_rx))),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    pub fn state(&self) -> Leadership {
        self.state.borrow().clone()
    }

    /// Resolves once this replica leads. Never resolves if the election ends without leading.
    pub fn leading(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            if state.wait_for(|s| *s == Leadership::Leading).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Resolves with the reason once leadership is lost (or the election task died).
    pub fn lost(&self) -> impl Future<Output = String> + Send + 'static {
        let mut state = self.state.clone();
        async move {
            match state.wait_for(|s| matches!(s, Leadership::Lost(_))).await {
                Ok(s) => match &*s {
                    Leadership::Lost(reason) => reason.clone(),
                    _ => unreachable!("wait_for returned a state it was not waiting for"),
                },
                Err(_) => "the leader election task ended".to_owned(),
            }
        }
    }

    /// Stops campaigning; a leader gives the Lease up (bounded by the renew deadline).
    pub async fn release(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for LeaderElection {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// `run_main` with `--leader-elect`. The metrics and health servers start at once (a standby
/// replica is live and ready); the Task and TaskSpawner controllers start only once this
/// replica holds the Lease, so only the leader writes. Returns `Ok` after `shutdown` (the
/// controllers stopped, then the Lease released), and an error as soon as leadership is lost:
/// the controllers are aborted on the spot and the caller exits non-zero.
pub async fn run(
    client: Client,
    options: Options,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    config.validate()?;
    tracing::info!(
        identity = %config.identity,
        lease = %format!("{}/{}", config.namespace, config.name),
        "leader election: campaigning; controllers start once this replica holds the Lease"
    );
    let election = LeaderElection::start(client.clone(), config);
    let running = runner::start_gated(client, options, Some(election.leading())).await?;
    tracing::info!(metrics = ?running.metrics_addr, health = ?running.health_addr, "kelos-controller started");
    tokio::select! {
        reason = election.lost() => {
            running.abort();
            return Err(Error::LeaderElection(reason));
        }
        _ = shutdown => {}
    }
    tracing::info!("shutting down");
    tokio::select! {
        _ = running.stop() => {}
        // Dropping the stop future drops (aborts) the controllers.
        reason = election.lost() => return Err(Error::LeaderElection(reason)),
    }
    election.release().await;
    Ok(())
}

/// What a candidate does next.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// Nothing known yet (or a write just conflicted): read the Lease.
    Read,
    /// No Lease and nobody's validity pending: create it, holding it.
    Create,
    /// The Lease is free or expired: take it over, conditioned on its resourceVersion.
    Acquire,
    /// Someone else holds it until then (our clock).
    WaitUntil(Instant),
}

/// The candidate's decision. `seen`: the Lease as last read (`Some(None)`: absent);
/// `foreign_until`: until when the last other holder we saw may hold it.
fn candidate_step(
    seen: &Option<Option<Lease>>,
    foreign_until: Option<Instant>,
    now: Instant,
) -> Step {
    if let Some(until) = foreign_until.filter(|until| now < *until) {
        return Step::WaitUntil(until);
    }
    match seen {
        None => Step::Read,
        Some(None) => Step::Create,
        Some(Some(_)) => Step::Acquire,
    }
}

fn holder(lease: &Lease) -> Option<&str> {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        .filter(|h| !h.is_empty())
}

/// How long `lease` stays valid for `me` from the moment it was observed: `None` when it is
/// free or ours. A missing or non-positive duration counts as `fallback` (ours).
fn foreign_validity(lease: &Lease, me: &str, fallback: Duration) -> Option<Duration> {
    let h = holder(lease)?;
    if h == me {
        return None;
    }
    let secs = lease.spec.as_ref().and_then(|s| s.lease_duration_seconds);
    Some(match secs {
        Some(s) if s > 0 => Duration::from_secs(s as u64),
        _ => fallback,
    })
}

fn now_micro() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// The Lease taken over by `me` (a new one when `current` is `None`).
fn acquired(name: &str, current: Option<&Lease>, me: &str, seconds: i32) -> Lease {
    let mut lease = current.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        spec: None,
    });
    let transitions = match current {
        None => 0,
        Some(_) => lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0)
            .saturating_add(1),
    };
    let now = now_micro();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(me.to_owned());
    spec.lease_duration_seconds = Some(seconds);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    spec.lease_transitions = Some(transitions);
    lease.metadata.managed_fields = None;
    lease
}

/// Our Lease with a fresh `renewTime`.
fn renewed(current: &Lease, me: &str, seconds: i32) -> Lease {
    let mut lease = current.clone();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = Some(me.to_owned());
    spec.lease_duration_seconds = Some(seconds);
    spec.renew_time = Some(now_micro());
    lease.metadata.managed_fields = None;
    lease
}

/// Our Lease given up, as client-go releases it: no holder, a 1 s duration.
fn released(current: &Lease) -> Lease {
    let mut lease = current.clone();
    let now = now_micro();
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.acquire_time = Some(now.clone());
    spec.renew_time = Some(now);
    lease.metadata.managed_fields = None;
    lease
}

fn is_409(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_404(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

type Events = Pin<Box<dyn Stream<Item = watcher::Result<watcher::Event<Lease>>> + Send>>;

enum Failure {
    /// Another writer got there first (409): read again.
    Conflict,
    Other(String),
}

struct Elector {
    api: Api<Lease>,
    config: Config,
    /// The Lease as last read or watched; `Some(None)`: it does not exist.
    seen: Option<Option<Lease>>,
    /// Until when the last other holder we saw may hold the Lease (our monotonic clock).
    foreign_until: Option<Instant>,
    /// When the request that acquired the Lease was sent.
    acquired_at: Option<Instant>,
}

impl Elector {
    async fn run(mut self, state: watch::Sender<Leadership>, mut stop: oneshot::Receiver<()>) {
        let fields = format!("metadata.name={}", self.config.name);
        let events: Events = Box::pin(
            watcher(self.api.clone(), watcher::Config::default().fields(&fields)).default_backoff(),
        );
        let started = Instant::now();
        let Some(lease) = self.campaign(events, &mut stop).await else {
            return;
        };
        tracing::info!(
            identity = %self.config.identity,
            waited_ms = started.elapsed().as_millis() as u64,
            "leader election: acquired the Lease; this replica leads"
        );
        let _ = state.send(Leadership::Leading);
        // Counted from before the request that acquired it (see `campaign`).
        let since = self.acquired_at.take().unwrap_or(started);
        if let Some(reason) = self.lead(lease, since, &mut stop).await {
            tracing::error!(identity = %self.config.identity, %reason, "leader election: lost the Lease; stopping");
            let _ = state.send(Leadership::Lost(reason));
        }
    }

    /// Until the Lease is ours (returned) or we are told to stop (`None`).
    async fn campaign(
        &mut self,
        mut events: Events,
        stop: &mut oneshot::Receiver<()>,
    ) -> Option<Lease> {
        let mut waiting_for: Option<String> = None;
        loop {
            let now = Instant::now();
            let wake = match candidate_step(&self.seen, self.foreign_until, now) {
                Step::Read => match self.read().await {
                    Ok(()) => continue,
                    Err(e) => {
                        tracing::warn!(error = %e, "leader election: reading the Lease failed");
                        now + self.config.retry_period
                    }
                },
                Step::Create | Step::Acquire => match self.take_over().await {
                    Ok(lease) => return Some(lease),
                    Err(Failure::Conflict) => {
                        self.seen = None;
                        continue;
                    }
                    Err(Failure::Other(e)) => {
                        tracing::warn!(error = %e, "leader election: acquiring the Lease failed");
                        now + self.config.retry_period
                    }
                },
                Step::WaitUntil(until) => {
                    let h = self.seen_holder();
                    if waiting_for != h {
                        tracing::info!(
                            holder = h.as_deref().unwrap_or(""),
                            "leader election: the Lease is held by another replica; standing by"
                        );
                        waiting_for = h;
                    }
                    until
                }
            };
            tokio::select! {
                biased;
                _ = &mut *stop => return None,
                event = events.next() => self.on_event(event),
                _ = sleep_until(wake) => {}
            }
        }
    }

    fn seen_holder(&self) -> Option<String> {
        self.seen
            .as_ref()
            .and_then(|l| l.as_ref())
            .and_then(holder)
            .map(str::to_owned)
    }

    fn on_event(&mut self, event: Option<watcher::Result<watcher::Event<Lease>>>) {
        match event {
            Some(Ok(watcher::Event::Apply(l) | watcher::Event::InitApply(l))) => {
                self.observe(Some(l))
            }
            Some(Ok(watcher::Event::Delete(_))) => self.observe(None),
            Some(Ok(watcher::Event::Init | watcher::Event::InitDone)) => {}
            Some(Err(e)) => tracing::debug!(error = %e, "leader election: watching the Lease"),
            None => {}
        }
    }

    /// Records what the Lease looks like now. A change (a new resourceVersion) restarts the
    /// validity of its holder from now; a deletion keeps the last holder's validity.
    fn observe(&mut self, lease: Option<Lease>) {
        let rv = |l: &Option<Lease>| l.as_ref().and_then(|l| l.metadata.resource_version.clone());
        let changed = match &self.seen {
            None => true,
            Some(before) => rv(before) != rv(&lease),
        };
        if changed && let Some(l) = &lease {
            self.foreign_until =
                foreign_validity(l, &self.config.identity, self.config.lease_duration)
                    .map(|d| Instant::now() + d);
        }
        self.seen = Some(lease);
    }

    async fn read(&mut self) -> std::result::Result<(), String> {
        match timeout(
            self.config.retry_period,
            self.api.get_opt(&self.config.name),
        )
        .await
        {
            Ok(Ok(lease)) => {
                self.observe(lease);
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }

    /// Creates the Lease or takes it over, conditioned on what we saw.
    async fn take_over(&mut self) -> std::result::Result<Lease, Failure> {
        let seconds = self.config.lease_seconds();
        let current = self.seen.as_ref().and_then(|l| l.as_ref());
        let lease = acquired(&self.config.name, current, &self.config.identity, seconds);
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let sent = Instant::now();
        let write = async {
            match current {
                None => self.api.create(&params, &lease).await,
                Some(_) => self.api.replace(&self.config.name, &params, &lease).await,
            }
        };
        match timeout(self.config.retry_period, write).await {
            Ok(Ok(lease)) => {
                self.acquired_at = Some(sent);
                Ok(lease)
            }
            Ok(Err(e)) if is_409(&e) => Err(Failure::Conflict),
            Ok(Err(e)) => Err(Failure::Other(e.to_string())),
            Err(_) => Err(Failure::Other("timed out".to_owned())),
        }
    }

    /// Renews until told to stop (`None`, after releasing the Lease) or until the Lease is
    /// lost (`Some(reason)`). `since`: when the last successful write was sent.
    async fn lead(
        &mut self,
        mut lease: Lease,
        mut since: Instant,
        stop: &mut oneshot::Receiver<()>,
    ) -> Option<String> {
        let me = self.config.identity.clone();
        let seconds = self.config.lease_seconds();
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        loop {
            tokio::select! {
                biased;
                _ = &mut *stop => {
                    self.release(&lease).await;
                    return None;
                }
                _ = sleep_until(since + self.config.renew_period) => {}
            }
            // Renew, retrying until it works or the renew deadline passes.
            let deadline = since + self.config.renew_deadline;
            loop {
                let attempt = Instant::now();
                if attempt >= deadline {
                    return Some(format!(
                        "could not renew the Lease within {:?}",
                        self.config.renew_deadline
                    ));
                }
                let next = renewed(&lease, &me, seconds);
                let write = self.api.replace(&self.config.name, &params, &next);
                let failure = match timeout(deadline - attempt, write).await {
                    Err(_) => continue,
                    Ok(Ok(fresh)) => {
                        lease = fresh;
                        since = attempt;
                        break;
                    }
                    Ok(Err(e)) if is_404(&e) => return Some("the Lease was deleted".to_owned()),
                    Ok(Err(e)) if is_409(&e) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        match timeout(left, self.api.get_opt(&self.config.name)).await {
                            Ok(Ok(Some(fresh))) if holder(&fresh) == Some(me.as_str()) => {
                                // Changed by someone else, still ours: renew on top of it.
                                lease = fresh;
                                continue;
                            }
                            Ok(Ok(Some(fresh))) => {
                                return Some(format!(
                                    "the Lease is now held by {:?}",
                                    holder(&fresh).unwrap_or("")
                                ));
                            }
                            Ok(Ok(None)) => return Some("the Lease was deleted".to_owned()),
                            Ok(Err(e)) => e.to_string(),
                            Err(_) => continue,
                        }
                    }
                    Ok(Err(e)) => e.to_string(),
                };
                tracing::warn!(error = %failure, "leader election: renewing the Lease failed; retrying");
                let left = deadline.saturating_duration_since(Instant::now());
                sleep(self.config.retry_period.min(left)).await;
            }
        }
    }

    /// Gives the Lease up so a standby takes over at once. Best effort: on a conflict someone
    /// else already has it; on an error it expires by itself.
    async fn release(&self, lease: &Lease) {
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..Default::default()
        };
        let gone = released(lease);
        let write = self.api.replace(&self.config.name, &params, &gone);
        match timeout(self.config.retry_period, write).await {
            Ok(Ok(_)) => tracing::info!("leader election: released the Lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election: releasing the Lease failed"),
            Err(_) => tracing::warn!("leader election: releasing the Lease timed out"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(holder: Option<&str>, seconds: Option<i32>, rv: &str) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some(LEASE_NAME.into()),
                resource_version: Some(rv.into()),
                ..Default::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_owned),
                lease_duration_seconds: seconds,
                lease_transitions: Some(3),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn defaults_are_the_originals_timings() {
        let c = Config::new(Some("ops"));
        assert_eq!(c.namespace, "ops");
        assert_eq!(c.name, "kelos-controller-leader-election");
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.renew_period, Duration::from_secs(5));
        c.validate().unwrap();
        // `<hostname>-<8 hex digits>`, different per call.
        let (host, suffix) = c.identity.rsplit_once('-').unwrap();
        assert!(!host.is_empty());
        assert_eq!(suffix.len(), 8);
        assert!(suffix.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(default_identity(), default_identity());
        assert!(!Config::new(Some("")).namespace.is_empty());
    }

    #[test]
    fn timings_without_margin_are_rejected() {
        let ok = Config::new(Some("ns"));
        for bad in [
            Config {
                renew_deadline: ok.lease_duration,
                ..ok.clone()
            },
            Config {
                renew_period: ok.renew_deadline,
                ..ok.clone()
            },
            Config {
                retry_period: Duration::ZERO,
                ..ok.clone()
            },
            Config {
                lease_duration: Duration::from_millis(15_500),
                ..ok.clone()
            },
            Config {
                identity: String::new(),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn candidate_steps() {
        let now = Instant::now();
        let later = now + Duration::from_secs(3);
        let held = Some(Some(lease(Some("other"), Some(15), "1")));
        assert_eq!(candidate_step(&None, None, now), Step::Read);
        assert_eq!(candidate_step(&Some(None), None, now), Step::Create);
        assert_eq!(
            candidate_step(&held, Some(later), now),
            Step::WaitUntil(later)
        );
        // Expired on our clock: take over.
        assert_eq!(candidate_step(&held, Some(now), now), Step::Acquire);
        assert_eq!(candidate_step(&held, None, now), Step::Acquire);
        // Deleted while a holder's validity is pending: still wait.
        assert_eq!(
            candidate_step(&Some(None), Some(later), now),
            Step::WaitUntil(later)
        );
    }

    #[test]
    fn validity_is_the_holders_duration_unless_free_or_ours() {
        let fallback = Duration::from_secs(15);
        let v = |l: &Lease| foreign_validity(l, "me", fallback);
        assert_eq!(
            v(&lease(Some("other"), Some(30), "1")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(v(&lease(Some("other"), None, "1")), Some(fallback));
        assert_eq!(v(&lease(Some("other"), Some(0), "1")), Some(fallback));
        assert_eq!(v(&lease(Some(""), Some(15), "1")), None);
        assert_eq!(v(&lease(None, Some(1), "1")), None);
        assert_eq!(v(&lease(Some("me"), Some(15), "1")), None);
    }

    #[test]
    fn writes_keep_the_resource_version_and_count_transitions() {
        let current = lease(Some("other"), Some(30), "42");
        let a = acquired(LEASE_NAME, Some(&current), "me", 15);
        assert_eq!(a.metadata.resource_version.as_deref(), Some("42"));
        let s = a.spec.as_ref().unwrap();
        assert_eq!(s.holder_identity.as_deref(), Some("me"));
        assert_eq!(s.lease_duration_seconds, Some(15));
        assert_eq!(s.lease_transitions, Some(4));
        assert!(s.acquire_time.is_some() && s.renew_time.is_some());

        let new = acquired(LEASE_NAME, None, "me", 15);
        assert_eq!(new.metadata.name.as_deref(), Some(LEASE_NAME));
        assert_eq!(new.metadata.resource_version, None);
        assert_eq!(new.spec.unwrap().lease_transitions, Some(0));

        let r = renewed(&a, "me", 15);
        assert_eq!(r.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(r.spec.as_ref().unwrap().lease_transitions, Some(4));
        assert_eq!(r.spec.as_ref().unwrap().acquire_time, s.acquire_time);

        let g = released(&r);
        assert_eq!(g.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(holder(&g), None);
        assert_eq!(g.spec.unwrap().lease_duration_seconds, Some(1));
    }
}
