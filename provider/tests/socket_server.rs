//! The provider served on a real unix socket, called through the generated client: requests
//! that need no AWS call (Version, every kind of refused Mount), load shedding and shutdown.

use std::sync::Arc;
use std::time::Duration;

use keywarden_proto::csi::csi_driver_provider_client::CsiDriverProviderClient;
use keywarden_proto::csi::{MountRequest, VersionRequest};
use keywarden_provider::aws::AwsClients;
use keywarden_provider::cli::HttpAddr;
use keywarden_provider::config::ServeConfig;
use keywarden_provider::identity::IdentityPolicy;
use keywarden_provider::mount::Limits;
use keywarden_provider::server;
use keywarden_runtime::Listeners;
use tonic::Code;
use tonic::transport::Channel;

struct Running {
    client: CsiDriverProviderClient<Channel>,
    socket: std::path::PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

async fn start(policy: IdentityPolicy) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket_path = dir.path().join("keywarden.sock");
    let config = ServeConfig {
        socket: socket_path.clone(),
        socket_mode: 0o600,
        http_addr: HttpAddr::Off,
        region: Some("us-east-1".into()),
        s3_force_path_style: true,
        token_audience: "sts.amazonaws.com".into(),
        kubernetes_api: None,
        pod_identity_endpoints: vec![],
        pod_identity_timeout: Duration::from_secs(1),
        identity: policy,
        cache_ttl: Duration::ZERO,
        cache_max_bytes: 1024,
        revalidate_window: Duration::ZERO,
        coalesce: true,
        mount_timeout: Duration::from_secs(5),
        limits: Limits {
            max_object_bytes: 1024,
            max_response_bytes: 4096,
            max_prefix_objects: 4,
        },
        write_mode: keywarden_provider::cli::WriteMode::Driver,
        allow_non_tmpfs: false,
        max_concurrent_mounts: 4,
        max_inflight_bytes: 48 << 20,
        shutdown_grace: Duration::from_secs(2),
        sync_controller: false,
        socket_wait: Duration::ZERO,
    };
    let listeners = Listeners::bind(&socket_path, 0o600, None).expect("bind");
    let sdk = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("us-east-1"))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let aws = Arc::new(AwsClients::new(sdk, None, true));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::run(config, aws, listeners, Default::default(), async {
            let _ = stopped.await;
        })
        .await
        .expect("serve");
    });
    let channel =
        tonic::transport::Endpoint::from_shared(format!("unix://{}", socket_path.display()))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
    Running {
        client: CsiDriverProviderClient::new(channel),
        socket: socket_path,
        stop,
        task,
        _dir: dir,
    }
}

fn mount_request(params: &[(&str, &str)]) -> MountRequest {
    let mut attributes: std::collections::HashMap<&str, &str> = params.iter().copied().collect();
    attributes.insert("csi.storage.k8s.io/pod.namespace", "team-a");
    attributes.insert("csi.storage.k8s.io/pod.name", "web-0");
    MountRequest {
        attributes: serde_json::to_string(&attributes).expect("json"),
        secrets: "null".into(),
        target_path: "/tmp/target".into(),
        permission: "420".into(),
        current_object_version: vec![],
    }
}

#[tokio::test]
async fn version_and_refused_mounts_over_the_socket() {
    let mut running = start(IdentityPolicy::default()).await;
    let version = running
        .client
        .version(VersionRequest {
            version: "v1alpha1".into(),
        })
        .await
        .expect("version")
        .into_inner();
    assert_eq!(version.version, "v1alpha1");
    assert_eq!(version.runtime_name, "keywarden");
    assert_eq!(version.runtime_version, env!("CARGO_PKG_VERSION"));

    let objects = "- objectName: s3://bucket/key\n";
    let cases: Vec<(MountRequest, Code, &str)> = vec![
        (
            MountRequest {
                attributes: "{".into(),
                ..mount_request(&[])
            },
            Code::InvalidArgument,
            "not a JSON object",
        ),
        (
            mount_request(&[]),
            Code::InvalidArgument,
            "parameter objects is missing",
        ),
        (
            mount_request(&[(
                "objects",
                "- objectName: s3://bucket/k\n  objectAlias: ../x\n",
            )]),
            Code::InvalidArgument,
            "'..' element",
        ),
        (
            mount_request(&[("objects", objects)]),
            Code::FailedPrecondition,
            "tokenRequests",
        ),
        (
            mount_request(&[("objects", objects), ("identity", "node")]),
            Code::PermissionDenied,
            "--allow-node-identity",
        ),
        (
            mount_request(&[(
                "objects",
                "- objectName: s3://bucket/k\n  jmesPath:\n    - {path: 'a.[', objectAlias: a}\n",
            )]),
            Code::InvalidArgument,
            "not a JMESPath expression",
        ),
    ];
    for (request, code, text) in cases {
        let status = running.client.mount(request).await.expect_err("refused");
        assert_eq!(status.code(), code, "{}", status.message());
        assert!(
            status.message().contains(text),
            "want {text:?} in {:?}",
            status.message()
        );
    }
    // Still serving after every refusal.
    running
        .client
        .version(VersionRequest::default())
        .await
        .expect("still serving");

    running.stop.send(()).expect("stop");
    running.task.await.expect("clean exit");
    assert!(!running.socket.exists(), "socket removed on shutdown");
}
