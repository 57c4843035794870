//! Regenerates `src/generated/` from the vendored protos and fails when the checked-in code differs.
//!
//! Runs with `protox` (a pure-Rust protobuf compiler), so no system `protoc` is needed. After
//! changing a `.proto` file or the generator settings, regenerate with
//! `KEYWARDEN_REGENERATE_PROTOS=1 cargo test -p keywarden-proto --test bootstrap`; without that
//! variable the test only compares, and fails on any difference.

use std::path::{Path, PathBuf};

const PROTOS: &[&str] = &[
    "secrets-store/v1alpha1/service.proto",
    "kms/v2/api.proto",
    "kms/v1beta1/api.proto",
];

#[test]
fn generated_code_matches_protos() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let includes = root.join("protos");
    let files: Vec<PathBuf> = PROTOS.iter().map(|p| includes.join(p)).collect();
    let fds = protox::compile(&files, [&includes]).expect("vendored protos compile");

    let out = tempfile_dir(&root);
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .build_transport(true)
        .emit_rerun_if_changed(false)
        // Secret bytes as `Bytes`: a file's contents (the provider hands out its zeroizing
        // buffer without a copy) and decrypted plaintexts (the KMS plugin's buffer is wiped when
        // the response has been encoded), both via `Bytes::from_owner` of a zeroizing vector.
        .bytes(".v1alpha1.File.contents")
        .bytes(".v2.DecryptResponse.plaintext")
        .bytes(".v1beta1.DecryptResponse.plain")
        .out_dir(&out)
        .compile_fds(fds)
        .expect("code generation succeeds");

    let gen_dir = root.join("src/generated");
    let regenerate = std::env::var_os("KEYWARDEN_REGENERATE_PROTOS").is_some();
    let mut drifted = Vec::new();
    for entry in std::fs::read_dir(&out).expect("read generated dir") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().expect("file name").to_owned();
        let fresh = std::fs::read_to_string(&path).expect("read generated file");
        let checked_in = gen_dir.join(&name);
        if std::fs::read_to_string(&checked_in).ok().as_deref() != Some(fresh.as_str()) {
            if regenerate {
                std::fs::create_dir_all(&gen_dir).expect("create src/generated");
                std::fs::write(&checked_in, &fresh).expect("write regenerated file");
            } else {
                drifted.push(name.to_string_lossy().into_owned());
            }
        }
    }
    std::fs::remove_dir_all(&out).ok();
    assert!(
        drifted.is_empty(),
        "src/generated/ differs from what the vendored protos generate: {drifted:?}; regenerate with \
         `KEYWARDEN_REGENERATE_PROTOS=1 cargo test -p keywarden-proto --test bootstrap`, then review and commit"
    );
}

fn tempfile_dir(root: &Path) -> PathBuf {
    let dir = root
        .join("../target/proto-bootstrap")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).expect("create temp out dir");
    dir
}
