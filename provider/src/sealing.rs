//! `keywarden-provider seal`: encrypt a secret into a sealed object (docs/reference.md §2.4) with a fresh
//! KMS data key, and write it to a file or to S3. The plaintext data key exists only in
//! zeroizing memory and is never written anywhere.
//!
//! The plaintext is read into zeroizing memory, at most `--max-object-bytes` plus one byte (a
//! larger sealed object could never be mounted). An output file is created exclusively, so an
//! existing file is never truncated and a symlink there is never followed; `--force` replaces
//! it by renaming a new file over the path.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use aws_config::BehaviorVersion;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use crate::catalogue;
use crate::kms;
use crate::limits::DEFAULT_MAX_OBJECT_BYTES;
use crate::objects::parse_s3_url;
use crate::sealed::{self, NAMESPACE_CONTEXT_KEY};
use crate::secret_bytes::SecretBytes;

/// `seal` options.
#[derive(Debug, clap::Args)]
pub struct SealArgs {
    /// KMS key id, key ARN, alias name or alias ARN to generate the data key under.
    #[arg(long)]
    pub key: String,
    /// Encryption context entry `k=v` (repeatable); also needed, unchanged, to open.
    #[arg(long = "context", value_parser = parse_pair)]
    pub context: Vec<(String, String)>,
    /// Bind the sealed object to this namespace: only pods there can open it.
    #[arg(long)]
    pub namespace: Option<String>,
    /// Plaintext file, or `-` for stdin.
    #[arg(long = "in", default_value = "-")]
    pub input: String,
    /// Output file, or `s3://bucket/key` to upload. An existing file is not replaced (and a
    /// symlink not followed) without `--force`.
    #[arg(long)]
    pub out: String,
    /// Replace an existing output file: a new file is renamed over the path, so a symlink there
    /// is replaced, not followed.
    #[arg(long)]
    pub force: bool,
    /// Largest sealed object, as the provider's `--max-object-bytes`: larger input is refused
    /// before anything is sent to KMS.
    #[arg(long, default_value_t = DEFAULT_MAX_OBJECT_BYTES)]
    pub max_object_bytes: usize,
    /// With an `s3://` output: store it with SSE-KMS under this key.
    #[arg(long)]
    pub sse_kms_key: Option<String>,
    /// AWS region (else the SDK's region chain).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Path-style S3 addressing (local endpoints).
    #[arg(long, env = "KEYWARDEN_S3_FORCE_PATH_STYLE", action = clap::ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_force_path_style: bool,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(catalogue::not_a_pair(s)),
    }
}

/// Runs `seal`; returns a one-line summary for the user.
pub async fn run(args: &SealArgs) -> anyhow::Result<String> {
    let mut context: BTreeMap<String, String> = args.context.iter().cloned().collect();
    if let Some(ns) = &args.namespace {
        if let Some(other) = context.get(NAMESPACE_CONTEXT_KEY).filter(|v| *v != ns) {
            bail!(catalogue::namespace_conflict(
                ns,
                NAMESPACE_CONTEXT_KEY,
                other
            ));
        }
        context.insert(NAMESPACE_CONTEXT_KEY.to_owned(), ns.clone());
    }
    let to_file = !args.out.starts_with("s3://");
    // Said before any KMS call; the exclusive create below is what guarantees it.
    if to_file && !args.force && std::fs::symlink_metadata(&args.out).is_ok() {
        bail!(catalogue::out_exists(&args.out));
    }
    let plaintext = read_plaintext(&args.input, args.max_object_bytes)?;

    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &args.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    let sdk = loader.load().await;
    let kms_client = aws_sdk_kms::Client::new(&sdk);
    let data_key = kms::generate_data_key(&kms_client, &args.key, &context)
        .await
        .map_err(|e| anyhow::anyhow!(catalogue::generate_data_key_failed(&args.key, e)))?;
    let sealed = sealed::seal(
        plaintext.as_slice(),
        data_key.plaintext.as_slice(),
        &data_key.ciphertext,
        &data_key.key_arn,
        context,
    )?;
    drop(data_key);
    if sealed.len() > args.max_object_bytes {
        bail!(catalogue::sealed_too_big(
            sealed.len(),
            args.max_object_bytes
        ));
    }

    if !to_file {
        let (bucket, key) = parse_s3_url(&args.out).map_err(anyhow::Error::msg)?;
        let config = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(args.s3_force_path_style)
            .build();
        let s3 = aws_sdk_s3::Client::from_conf(config);
        let mut put = s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(sealed.clone()));
        if let Some(sse_key) = &args.sse_kms_key {
            put = put
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(sse_key);
        }
        let output = put.send().await.map_err(|e| {
            anyhow::anyhow!(catalogue::upload_failed(
                &args.out,
                aws_sdk_s3::error::DisplayErrorContext(e)
            ))
        })?;
        let version = output.version_id().unwrap_or("none");
        Ok(format!(
            "sealed {} bytes under {} into {} (VersionId {version})",
            plaintext.len(),
            data_key_arn(&sealed),
            args.out
        ))
    } else {
        let path = PathBuf::from(&args.out);
        write_output(&path, &sealed, args.force)?;
        Ok(format!(
            "sealed {} bytes under {} into {}",
            plaintext.len(),
            data_key_arn(&sealed),
            path.display()
        ))
    }
}

fn data_key_arn(sealed_bytes: &[u8]) -> String {
    sealed::Sealed::parse(sealed_bytes)
        .map(|s| s.header.key)
        .unwrap_or_default()
}

fn read_plaintext(input: &str, limit: usize) -> anyhow::Result<SecretBytes> {
    if input == "-" {
        read_bounded(std::io::stdin().lock(), limit, "the plaintext from stdin")
    } else {
        let what = format!("the plaintext from {input}");
        let file = std::fs::File::open(input).with_context(|| catalogue::reading(&what))?;
        read_bounded(file, limit, &what)
    }
}

/// Reads at most `limit` + 1 bytes of `reader` into zeroizing memory, sized for the default
/// limit up front; any later growth wipes the buffer it leaves, and so does the chunk buffer.
/// More than `limit` bytes are refused.
fn read_bounded(mut reader: impl Read, limit: usize, what: &str) -> anyhow::Result<SecretBytes> {
    let mut plaintext =
        SecretBytes::with_capacity(limit.min(DEFAULT_MAX_OBJECT_BYTES).saturating_add(1));
    let mut chunk = zeroize::Zeroizing::new([0u8; 16 * 1024]);
    loop {
        let room = limit.saturating_add(1) - plaintext.len();
        let want = room.min(chunk.len());
        let n = match reader.read(&mut chunk[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(anyhow::Error::new(e).context(catalogue::reading(what))),
        };
        if n == 0 {
            return Ok(plaintext);
        }
        plaintext.extend_from_slice(&chunk[..n]);
        if plaintext.len() > limit {
            bail!(catalogue::plaintext_too_big(what, limit));
        }
    }
}

/// Writes `sealed` to `path`, creating it exclusively (`O_EXCL`: an existing file, or a
/// symlink, is left alone), or with `force` by renaming a new file beside it over the path.
fn write_output(path: &Path, sealed: &[u8], force: bool) -> anyhow::Result<()> {
    let writing = || catalogue::writing(path.display());
    let create = |at: &Path| OpenOptions::new().write(true).create_new(true).open(at);
    if !force {
        let mut file = create(path).map_err(|e| match e.kind() {
            ErrorKind::AlreadyExists => anyhow::anyhow!(catalogue::out_exists(path.display())),
            _ => anyhow::Error::new(e).context(writing()),
        })?;
        return file.write_all(sealed).map_err(|e| {
            // Not left half-written: the file is the one just created.
            let _ = std::fs::remove_file(path);
            anyhow::Error::new(e).context(writing())
        });
    }
    let name = path
        .file_name()
        .ok_or_else(|| anyhow::anyhow!(catalogue::out_not_file(path.display())))?;
    let mut random = [0u8; 8];
    // Uniqueness, not secrecy: a clash fails the exclusive create.
    let _ = aws_lc_rs::rand::fill(&mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = path.with_file_name(format!(".{}.{suffix}.tmp", name.to_string_lossy()));
    let written = create(&tmp)
        .and_then(|mut file| file.write_all(sealed))
        .and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(writing())
    })
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    /// Endless input that counts what was taken from it.
    struct Endless<'a>(&'a mut usize);

    impl Read for Endless<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            buf.fill(0);
            *self.0 += buf.len();
            Ok(buf.len())
        }
    }

    #[test]
    fn input_over_the_object_limit_is_refused_after_one_byte_more() {
        let mut taken = 0;
        let err = read_bounded(Endless(&mut taken), DEFAULT_MAX_OBJECT_BYTES, "stdin")
            .expect_err("endless")
            .to_string();
        assert_eq!(taken, DEFAULT_MAX_OBJECT_BYTES + 1);
        assert!(
            err.contains("1048576") && err.contains("--max-object-bytes"),
            "{err}"
        );
        let exact = vec![7u8; 1000];
        let read = read_bounded(exact.as_slice(), 1000, "x").expect("at the limit");
        assert_eq!(read.as_slice(), exact.as_slice());
        read_bounded(exact.as_slice(), 999, "x").expect_err("one over");
    }

    #[test]
    fn an_existing_output_or_symlink_is_left_alone_without_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let existing = dir.path().join("out.kws");
        std::fs::write(&existing, b"keep me").expect("write");
        let err = write_output(&existing, b"sealed", false).expect_err("exists");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read(&existing).expect("read"), b"keep me");

        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"victim").expect("write");
        let link = dir.path().join("link.kws");
        symlink(&victim, &link).expect("symlink");
        write_output(&link, b"sealed", false).expect_err("symlink");
        let dangling = dir.path().join("dangling.kws");
        symlink(dir.path().join("nowhere"), &dangling).expect("symlink");
        write_output(&dangling, b"sealed", false).expect_err("dangling symlink");
        assert!(
            !dir.path().join("nowhere").exists(),
            "not created through the link"
        );

        write_output(&link, b"sealed", true).expect("force");
        assert_eq!(
            std::fs::read(&victim).expect("read"),
            b"victim",
            "not followed"
        );
        assert!(!std::fs::symlink_metadata(&link).expect("stat").is_symlink());
        assert_eq!(std::fs::read(&link).expect("read"), b"sealed");
        write_output(&existing, b"sealed", true).expect("force");
        assert_eq!(std::fs::read(&existing).expect("read"), b"sealed");
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["dangling.kws", "link.kws", "out.kws", "victim"],
            "no temporary file left"
        );
    }
}
