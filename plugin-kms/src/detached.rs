//! KMS calls that run to their end on a task of their own, so that what KMS answers reaches the
//! health state and the decrypt cache even when every request that wanted it has given up.
//!
//! kube-apiserver calls the plugin with a deadline (its KMS `timeout`, 3 s by default), and the
//! server drops a request's future when that deadline passes. A KMS call made inside the request
//! would be dropped with it: its outcome would never be recorded (health stays "ok" while every
//! request fails) and its answer never cached (a retry starts from zero, so a KMS slower than the
//! deadline never serves a cold read). Here the call runs on its own task and its answer is kept
//! in a [`Pending`] that any number of requests wait on, each for at most `--kms-timeout`.
//!
//! The work a task can do is bounded: it waits for one of the `--kms-max-in-flight` slots like
//! any call and ends, slot wait included, within [`CALL_TIMEOUT`]. Its outcome is reported once
//! ([`Evidence`]): `Slow` as soon as KMS has taken longer than `--kms-timeout` since the call got
//! its slot (a KMS slower than the apiserver's deadline is not healthy, whatever it answers
//! later), else the answer itself, with whether any request was still waiting for it.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::catalogue;
use crate::error::PluginError;
use crate::kms::{CALL_TIMEOUT, Kms, Slot};

/// What a finished or slow call tells about KMS.
#[derive(Debug)]
pub enum Evidence<'a, T> {
    /// KMS has not answered within `--kms-timeout` (the value) of the call's start (its slot);
    /// reported at that moment. Nothing else is reported for the call.
    Slow(Duration),
    /// KMS answered within `--kms-timeout`.
    Answered {
        /// The answer.
        result: &'a Result<T, PluginError>,
        /// Whether a request was still waiting for it (else every caller had given up).
        heard: bool,
    },
}

/// Where a call is.
#[derive(Debug, Clone)]
enum State<T> {
    /// Waiting for a slot, or asking KMS within `--kms-timeout`.
    Running,
    /// Asking KMS for longer than `--kms-timeout` (the value).
    Slow(Duration),
    /// Answered (or ended at [`CALL_TIMEOUT`]).
    Done(Result<T, PluginError>),
}

/// The answer of a call in flight, or made: wait on it with [`Pending::answer`]. Clones wait on
/// the same call.
#[derive(Debug, Clone)]
pub struct Pending<T>(watch::Receiver<State<T>>);

impl<T> Pending<T> {
    /// Whether the call can still answer: false once its task ended without answering (it
    /// panicked, or the runtime is shutting down), so that nobody joins it any longer.
    pub fn is_alive(&self) -> bool {
        self.0.has_changed().is_ok()
    }
}

impl<T: Clone> Pending<T> {
    /// The call's answer. A request that was waiting when the call became slow is answered
    /// `UNAVAILABLE` at that moment (the apiserver's deadline is near; the call goes on without
    /// it); one that joins a call already slow waits for its answer, as long as its own deadline
    /// allows. The wait for a slot is bounded by the caller's deadline and, for the call, by
    /// [`CALL_TIMEOUT`].
    pub async fn answer(mut self) -> Result<T, PluginError> {
        let joined_slow = matches!(*self.0.borrow_and_update(), State::Slow(_));
        let waited = self
            .0
            .wait_for(|state| match state {
                State::Running => false,
                State::Slow(_) => !joined_slow,
                State::Done(_) => true,
            })
            .await;
        match waited.as_deref() {
            Ok(State::Done(answer)) => answer.clone(),
            Ok(State::Slow(wait)) => Err(PluginError::Unavailable {
                reason: catalogue::no_answer_within(wait).to_string(),
            }),
            Ok(State::Running) | Err(_) => Err(PluginError::Unavailable {
                reason: "shutting down".into(),
            }),
        }
    }
}

/// Starts `call` on its own task, in a KMS slot, and returns its [`Pending`] answer. When the
/// call ends, `settle` runs first (keep the answer, forget the flight), then the answer is handed
/// to the waiting requests, then `report` learns what it says about KMS. `slow` is
/// `--kms-timeout`.
pub fn spawn<T, C, Fut, S, R>(
    kms: &Kms,
    slow: Duration,
    call: C,
    settle: S,
    report: R,
) -> Pending<T>
where
    T: Clone + Send + Sync + 'static,
    C: FnOnce(Kms, Slot) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, PluginError>> + Send + 'static,
    S: FnOnce(&Result<T, PluginError>) + Send + 'static,
    R: FnMut(Evidence<'_, T>) + Send + 'static,
{
    let (state, pending) = watch::channel(State::Running);
    let kms = kms.clone();
    tokio::spawn(run(kms, slow, call, settle, report, state));
    Pending(pending)
}

async fn run<T, C, Fut, S, R>(
    kms: Kms,
    slow: Duration,
    call: C,
    settle: S,
    mut report: R,
    state: watch::Sender<State<T>>,
) where
    T: Clone,
    C: FnOnce(Kms, Slot) -> Fut,
    Fut: Future<Output = Result<T, PluginError>>,
    S: FnOnce(&Result<T, PluginError>),
    R: FnMut(Evidence<'_, T>),
{
    let deadline = Instant::now() + CALL_TIMEOUT;
    let mut late = false;
    let result = tokio::time::timeout_at(deadline, async {
        let slot = kms.slot().await?;
        let call = call(kms, slot);
        tokio::pin!(call);
        match tokio::time::timeout(slow, &mut call).await {
            Ok(result) => result,
            Err(_) => {
                late = true;
                // Recorded before the waiting requests are answered, so that what they are
                // told and what `Status` says agree.
                report(Evidence::Slow(slow));
                state.send_replace(State::Slow(slow));
                call.await
            }
        }
    })
    .await
    .unwrap_or_else(|_| {
        Err(PluginError::Unavailable {
            reason: "timeout".into(),
        })
    });
    settle(&result);
    let heard = state.send(State::Done(result.clone())).is_ok();
    if !late {
        report(Evidence::Answered {
            result: &result,
            heard,
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    use prometheus_client::registry::Registry;
    use std::sync::{Arc, Mutex};

    /// A client that is never called: the calls under test are fakes that hold a slot.
    pub(crate) fn kms(slots: usize) -> Kms {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .build();
        Kms::new(
            aws_sdk_kms::Client::from_conf(config),
            Metrics::register(&mut Registry::default()),
            slots,
        )
    }

    type Log = Arc<Mutex<Vec<String>>>;

    fn recorder(log: &Log) -> impl FnMut(Evidence<'_, u8>) + Send + 'static {
        let log = log.clone();
        move |evidence| {
            let line = match evidence {
                Evidence::Slow(_) => "slow".to_owned(),
                Evidence::Answered { result, heard } => format!("{result:?} heard={heard}"),
            };
            log.lock().expect("log").push(line);
        }
    }

    fn after(
        secs: u64,
        value: u8,
    ) -> impl FnOnce(
        Kms,
        Slot,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<u8, PluginError>> + Send>>
    + Send
    + 'static {
        move |_, _slot| {
            Box::pin(async move {
                tokio::time::sleep(Duration::from_secs(secs)).await;
                Ok(value)
            })
        }
    }

    /// The caller's deadline (the apiserver's KMS `timeout`).
    async fn within(secs: u64, pending: Pending<u8>) -> Option<Result<u8, PluginError>> {
        tokio::time::timeout(Duration::from_secs(secs), pending.answer())
            .await
            .ok()
    }

    #[tokio::test(start_paused = true)]
    async fn the_answer_is_settled_and_reported_after_every_caller_gave_up() {
        let log = Log::default();
        let settled = Arc::new(Mutex::new(None));
        let keep = settled.clone();
        let pending = spawn(
            &kms(4),
            Duration::from_secs(3),
            after(2, 7),
            move |r: &Result<u8, PluginError>| *keep.lock().expect("keep") = Some(r.clone()),
            recorder(&log),
        );
        assert_eq!(within(1, pending).await, None, "the caller gives up");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            *settled.lock().expect("settled"),
            Some(Ok(7)),
            "kept for the retry"
        );
        assert_eq!(
            *log.lock().expect("log"),
            ["Ok(7) heard=false"],
            "abandoned is evidence"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_call_is_reported_before_its_callers_are_answered_and_only_then() {
        let log = Log::default();
        let pending = spawn(
            &kms(4),
            Duration::from_secs(2),
            after(5, 1),
            |_| {},
            recorder(&log),
        );
        let waiting = within(10, pending.clone()).await;
        assert!(
            matches!(&waiting, Some(Err(PluginError::Unavailable { reason })) if reason.contains("2s")),
            "{waiting:?}"
        );
        assert_eq!(*log.lock().expect("log"), ["slow"], "recorded first");
        assert_eq!(
            within(10, pending).await,
            Some(Ok(1)),
            "a request joining later waits"
        );
        tokio::task::yield_now().await;
        assert_eq!(
            *log.lock().expect("log"),
            ["slow"],
            "a late answer is no success"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_in_time_is_heard_and_a_hung_call_ends_within_the_bound() {
        let log = Log::default();
        let pending = spawn(
            &kms(4),
            Duration::from_secs(2),
            after(1, 3),
            |_| {},
            recorder(&log),
        );
        assert_eq!(within(3, pending).await, Some(Ok(3)));
        tokio::task::yield_now().await;
        assert_eq!(*log.lock().expect("log"), ["Ok(3) heard=true"]);

        let settled = Arc::new(Mutex::new(None));
        let keep = settled.clone();
        let start = Instant::now();
        let hung = spawn(
            &kms(1),
            Duration::from_secs(2),
            after(3600, 0),
            move |r: &Result<u8, PluginError>| {
                *keep.lock().expect("keep") = Some((r.is_err(), Instant::now()))
            },
            |_| {},
        );
        drop(hung);
        tokio::time::sleep(CALL_TIMEOUT * 2).await;
        let (failed, at) = settled.lock().expect("settled").expect("ended");
        assert!(
            failed && at - start <= CALL_TIMEOUT,
            "ended within CALL_TIMEOUT"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_wait_for_a_slot_and_slow_counts_from_the_slot() {
        let log = Log::default();
        let kms = kms(1);
        let first = spawn(&kms, Duration::from_secs(2), after(1, 1), |_| {}, |_| {});
        let second = spawn(
            &kms,
            Duration::from_millis(1500),
            after(1, 2),
            |_| {},
            recorder(&log),
        );
        assert_eq!(within(5, first).await, Some(Ok(1)));
        assert_eq!(within(5, second).await, Some(Ok(2)));
        tokio::task::yield_now().await;
        assert_eq!(
            *log.lock().expect("log"),
            ["Ok(2) heard=true"],
            "queued 1 s, answered 1 s later: not slow"
        );
    }
}
