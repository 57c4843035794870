//! `keywarden-bench`: the load generators and baselines of `make bench`. Each command prints one
//! JSON document on stdout (servers print nothing and run until SIGTERM).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use keywarden_bench::workload::Workload;
use keywarden_bench::{
    channel, decrypt_load, emit, fast_endpoint, mount, noop_kms, noop_provider, remount_load,
};

/// Load generators and baselines of the benchmark suite.
#[derive(Debug, Parser)]
#[command(name = "keywarden-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Provider Mounts interleaved with the bare SDK program; latencies of both.
    Mount {
        /// The provider's socket.
        #[arg(long)]
        socket: PathBuf,
        /// Workload file (JSON: requests and objects).
        #[arg(long)]
        workload: PathBuf,
        /// Timed rounds.
        #[arg(long, default_value_t = 200)]
        iterations: usize,
        /// Untimed rounds first.
        #[arg(long, default_value_t = 5)]
        warmup: usize,
    },
    /// Every request of the workload at the same instant; outcomes and latencies.
    Burst {
        /// The provider's socket.
        #[arg(long)]
        socket: PathBuf,
        /// Workload file (JSON: requests and objects).
        #[arg(long)]
        workload: PathBuf,
    },
    /// Warm re-Mounts from many clients for a fixed time; throughput and latency.
    RemountLoad {
        /// The provider's (or the no-op provider's) socket.
        #[arg(long)]
        socket: PathBuf,
        /// Workload file (JSON: requests and objects).
        #[arg(long)]
        workload: PathBuf,
        /// Mounts in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Untimed seconds first.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Measured seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
    },
    /// Serve the CSI provider service answering the workload's files from memory, until SIGTERM.
    NoopProvider {
        /// Socket to create.
        #[arg(long)]
        socket: PathBuf,
        /// Workload file whose objects are the answer.
        #[arg(long)]
        workload: PathBuf,
    },
    /// Serve the fast local AWS endpoint until SIGTERM; prints `{"url": …}` once listening.
    FastEndpoint {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// Hold every AWS answer this many milliseconds (standing for AWS's latency).
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Serve the no-op KMS v2 service on a unix socket until SIGTERM.
    NoopKms {
        /// Socket to create.
        #[arg(long)]
        socket: PathBuf,
    },
    /// Concurrent KMS v2 Decrypts of one cached ciphertext; throughput and latency.
    DecryptLoad {
        /// The plugin's (or the no-op server's) socket.
        #[arg(long)]
        socket: PathBuf,
        /// Calls in flight at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Untimed seconds first.
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
        /// Measured seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keywarden-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Mount {
            socket,
            workload,
            iterations,
            warmup,
        } => {
            let workload = Workload::load(&workload)?;
            let channel = channel::connect(&socket).await?;
            emit(&mount::latency(channel, &workload, iterations, warmup).await?)
        }
        Command::Burst { socket, workload } => {
            let workload = Workload::load(&workload)?;
            let channel = channel::connect(&socket).await?;
            emit(&mount::burst(channel, &workload).await?)
        }
        Command::NoopKms { socket } => noop_kms::serve(&socket).await,
        Command::RemountLoad {
            socket,
            workload,
            concurrency,
            warmup,
            seconds,
        } => {
            let workload = Workload::load(&workload)?;
            let channel = channel::connect(&socket).await?;
            let report = remount_load::run(
                channel,
                &workload,
                concurrency,
                Duration::from_secs_f64(warmup),
                Duration::from_secs_f64(seconds),
            )
            .await?;
            emit(&report)
        }
        Command::NoopProvider { socket, workload } => {
            noop_provider::serve(&socket, &Workload::load(&workload)?).await
        }
        Command::FastEndpoint { listen, delay_ms } => {
            fast_endpoint::serve(&listen, std::time::Duration::from_millis(delay_ms)).await
        }
        Command::DecryptLoad {
            socket,
            concurrency,
            warmup,
            seconds,
        } => {
            let channel = channel::connect(&socket).await?;
            let report = decrypt_load::run(
                channel,
                concurrency,
                Duration::from_secs_f64(warmup),
                Duration::from_secs_f64(seconds),
            )
            .await?;
            emit(&report)
        }
    }
}
