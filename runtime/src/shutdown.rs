//! The one shutdown signal both servers listen for: SIGTERM or SIGINT, whichever comes first.

use tokio::signal::unix::{SignalKind, signal};

/// Resolves when the process receives SIGTERM or SIGINT, and logs which one arrived.
///
/// If the handlers cannot be installed, the failure is logged and the future never resolves
/// (the process can still be stopped with SIGKILL).
pub async fn signal_received() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; graceful shutdown is unavailable");
        return std::future::pending().await;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    tracing::info!(
        signal = name,
        "shutdown requested; draining in-flight requests"
    );
}
