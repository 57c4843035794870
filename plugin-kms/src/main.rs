//! `keywarden-kms`: parse the command line, set up logging, bind, and serve.

use std::process::ExitCode;

use aws_config::{BehaviorVersion, Region};
use clap::Parser;
use keywarden_kms::cli::{Args, HttpAddr};
use keywarden_kms::config::{Config, SOCKET_MODE};
use keywarden_kms::server::{self, Listeners};
use keywarden_runtime::{shutdown, socket, telemetry};

/// Exit code for a bad configuration (matches clap's usage errors).
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) if e.use_stderr() => {
            // One line naming what is wrong, not the whole usage text.
            let rendered = e.render().to_string();
            let reason = rendered.lines().next().unwrap_or("invalid arguments");
            return usage(reason.trim_start_matches("error: "));
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    let config = match Config::try_from(&args) {
        Ok(config) => config,
        Err(msg) => return usage(&msg),
    };
    let filter = match telemetry::parse_level(&args.log_level) {
        Ok(filter) => filter,
        Err(e) => return usage(&e.to_string()),
    };
    if args.check_config {
        #[allow(clippy::print_stdout)]
        {
            println!("keywarden-kms: configuration ok");
        }
        return ExitCode::SUCCESS;
    }
    telemetry::init(args.log_format, filter);
    keywarden_runtime::harden_process();

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(anyhow::anyhow!(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(start(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("keywarden-kms: {msg}");
    ExitCode::from(EXIT_USAGE)
}

async fn start(config: Config) -> anyhow::Result<()> {
    let http = match config.http_addr {
        HttpAddr::On(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on --http-addr {addr}: {e}"))?,
        ),
        HttpAddr::Off => None,
    };
    let (socket, socket_guard) = socket::bind(&config.socket, SOCKET_MODE)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &config.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let kms = aws_sdk_kms::Client::new(&loader.load().await);
    let listeners = Listeners {
        socket,
        socket_guard,
        http,
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

fn fail(err: anyhow::Error) -> ExitCode {
    tracing::error!(error = format!("{err:#}"), "keywarden-kms failed");
    eprintln!("keywarden-kms: {err:#}");
    ExitCode::FAILURE
}
