//! `keywarden-provider`: parse the command line, set up logging, bind, and serve.

use std::process::ExitCode;
use std::sync::Arc;

use keywarden_provider::aws::AwsClients;
use keywarden_provider::cli::{Cli, Command, ServeArgs};
use keywarden_provider::config::ServeConfig;
use keywarden_provider::server;
use keywarden_runtime::{Listeners, cli, shutdown, telemetry};

fn main() -> ExitCode {
    let cli: Cli = match cli::parse(PROGRAM) {
        Ok(cli) => cli,
        Err(code) => return code,
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
        Err(e) => return cli::fail(PROGRAM, &format!("cannot start the async runtime: {e}")),
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

/// Name used in messages.
const PROGRAM: &str = "keywarden-provider";

fn serve(args: &ServeArgs) -> ExitCode {
    let usage = |msg: String| cli::usage(PROGRAM, &msg);
    let config = match ServeConfig::try_from(args) {
        Ok(config) => config,
        Err(msg) => return usage(msg),
    };
    cli::run_server(
        PROGRAM,
        args.log_format,
        &args.log_level,
        args.check_config,
        || start(config),
    )
}

async fn start(config: ServeConfig) -> anyhow::Result<()> {
    let http = config.http_addr.bind().await?;
    let listeners = Listeners::bind(&config.socket, config.socket_mode, http)?;
    let aws =
        Arc::new(AwsClients::from_env(config.region.clone(), config.s3_force_path_style).await);
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
