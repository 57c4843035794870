//! The `v1alpha1.CSIDriverProvider` gRPC service: admission (load shedding), the Mount
//! deadline, the one log line and the metrics of each Mount, and the mapping of errors to
//! gRPC statuses.

use std::sync::Arc;
use std::time::{Duration, Instant};

use keywarden_proto::csi::csi_driver_provider_server::CsiDriverProvider;
use keywarden_proto::csi::{MountRequest, MountResponse, VersionRequest, VersionResponse};
use keywarden_runtime::RepairedConnectInfo;
use tokio::sync::Semaphore;
use tonic::transport::server::UdsConnectInfo;
use tonic::{Request, Response, Status};
use tracing::Instrument;
use tracing::field::Empty;

use crate::budget::NodeBudget;
use crate::error::MountError;
use crate::metrics::Metrics;
use crate::mount::{Mounted, Mounter};
use crate::params::{self, PodInfo};
use crate::plan_cache::PlanCache;

/// Provider name the driver knows us by (`<name>.sock`, `runtime_name`).
pub const RUNTIME_NAME: &str = "keywarden";

/// What a Mount needs to be let in: a free slot and room in the memory budget.
#[derive(Debug, Clone)]
pub struct Admission {
    /// `--max-concurrent-mounts`.
    pub max_in_flight: usize,
    /// The node-wide memory budget (`--max-inflight-bytes`).
    pub budget: NodeBudget,
    /// `--max-response-bytes`: what one Mount's files may total.
    pub max_response_bytes: usize,
    /// `--sync-controller`: serve the Secrets Store sync controller's requests, and only
    /// those, instead of the CSI driver's.
    pub sync_controller: bool,
}

/// The gRPC service.
#[derive(Debug, Clone)]
pub struct ProviderService {
    mounter: Mounter,
    slots: Arc<Semaphore>,
    admission: Admission,
    mount_timeout: Duration,
    metrics: Metrics,
    plans: Arc<PlanCache>,
}

impl ProviderService {
    /// A service admitting Mounts as `admission` says, each bounded by `mount_timeout`, taking
    /// the validated `objects` of specs it has parsed before from `plans`.
    pub fn new(
        mounter: Mounter,
        admission: Admission,
        mount_timeout: Duration,
        metrics: Metrics,
        plans: Arc<PlanCache>,
    ) -> Self {
        Self {
            mounter,
            slots: Arc::new(Semaphore::new(admission.max_in_flight)),
            admission,
            mount_timeout,
            metrics,
            plans,
        }
    }

    /// Runs one Mount. The pod information comes back with the outcome for the log line: from
    /// the parsed request, or best-effort when the attributes did not parse.
    async fn mount_inner(
        &self,
        request: &MountRequest,
    ) -> (Result<(Mounted, usize), MountError>, PodInfo) {
        let params = match params::parse_cached(request, &self.plans) {
            Ok(params) => params,
            Err(e) => {
                let pod = PodInfo::lenient(&request.attributes);
                record_pod(&pod, None);
                return (Err(e), pod);
            }
        };
        record_pod(&params.pod, Some(params.objects.len()));
        tracing::Span::current().record("caller", params.caller.as_str());
        let result = async {
            params.caller.admit(self.admission.sync_controller)?;
            let _permit = self
                .slots
                .try_acquire()
                .map_err(|_| MountError::Busy(self.admission.max_in_flight))?;
            let budget = self
                .admission
                .budget
                .mount(self.admission.max_response_bytes);
            // The request itself, held until the Mount ends.
            let _request = budget.hold(request.attributes.len(), "the request")?;
            let mounted =
                tokio::time::timeout(self.mount_timeout, self.mounter.mount(&params, &budget))
                    .await
                    .map_err(|_| MountError::Deadline(self.mount_timeout))??;
            Ok((mounted, params.objects.len()))
        }
        .await;
        (result, params.pod)
    }
}

#[tonic::async_trait]
impl CsiDriverProvider for ProviderService {
    async fn version(
        &self,
        _request: Request<VersionRequest>,
    ) -> Result<Response<VersionResponse>, Status> {
        Ok(Response::new(VersionResponse {
            version: "v1alpha1".into(),
            runtime_name: RUNTIME_NAME.into(),
            runtime_version: env!("CARGO_PKG_VERSION").into(),
        }))
    }

    async fn mount(
        &self,
        request: Request<MountRequest>,
    ) -> Result<Response<MountResponse>, Status> {
        let span = tracing::info_span!(
            "mount",
            request_id = %keywarden_runtime::telemetry::request_id(),
            pod = Empty,
            namespace = Empty,
            spc = Empty,
            objects = Empty,
            caller = Empty,
        );
        self.serve_mount(request).instrument(span).await
    }
}

/// Names the pod, namespace and SecretProviderClass of the Mount in its span (as soon as they
/// are known), so that every line logged for the Mount carries them. Tokens and other
/// attributes never go there.
fn record_pod(pod: &PodInfo, objects: Option<usize>) {
    let span = tracing::Span::current();
    if let Some(name) = &pod.name {
        span.record("pod", name.as_str());
    }
    if let Some(namespace) = &pod.namespace {
        span.record("namespace", namespace.as_str());
    }
    if let Some(spc) = &pod.spc {
        span.record("spc", spc.as_str());
    }
    if let Some(objects) = objects {
        span.record("objects", objects);
    }
}

impl ProviderService {
    /// One Mount, inside its span: admission, the work, the log line and the metrics.
    async fn serve_mount(
        &self,
        request: Request<MountRequest>,
    ) -> Result<Response<MountResponse>, Status> {
        let _in_flight = self.metrics.in_flight();
        let started = Instant::now();
        let outbox = request
            .extensions()
            .get::<RepairedConnectInfo<UdsConnectInfo>>()
            .map(|info| info.outbox.clone());
        let request = request.into_inner();
        let (result, pod) = self.mount_inner(&request).await;
        let elapsed = started.elapsed();
        let field = |v: &Option<String>| v.clone().unwrap_or_default();
        match result {
            Ok((mounted, objects)) => {
                // The charges stay taken until the response's bytes have left the process.
                if let Some(outbox) = outbox {
                    outbox.hold(mounted.encoded_len, mounted.held);
                }
                let response = mounted.response;
                self.metrics
                    .mount_finished("ok", tonic::Code::Ok, elapsed.as_secs_f64());
                tracing::info!(
                    pod = field(&pod.name),
                    namespace = field(&pod.namespace),
                    spc = field(&pod.spc),
                    objects,
                    files = response.files.len(),
                    duration_ms = elapsed.as_millis() as u64,
                    outcome = "ok",
                    "mount"
                );
                Ok(Response::new(response))
            }
            Err(err) => {
                let code = err.grpc_code();
                self.metrics
                    .mount_finished(err.label(), code, elapsed.as_secs_f64());
                tracing::warn!(
                    pod = field(&pod.name),
                    namespace = field(&pod.namespace),
                    spc = field(&pod.spc),
                    duration_ms = elapsed.as_millis() as u64,
                    outcome = err.label(),
                    code = ?code,
                    error = %err,
                    "mount"
                );
                Err(err.into())
            }
        }
    }
}
