//! `keywarden-kms`: parse the command line, set up logging, bind, and serve; or, as
//! `keywarden-kms scan`, count what etcd stores under each key and exit.

use std::process::ExitCode;

use aws_config::{BehaviorVersion, Region};
use keywarden_kms::cli::Args;
use keywarden_kms::config::{Config, SOCKET_MODE};
use keywarden_kms::scan::ScanArgs;
use keywarden_kms::server;
use keywarden_runtime::{Listeners, cli, shutdown, socket};

/// Name used in messages.
const PROGRAM: &str = "keywarden-kms";

fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|a| a == "scan") {
        return scan();
    }
    let args: Args = match cli::parse(PROGRAM) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let config = match Config::try_from(&args) {
        Ok(config) => config,
        Err(e) => return usage(&e.to_string()),
    };
    cli::run_server(PROGRAM, &args.serve, || start(config))
}

/// `keywarden-kms scan …`: the read-only etcd scan (keywarden_kms::scan).
fn scan() -> ExitCode {
    use clap::Parser;
    let args = match ScanArgs::try_parse_from(std::env::args_os().skip(1)) {
        Ok(args) => args,
        Err(e) if e.use_stderr() => return usage(&cli::one_line(&e.render().to_string())),
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    cli::run_report("keywarden-kms scan", keywarden_kms::scan::run(&args))
}

fn usage(msg: &str) -> ExitCode {
    cli::usage(PROGRAM, msg)
}

async fn start(mut config: Config) -> anyhow::Result<()> {
    let http = match config.http_addr.bind().await {
        Err(e) if config.take_over_socket && e.kind() == std::io::ErrorKind::AddrInUse => None,
        other => other?,
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let kms = aws_sdk_kms::Client::new(&loader.load().await);
    if config.take_over_socket {
        config.resolved_key = resolve_before_taking_over(&kms, config.key.as_str()).await;
    }
    let listeners = if config.take_over_socket {
        let (socket, socket_guard) = socket::bind_replacing(&config.socket, SOCKET_MODE)?;
        Listeners {
            socket,
            socket_guard,
            http,
        }
    } else {
        Listeners::bind(&config.socket, SOCKET_MODE, http)?
    };
    server::run(
        config,
        kms,
        listeners,
        Default::default(),
        shutdown::signal_received(),
    )
    .await?;
    Ok(())
}

/// A successor resolves its key before it takes the socket over, so that it answers like its
/// predecessor from the first request; while KMS does not answer (at most
/// `TAKE_OVER_WAIT`), the predecessor keeps serving.
async fn resolve_before_taking_over(kms: &aws_sdk_kms::Client, key: &str) -> Option<String> {
    const TAKE_OVER_WAIT: std::time::Duration = std::time::Duration::from_secs(30);
    let deadline = tokio::time::Instant::now() + TAKE_OVER_WAIT;
    loop {
        match kms.describe_key().key_id(key).send().await {
            Ok(out) => return out.key_metadata.and_then(|m| m.arn),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::info!(key, error = %e, "cannot resolve the key yet; the predecessor keeps the socket");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => {
                tracing::warn!(key, error = %e, "key still unresolved; taking the socket over anyway");
                return None;
            }
        }
    }
}
