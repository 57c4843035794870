//! `keywarden-provider`: parse the command line, set up logging, bind, and serve.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use keywarden_provider::aws::AwsClients;
use keywarden_provider::cli::{Cli, Command, HttpAddr, ServeArgs};
use keywarden_provider::config::ServeConfig;
use keywarden_provider::server::{self, Listeners};
use keywarden_runtime::{shutdown, socket, telemetry};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // One line naming what is wrong, not the whole usage text.
            eprintln!("keywarden-provider: {}", one_line(&e.render().to_string()));
            return ExitCode::from(EXIT_USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    match cli.command {
        Command::Version => {
            #[allow(clippy::print_stdout)]
            {
                println!("keywarden-provider {}", env!("CARGO_PKG_VERSION"));
            }
            ExitCode::SUCCESS
        }
        Command::Serve(args) => serve(&args),
        Command::Seal(args) => one_shot(keywarden_provider::sealing::run(&args)),
        Command::Check(args) => one_shot(keywarden_provider::manifest_check::run(&args)),
    }
}

/// Runs a command to completion and prints its report.
fn one_shot(command: impl std::future::Future<Output = anyhow::Result<String>>) -> ExitCode {
    let filter = telemetry::parse_level("warn").unwrap_or_default();
    telemetry::init(keywarden_runtime::LogFormat::Text, filter);
    keywarden_runtime::harden_process();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(anyhow::anyhow!(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(command) {
        Ok(report) => {
            #[allow(clippy::print_stdout)]
            {
                print!("{report}");
                if !report.ends_with('\n') {
                    println!();
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("keywarden-provider: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The reason of a usage error on one line: the text before clap's usage block, joined.
fn one_line(rendered: &str) -> String {
    let reason: Vec<&str> = rendered
        .lines()
        .take_while(|line| !line.trim().is_empty() && !line.starts_with("Usage:"))
        .map(str::trim)
        .collect();
    let text = reason.join(" ");
    let text = text.trim_start_matches("error: ");
    if text.is_empty() {
        "invalid arguments".into()
    } else {
        text.into()
    }
}

/// Exit code for a bad configuration (matches clap's usage errors).
const EXIT_USAGE: u8 = 2;

fn serve(args: &ServeArgs) -> ExitCode {
    let usage = |msg: String| {
        eprintln!("keywarden-provider: {msg}");
        ExitCode::from(EXIT_USAGE)
    };
    let config = match ServeConfig::try_from(args) {
        Ok(config) => config,
        Err(msg) => return usage(msg),
    };
    let filter = match telemetry::parse_level(&args.log_level) {
        Ok(filter) => filter,
        Err(e) => return usage(e.to_string()),
    };
    if args.check_config {
        #[allow(clippy::print_stdout)]
        {
            println!("keywarden-provider: configuration ok");
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

async fn start(config: ServeConfig) -> anyhow::Result<()> {
    let http = match config.http_addr {
        HttpAddr::On(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on --http-addr {addr}: {e}"))?,
        ),
        HttpAddr::Off => None,
    };
    let (socket, socket_guard) = socket::bind(&config.socket, config.socket_mode)?;
    let aws =
        Arc::new(AwsClients::from_env(config.region.clone(), config.s3_force_path_style).await);
    let listeners = Listeners {
        socket,
        socket_guard,
        http,
    };
    server::run(
        config,
        aws,
        listeners,
        Default::default(),
        shutdown::signal_received(),
    )
    .await?;
    Ok(())
}

fn fail(err: anyhow::Error) -> ExitCode {
    tracing::error!(error = format!("{err:#}"), "keywarden-provider failed");
    eprintln!("keywarden-provider: {err:#}");
    ExitCode::FAILURE
}
