//! The small HTTP server beside each gRPC socket: health probes for the kubelet (which cannot
//! dial a unix socket) and Prometheus metrics.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::future::BoxFuture;
use prometheus_client::registry::Registry;

use crate::process_metrics::ProcessCollector;

/// A health check behind one HTTP path: `Ok` is 200 "ok", `Err(reason)` is 503 with the reason.
pub trait Probe: Send + Sync + 'static {
    /// Runs the check.
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

impl<F, Fut> Probe for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self())
    }
}

/// Builds the admin routes: `/metrics` (the registry plus the process gauges of
/// [`ProcessCollector`]) and one route per probe.
pub fn router(mut registry: Registry, probes: Vec<(&'static str, Arc<dyn Probe>)>) -> Router {
    registry.register_collector(Box::new(ProcessCollector));
    let registry = Arc::new(registry);
    let mut router = Router::new().route("/metrics", get(metrics).with_state(registry));
    for (path, probe) in probes {
        router = router.route(path, get(run_probe).with_state(probe));
    }
    router
}

async fn metrics(State(registry): State<Arc<Registry>>) -> Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed").into_response(),
    }
}

async fn run_probe(State(probe): State<Arc<dyn Probe>>) -> Response {
    match probe.check().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response(),
    }
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get_path(addr: std::net::SocketAddr, path: &str) -> String {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn probes_and_metrics_answer() {
        let mut registry = Registry::default();
        let counter = prometheus_client::metrics::counter::Counter::<u64>::default();
        registry.register("probe_test", "a test counter", counter.clone());
        counter.inc();
        let good: Arc<dyn Probe> = Arc::new(|| async { Ok(()) });
        let bad: Arc<dyn Probe> = Arc::new(|| async { Err("kms unreachable".to_owned()) });
        let router = router(registry, vec![("/healthz", good), ("/readyz", bad)]);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, async { drop(rx.await) }));

        let healthz = get_path(addr, "/healthz").await;
        assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
        let readyz = get_path(addr, "/readyz").await;
        assert!(readyz.starts_with("HTTP/1.1 503"), "{readyz}");
        assert!(readyz.contains("kms unreachable"), "{readyz}");
        let metrics = get_path(addr, "/metrics").await;
        assert!(metrics.contains("probe_test_total 1"), "{metrics}");
        assert!(metrics.contains("process_open_fds "), "{metrics}");

        tx.send(()).expect("shutdown");
        server.await.expect("join").expect("serve");
    }
}
