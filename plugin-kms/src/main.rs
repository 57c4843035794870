//! `keywarden-kms`: parse the command line, set up logging, bind, and serve.

use std::process::ExitCode;

use aws_config::{BehaviorVersion, Region};
use keywarden_kms::cli::Args;
use keywarden_kms::config::{Config, SOCKET_MODE};
use keywarden_kms::server;
use keywarden_runtime::{Listeners, cli, shutdown};

/// Name used in messages.
const PROGRAM: &str = "keywarden-kms";

fn main() -> ExitCode {
    let args: Args = match cli::parse(PROGRAM) {
        Ok(args) => args,
        Err(code) => return code,
    };
    let config = match Config::try_from(&args) {
        Ok(config) => config,
        Err(msg) => return usage(&msg),
    };
    cli::run_server(
        PROGRAM,
        args.log_format,
        &args.log_level,
        args.check_config,
        || start(config),
    )
}

fn usage(msg: &str) -> ExitCode {
    cli::usage(PROGRAM, msg)
}

async fn start(config: Config) -> anyhow::Result<()> {
    let http = config.http_addr.bind().await?;
    let listeners = Listeners::bind(&config.socket, SOCKET_MODE, http)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let kms = aws_sdk_kms::Client::new(&loader.load().await);
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
