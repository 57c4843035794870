//! The real server on a temporary socket, with AWS KMS faked at the SDK seam: both services
//! answer through the generated clients, the cache saves KMS calls, and failures carry codes.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use aws_sdk_kms::Client;
use aws_sdk_kms::operation::decrypt::DecryptOutput;
use aws_sdk_kms::operation::describe_key::DescribeKeyOutput;
use aws_sdk_kms::operation::encrypt::EncryptOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::KeyMetadata;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use clap::Parser;
use keywarden_kms::cli::Args;
use keywarden_kms::config::{Config, SOCKET_MODE};
use keywarden_kms::server;
use keywarden_proto::kms_v1beta1 as v1;
use keywarden_proto::kms_v2 as v2;
use keywarden_runtime::Listeners;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/current";
const BLOB: &[u8] = b"opaque-kms-ciphertext-blob";
const SEED: &[u8] = &[7; 32];

struct Running {
    channel: Channel,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), server::ServeError>>,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start(rules: &[&Rule], extra: &[&str]) -> Running {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("kms.sock");
    let mut argv = vec![
        "keywarden-kms".to_owned(),
        "--key".to_owned(),
        "alias/test".to_owned(),
        "--socket".to_owned(),
        socket.display().to_string(),
        "--http-addr".to_owned(),
        "off".to_owned(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    let config = Config::try_from(&Args::try_parse_from(argv).expect("args")).expect("config");
    let client: Client = mock_client!(aws_sdk_kms, RuleMode::MatchAny, rules);
    let listeners = Listeners::bind(&socket, SOCKET_MODE, None).expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(server::run(
        config,
        client,
        listeners,
        Default::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let path = socket.clone();
    let channel = Endpoint::from_static("http://localhost")
        .connect_with_connector(tower::service_fn(move |_| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
        .expect("connect");
    Running {
        channel,
        stop,
        task,
        socket,
        _dir: dir,
    }
}

async fn wait_resolved(
    client: &mut v2::key_management_service_client::KeyManagementServiceClient<Channel>,
) {
    for _ in 0..100 {
        let status = client
            .status(v2::StatusRequest {})
            .await
            .expect("status")
            .into_inner();
        if status.key_id == ARN {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("key never resolved");
}

fn describe() -> Rule {
    mock!(Client::describe_key).then_output(|| {
        DescribeKeyOutput::builder()
            .key_metadata(
                KeyMetadata::builder()
                    .key_id("current")
                    .arn(ARN)
                    .build()
                    .expect("meta"),
            )
            .build()
    })
}

/// The background health check's Encrypt (its own plaintext, not the apiserver's).
fn health_encrypt() -> Rule {
    mock!(Client::encrypt)
        .match_requests(|r| {
            r.plaintext().map(Blob::as_ref) == Some(&b"keywarden-kms health probe"[..])
        })
        .then_output(|| {
            EncryptOutput::builder()
                .ciphertext_blob(Blob::new(&b"health-probe-blob"[..]))
                .key_id(ARN)
                .build()
        })
}

/// KMS Encrypt of the apiserver's seed under ARN with exactly `context` (None: no context sent).
fn encrypt_ok(context: Option<HashMap<String, String>>) -> Rule {
    mock!(Client::encrypt)
        .match_requests(move |r| {
            r.key_id() == Some(ARN)
                && r.plaintext().map(Blob::as_ref) == Some(SEED)
                && r.encryption_context() == context.as_ref()
        })
        .then_output(|| {
            EncryptOutput::builder()
                .ciphertext_blob(Blob::new(BLOB))
                .key_id(ARN)
                .build()
        })
}

/// KMS Decrypt of BLOB naming ARN with exactly `context`: the seed.
fn decrypt_ok(context: Option<HashMap<String, String>>) -> Rule {
    mock!(Client::decrypt)
        .match_requests(move |r| {
            r.key_id() == Some(ARN)
                && r.ciphertext_blob().map(Blob::as_ref) == Some(BLOB)
                && r.encryption_context() == context.as_ref()
        })
        .then_output(|| {
            DecryptOutput::builder()
                .plaintext(Blob::new(SEED))
                .key_id(ARN)
                .build()
        })
}

#[tokio::test]
async fn both_services_answer_and_the_cache_saves_kms_calls() {
    let describe = describe();
    let encrypt = encrypt_ok(None);
    let decrypt = decrypt_ok(None);
    let health = health_encrypt();
    let running = start(
        &[&describe, &health, &encrypt, &decrypt],
        &["--health-interval", "1h"],
    )
    .await;
    let mode = std::fs::metadata(&running.socket)
        .expect("socket")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut kms =
        v2::key_management_service_client::KeyManagementServiceClient::new(running.channel.clone());
    wait_resolved(&mut kms).await;
    let status = kms
        .status(v2::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(
        (status.version.as_str(), status.healthz.as_str()),
        ("v2", "ok")
    );

    let sealed = kms
        .encrypt(v2::EncryptRequest {
            plaintext: SEED.to_vec(),
            uid: "u1".into(),
        })
        .await
        .expect("encrypt")
        .into_inner();
    assert_eq!(sealed.key_id, ARN);
    assert_eq!(sealed.ciphertext[0], 0x01);
    assert_eq!(&sealed.ciphertext[1..], BLOB);
    let request = v2::DecryptRequest {
        ciphertext: sealed.ciphertext.clone(),
        uid: "u2".into(),
        key_id: sealed.key_id.clone(),
        annotations: sealed.annotations.clone(),
    };
    let plain = kms
        .decrypt(request.clone())
        .await
        .expect("decrypt")
        .into_inner();
    assert_eq!(plain.plaintext, SEED);
    assert_eq!(decrypt.num_calls(), 0, "Encrypt filled the cache");
    assert_eq!(encrypt.num_calls(), 1, "the seed went to KMS Encrypt");

    let other = v2::DecryptRequest {
        key_id: "arn:aws:kms:us-east-1:111122223333:key/other".into(),
        ..request
    };
    let err = kms.decrypt(other).await.expect_err("not allowed");
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let bad = v2::DecryptRequest {
        ciphertext: sealed.ciphertext.clone(),
        uid: "u3".into(),
        key_id: ARN.into(),
        annotations: HashMap::from([("foo".to_owned(), b"1".to_vec())]),
    };
    assert_eq!(
        kms.decrypt(bad).await.expect_err("annotation").code(),
        Code::InvalidArgument
    );

    let mut legacy =
        v1::key_management_service_client::KeyManagementServiceClient::new(running.channel.clone());
    let version = legacy
        .version(v1::VersionRequest {
            version: "v1beta1".into(),
        })
        .await
        .expect("version")
        .into_inner();
    assert_eq!(version.version, "v1beta1");

    running.stop.send(()).expect("stop");
    running.task.await.expect("join").expect("clean exit");
    assert!(!running.socket.exists(), "socket removed on shutdown");
}

/// The context of `--encryption-context cluster=prod`, as KMS must receive it.
fn prod() -> HashMap<String, String> {
    HashMap::from([("cluster".to_owned(), "prod".to_owned())])
}

#[tokio::test]
async fn cold_decrypts_ask_kms_with_the_recorded_key_and_context_on_both_apis() {
    let describe = describe();
    let encrypt = encrypt_ok(Some(prod()));
    let decrypt = decrypt_ok(Some(prod()));
    let health = health_encrypt();
    let running = start(
        &[&describe, &health, &encrypt, &decrypt],
        &[
            "--health-interval",
            "1h",
            "--decrypt-cache-size",
            "0",
            "--encryption-context",
            "cluster=prod",
        ],
    )
    .await;
    let mut kms =
        v2::key_management_service_client::KeyManagementServiceClient::new(running.channel.clone());
    wait_resolved(&mut kms).await;
    let (encrypts, decrypts) = (encrypt.num_calls(), decrypt.num_calls());

    let sealed = kms
        .encrypt(v2::EncryptRequest {
            plaintext: SEED.to_vec(),
            uid: "u1".into(),
        })
        .await
        .expect("encrypt")
        .into_inner();
    assert_eq!(sealed.ciphertext, [&[0x01][..], BLOB].concat());
    assert_eq!(
        sealed
            .annotations
            .get("encryption-context.kms.keywarden.io"),
        Some(&br#"{"cluster":"prod"}"#.to_vec()),
        "the context is recorded as documented"
    );
    let plain = kms
        .decrypt(v2::DecryptRequest {
            ciphertext: sealed.ciphertext.clone(),
            uid: "u2".into(),
            key_id: sealed.key_id.clone(),
            annotations: sealed.annotations.clone(),
        })
        .await
        .expect("decrypt")
        .into_inner();
    assert_eq!(plain.plaintext, SEED);

    let mut legacy =
        v1::key_management_service_client::KeyManagementServiceClient::new(running.channel.clone());
    let cipher = legacy
        .encrypt(v1::EncryptRequest {
            version: "v1beta1".into(),
            plain: SEED.to_vec(),
        })
        .await
        .expect("v1beta1 encrypt")
        .into_inner()
        .cipher;
    let mut expected = vec![0x02, 0, ARN.len() as u8];
    expected.extend_from_slice(ARN.as_bytes());
    expected.extend_from_slice(&[0, 18]);
    expected.extend_from_slice(br#"{"cluster":"prod"}"#);
    expected.extend_from_slice(BLOB);
    assert_eq!(cipher, expected, "0x02, key ARN, context, blob");
    let plain = legacy
        .decrypt(v1::DecryptRequest {
            version: "v1beta1".into(),
            cipher,
        })
        .await
        .expect("v1beta1 decrypt")
        .into_inner()
        .plain;
    assert_eq!(plain, SEED);
    assert_eq!(
        (
            encrypt.num_calls() - encrypts,
            decrypt.num_calls() - decrypts
        ),
        (2, 2),
        "with the cache off every Encrypt and Decrypt is a KMS call with the key and context"
    );

    running.stop.send(()).expect("stop");
    running.task.await.expect("join").expect("clean exit");
}

/// A KMS error response as it arrives on the wire.
fn kms_error(code: &str) -> aws_smithy_runtime_api::http::Response {
    aws_smithy_runtime_api::http::Response::new(
        aws_smithy_runtime_api::http::StatusCode::try_from(400).expect("status"),
        aws_smithy_types::body::SdkBody::from(format!(r#"{{"__type":"{code}","message":"x"}}"#)),
    )
}

#[tokio::test]
async fn kms_failures_become_precise_codes_and_health() {
    let describe = describe();
    let encrypt = mock!(Client::encrypt).then_http_response(|| kms_error("DisabledException"));
    let decrypt =
        mock!(Client::decrypt).then_http_response(|| kms_error("InvalidCiphertextException"));
    let running = start(
        &[&describe, &encrypt, &decrypt],
        &["--health-interval", "1h"],
    )
    .await;
    let mut kms =
        v2::key_management_service_client::KeyManagementServiceClient::new(running.channel.clone());
    wait_resolved(&mut kms).await;

    let err = kms
        .encrypt(v2::EncryptRequest {
            plaintext: SEED.to_vec(),
            uid: "u".into(),
        })
        .await
        .expect_err("disabled");
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let status = kms
        .status(v2::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.healthz, "ok", "one failure is not yet unhealthy");
    // The checker probes again after 1 s and 2 s (not after the 1 h interval): the third
    // failure in a row makes the plugin unhealthy.
    let mut status = status;
    for _ in 0..150 {
        if status.healthz != "ok" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = kms
            .status(v2::StatusRequest {})
            .await
            .expect("status")
            .into_inner();
    }
    assert!(
        status.healthz.contains("DisabledException"),
        "{}",
        status.healthz
    );
    assert!(encrypt.num_calls() >= 3, "{} Encrypts", encrypt.num_calls());
    assert_eq!(status.key_id, ARN, "the key id stays put while unhealthy");

    let mut ciphertext = vec![0x01];
    ciphertext.extend_from_slice(BLOB);
    let err = kms
        .decrypt(v2::DecryptRequest {
            ciphertext,
            uid: "u".into(),
            key_id: ARN.into(),
            annotations: HashMap::new(),
        })
        .await
        .expect_err("tampered");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");

    running.stop.send(()).expect("stop");
    running.task.await.expect("join").expect("clean exit");
}
