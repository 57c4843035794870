//! Command-line plumbing both binaries share: one-line usage errors with exit code 2, the
//! `--http-addr` value, durations, the admin listener, and the two ways a `main` runs (a server
//! with [`run_server`], a one-shot command with [`run_report`]).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV6};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use nix::errno::Errno;

/// Exit code for a bad command line or configuration (what clap uses for usage errors).
pub const EXIT_USAGE: u8 = 2;

/// Parses the command line. A usage error is printed as one line naming the problem and turned
/// into exit code 2; `--help` and `--version` are printed and exit 0.
pub fn parse<T: clap::Parser>(program: &str) -> Result<T, ExitCode> {
    match T::try_parse() {
        Ok(args) => Ok(args),
        Err(e) if e.use_stderr() => Err(usage(program, &one_line(&e.render().to_string()))),
        Err(e) => {
            let _ = e.print();
            Err(ExitCode::SUCCESS)
        }
    }
}

/// A configuration the command line accepted but that cannot run: the message names the flag
/// and the rule. (Validation finds these itself; there is no underlying error to keep.)
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl From<String> for ConfigError {
    fn from(msg: String) -> Self {
        Self(msg)
    }
}

impl From<&str> for ConfigError {
    fn from(msg: &str) -> Self {
        Self(msg.to_owned())
    }
}

/// Prints `program: msg` and returns the usage exit code.
pub fn usage(program: &str, msg: &str) -> ExitCode {
    eprintln!("{program}: {msg}");
    ExitCode::from(EXIT_USAGE)
}

/// Logs and prints a fatal error; returns exit code 1.
pub fn fail(program: &str, err: &dyn std::fmt::Display) -> ExitCode {
    tracing::error!(error = %err, "{program} failed");
    eprintln!("{program}: {err}");
    ExitCode::FAILURE
}

/// The common tail of a server's `main`: check the log level, stop after `--check-config`,
/// set up logging and process hardening, then run `start` on a multi-threaded runtime.
pub fn run_server<D, F, Fut, E>(
    program: &str,
    flags: &crate::serve_flags::ServeFlags<D>,
    start: F,
) -> ExitCode
where
    D: crate::serve_flags::Defaults,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let filter = match crate::telemetry::parse_level(&flags.log_level) {
        Ok(filter) => filter,
        Err(e) => return usage(program, &e.to_string()),
    };
    if flags.check_config {
        #[allow(clippy::print_stdout)]
        {
            println!("{program}: configuration ok");
        }
        return ExitCode::SUCCESS;
    }
    crate::telemetry::init(flags.log_format, filter);
    crate::harden_process();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(program, &crate::catalogue::no_runtime(e)),
    };
    match runtime.block_on(start()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(program, &format!("{e:#}")),
    }
}

/// Runs a one-shot command (not a server) on a current-thread runtime after process hardening:
/// prints its report on stdout and returns exit code 0, or prints `program: error` on stderr
/// and returns 1. Warnings are logged as text on stderr.
pub fn run_report<Fut, E>(program: &str, command: Fut) -> ExitCode
where
    Fut: std::future::Future<Output = Result<String, E>>,
    E: std::fmt::Display,
{
    if let Ok(filter) = crate::telemetry::parse_level("warn") {
        crate::telemetry::init(crate::LogFormat::Text, filter);
    }
    crate::harden_process();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(program, &crate::catalogue::no_runtime(e)),
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
            eprintln!("{program}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The reason of a clap error on one line: the text before its usage block, joined.
pub fn one_line(rendered: &str) -> String {
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

/// `--http-addr`: a socket address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpAddr {
    /// Serve on this address.
    On(std::net::SocketAddr),
    /// No HTTP server.
    Off,
}

impl std::str::FromStr for HttpAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "off" {
            return Ok(Self::Off);
        }
        s.parse()
            .map(Self::On)
            .map_err(|_| crate::catalogue::bad_http_addr(s))
    }
}

impl HttpAddr {
    /// Binds the admin listener, unless `off`. The IPv6 wildcard `[::]` is one dual-stack socket
    /// (see [`bind_dual_stack`]), so it answers on IPv4 and IPv6.
    pub async fn bind(self) -> std::io::Result<Option<tokio::net::TcpListener>> {
        let Self::On(addr) = self else {
            return Ok(None);
        };
        let bound = match addr {
            SocketAddr::V6(v6) if v6.ip().is_unspecified() => match bind_dual_stack(v6) {
                Err(e) if e.raw_os_error() == Some(Errno::EAFNOSUPPORT as i32) => {
                    let v4 = SocketAddr::from((Ipv4Addr::UNSPECIFIED, v6.port()));
                    tracing::warn!(
                        "--http-addr {addr}: the kernel has IPv6 disabled; listening on {v4}"
                    );
                    tokio::net::TcpListener::bind(v4).await
                }
                bound => bound,
            },
            _ => tokio::net::TcpListener::bind(addr).await,
        };
        bound
            .map(Some)
            .map_err(|e| std::io::Error::new(e.kind(), crate::catalogue::cannot_listen(addr, &e)))
    }
}

/// Binds `addr` (`[::]:port`) as one socket for IPv6 and IPv4 (IPv4 clients appear as
/// `::ffff:a.b.c.d`): IPV6_V6ONLY is turned off explicitly, whatever the node's
/// `net.ipv6.bindv6only` default, and SO_REUSEADDR is set as for any other address.
/// `EAFNOSUPPORT` when the kernel has IPv6 disabled.
pub fn bind_dual_stack(addr: SocketAddrV6) -> std::io::Result<tokio::net::TcpListener> {
    use nix::sys::socket::{
        AddressFamily, Backlog, SockFlag, SockType, SockaddrIn6, bind, listen, setsockopt, socket,
        sockopt,
    };
    let fd = socket(
        AddressFamily::Inet6,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        None,
    )?;
    setsockopt(&fd, sockopt::Ipv6V6Only, &false)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(fd.as_raw_fd(), &SockaddrIn6::from(addr))?;
    listen(&fd, Backlog::new(1024)?)?;
    tokio::net::TcpListener::from_std(std::net::TcpListener::from(fd))
}

/// Parses `2s`, `5m`, `100s`, `1h30m`, or `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| crate::catalogue::bad_duration(s, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_joins_the_reason() {
        let rendered = "error: the following required arguments were not provided:\n  --out <OUT>\n\nUsage: x seal --out <OUT>\n";
        assert_eq!(
            one_line(rendered),
            "the following required arguments were not provided: --out <OUT>"
        );
        assert_eq!(
            one_line("error: unexpected argument '--x' found\n\nUsage: x"),
            "unexpected argument '--x' found"
        );
        assert_eq!(one_line(""), "invalid arguments");
    }

    #[test]
    fn http_addr_and_durations() {
        assert_eq!("off".parse::<HttpAddr>(), Ok(HttpAddr::Off));
        assert!("localhost".parse::<HttpAddr>().is_err());
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
        assert_eq!(
            "[::]:8989".parse::<HttpAddr>(),
            Ok(HttpAddr::On("[::]:8989".parse().expect("address")))
        );
    }

    /// The chart's default host: one socket that IPv4 and IPv6 clients both reach, with
    /// IPV6_V6ONLY read back as off. Needs an IPv6 loopback, and says so when there is none.
    #[tokio::test]
    async fn the_ipv6_wildcard_is_one_dual_stack_socket() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = HttpAddr::On("[::]:0".parse().expect("address"))
            .bind()
            .await
            .expect("binds (this test needs IPv6 enabled in the kernel)")
            .expect("on");
        let local = listener.local_addr().expect("bound");
        assert!(local.is_ipv6(), "{local}");
        let v6only = nix::sys::socket::getsockopt(&listener, nix::sys::socket::sockopt::Ipv6V6Only)
            .expect("getsockopt");
        assert!(!v6only, "IPV6_V6ONLY must be off");
        for client in [
            Ipv4Addr::LOCALHOST.into(),
            std::net::Ipv6Addr::LOCALHOST.into(),
        ] {
            let target = SocketAddr::new(client, local.port());
            let mut stream = tokio::net::TcpStream::connect(target)
                .await
                .unwrap_or_else(|e| panic!("connect {target} (is there an IPv6 loopback?): {e}"));
            let (mut accepted, peer) = listener.accept().await.expect("accept");
            stream.write_all(b"x").await.expect("write");
            let mut byte = [0u8; 1];
            accepted.read_exact(&mut byte).await.expect("read");
            assert_eq!(&byte, b"x", "{target} reached the listener as {peer}");
        }
    }
}
