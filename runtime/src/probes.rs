//! What the admin port's probes mean, the same in both binaries:
//!
//! * `/livez`: the process serves. 200 while the gRPC server runs and its socket path accepts
//!   a connection; a failure means only a restart can help. Nothing outside the process (AWS,
//!   a key's state) ever fails it, because a restart would not fix that and would lose caches.
//! * `/readyz`: the process can do its job. 503 from the moment shutdown begins, else the
//!   binary's own check: the provider's socket answers `Version`, the KMS plugin's KMS health.
//! * `/healthz`: the same as `/readyz`, kept for the probes and scripts that already use it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::admin::Probe;

/// How long `/livez` waits for the socket to accept a connection.
pub const LIVENESS_TIMEOUT: Duration = Duration::from_secs(2);

/// Whether the gRPC server runs, and whether it is draining.
#[derive(Debug, Default)]
pub struct ServingState {
    serving: AtomicBool,
    draining: AtomicBool,
}

impl ServingState {
    /// The server is accepting requests.
    pub fn started(&self) {
        self.serving.store(true, Ordering::SeqCst);
    }

    /// Shutdown began: no new work.
    pub fn draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// The server has stopped.
    pub fn stopped(&self) {
        self.serving.store(false, Ordering::SeqCst);
    }

    fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// The three probe routes, given the binary's readiness check.
pub fn routes(
    state: Arc<ServingState>,
    socket: PathBuf,
    readiness: Arc<dyn Probe>,
) -> Vec<(&'static str, Arc<dyn Probe>)> {
    let live_state = state.clone();
    let livez: Arc<dyn Probe> = Arc::new(move || {
        let serving = live_state.is_serving();
        let socket = socket.clone();
        async move {
            if !serving {
                return Err(crate::catalogue::not_serving());
            }
            accepts(socket).await
        }
    });
    let readyz: Arc<dyn Probe> = Arc::new(Ready { state, readiness });
    vec![
        ("/livez", livez),
        ("/readyz", readyz.clone()),
        ("/healthz", readyz),
    ]
}

struct Ready {
    state: Arc<ServingState>,
    readiness: Arc<dyn Probe>,
}

impl Probe for Ready {
    fn check(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.state.is_draining() {
                return Err(crate::catalogue::shutting_down());
            }
            if !self.state.is_serving() {
                return Err(crate::catalogue::not_serving());
            }
            self.readiness.check().await
        })
    }
}

/// Whether the socket path accepts a connection (the file is there and a listener is bound).
async fn accepts(socket: PathBuf) -> Result<(), String> {
    match tokio::time::timeout(LIVENESS_TIMEOUT, tokio::net::UnixStream::connect(&socket)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(crate::catalogue::socket_refused(socket.display(), e)),
        Err(_) => Err(crate::catalogue::socket_slow(
            socket.display(),
            &LIVENESS_TIMEOUT,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answers(routes: &[(&'static str, Arc<dyn Probe>)]) -> Vec<(&'static str, bool)> {
        let mut out = Vec::new();
        for (path, probe) in routes {
            out.push((*path, probe.check().await.is_ok()));
        }
        out
    }

    #[tokio::test]
    async fn liveness_is_the_socket_and_readiness_the_job() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("s.sock");
        let _listener = tokio::net::UnixListener::bind(&socket).expect("bind");
        let state = Arc::new(ServingState::default());
        let job_ok = Arc::new(AtomicBool::new(false));
        let job = job_ok.clone();
        let readiness: Arc<dyn Probe> = Arc::new(move || {
            let ok = job.load(Ordering::SeqCst);
            async move {
                if ok {
                    Ok(())
                } else {
                    Err("kms down".to_owned())
                }
            }
        });
        let routes = routes(state.clone(), socket.clone(), readiness);

        assert_eq!(
            answers(&routes).await,
            [("/livez", false), ("/readyz", false), ("/healthz", false)]
        );
        state.started();
        assert_eq!(
            answers(&routes).await,
            [("/livez", true), ("/readyz", false), ("/healthz", false)],
            "a failing job is not a reason to restart"
        );
        job_ok.store(true, Ordering::SeqCst);
        assert_eq!(
            answers(&routes).await,
            [("/livez", true), ("/readyz", true), ("/healthz", true)]
        );
        state.draining();
        assert_eq!(
            answers(&routes).await,
            [("/livez", true), ("/readyz", false), ("/healthz", false)],
            "draining leaves readiness at once"
        );
        std::fs::remove_file(&socket).expect("rm");
        assert_eq!(answers(&routes).await[0], ("/livez", false), "socket gone");
    }
}
