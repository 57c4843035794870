//! `keywarden-provider`: parse the command line, set up logging, bind, and serve.

use std::process::ExitCode;
use std::sync::Arc;

use keywarden_provider::aws::AwsClients;
use keywarden_provider::cli::{Cli, Command, ServeArgs};
use keywarden_provider::config::ServeConfig;
use keywarden_provider::server;
use keywarden_runtime::{Listeners, cli, shutdown, socket};

fn main() -> ExitCode {
    let cli: Cli = match cli::parse(PROGRAM) {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.command {
        Command::Version => cli::run_report(PROGRAM, async {
            Ok::<_, std::convert::Infallible>(format!("{PROGRAM} {}", env!("CARGO_PKG_VERSION")))
        }),
        Command::Serve(args) => serve(&args),
        Command::Seal(args) => cli::run_report(PROGRAM, keywarden_provider::sealing::run(&args)),
        Command::Check(args) => {
            cli::run_report(PROGRAM, keywarden_provider::manifest_check::run(&args))
        }
    }
}

/// Name used in messages.
const PROGRAM: &str = "keywarden-provider";

fn serve(args: &ServeArgs) -> ExitCode {
    let usage = |msg: String| cli::usage(PROGRAM, &msg);
    let config = match ServeConfig::try_from(args) {
        Ok(config) => config,
        Err(e) => return usage(e.to_string()),
    };
    cli::run_server(PROGRAM, &args.serve, || start(config))
}

async fn start(config: ServeConfig) -> anyhow::Result<()> {
    let http = config.http_addr.bind().await?;
    // A predecessor still serving on the socket (a rolling update on the same node) is waited
    // for, up to --socket-wait; SIGTERM meanwhile ends the wait and the process.
    let mut shutdown = std::pin::pin!(shutdown::signal_received());
    let bound = tokio::select! {
        bound = socket::bind_when_free(&config.socket, config.socket_mode, config.socket_wait) => bound?,
        () = &mut shutdown => return Ok(()),
    };
    let (socket, socket_guard) = bound;
    let listeners = Listeners {
        socket,
        socket_guard,
        http,
    };
    let aws =
        Arc::new(AwsClients::from_env(config.region.clone(), config.s3_force_path_style).await);
    server::run(config, aws, listeners, Default::default(), shutdown).await?;
    Ok(())
}
