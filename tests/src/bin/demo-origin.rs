//! `demo-origin [--listen ADDR] [-v]`: the demo origin as a process, for `make dev` and scripts.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wyn_edge_tests::origin::{self, Options};

const USAGE: &str = "usage: demo-origin [--listen ADDR] [-v]

  --listen ADDR  address to listen on (default 127.0.0.1:$ORIGIN_PORT, else 127.0.0.1:3000)
  -v             log one line per request to stderr
  -h, --help     show this message";

/// How long requests in flight (an open chat stream, say) may run on after a shutdown signal,
/// unless a second signal comes first.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

struct Args {
    listen: SocketAddr,
    verbose: bool,
}

fn parse_args(
    mut args: impl Iterator<Item = String>,
    origin_port: Option<String>,
) -> Result<Args, String> {
    let mut listen = None;
    let mut verbose = false;
    while let Some(arg) = args.next() {
        let value = match arg.as_str() {
            "-v" | "--verbose" => {
                verbose = true;
                continue;
            }
            "--listen" => args
                .next()
                .ok_or("--listen: expected an address like 127.0.0.1:3000, found nothing")?,
            other => match other.strip_prefix("--listen=") {
                Some(value) => value.to_owned(),
                None => return Err(format!("unexpected argument {other:?}")),
            },
        };
        let address = value.parse().map_err(|_| {
            format!("--listen: expected an address like 127.0.0.1:3000, found {value:?}")
        })?;
        listen = Some(address);
    }
    let listen = match (listen, origin_port) {
        (Some(address), _) => address,
        (None, Some(port)) => {
            let port: u16 = port.parse().map_err(|_| {
                format!("ORIGIN_PORT: expected a port number 0..=65535, found {port:?}")
            })?;
            SocketAddr::from(([127, 0, 0, 1], port))
        }
        (None, None) => SocketAddr::from(([127, 0, 0, 1], 3000)),
    };
    Ok(Args { listen, verbose })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let port = std::env::var("ORIGIN_PORT")
        .ok()
        .filter(|port| !port.is_empty());
    let args = match parse_args(args.into_iter(), port) {
        Ok(args) => args,
        Err(message) => {
            eprintln!("demo-origin: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo-origin: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "demo origin listening on http://{address}")
        .and_then(|()| stdout.flush())
        .context("writing to stdout")?;
    drop(stdout);

    let options = Options {
        log_requests: args.verbose,
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let mut server = tokio::spawn(async move {
        origin::serve_with(listener, &options, async {
            let _ = stopped.await;
        })
        .await
    });
    tokio::select! {
        served = &mut server => return served.context("the server task")?.context("serving"),
        signal = shutdown_signal() => signal?,
    }
    let _ = stop.send(());
    tokio::select! {
        served = server => served.context("the server task")?.context("serving"),
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            eprintln!(
                "demo-origin: requests still open after {}s, closing them",
                SHUTDOWN_GRACE.as_secs()
            );
            Ok(())
        }
        // A second signal means: stop now.
        signal = shutdown_signal() => signal,
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted.context("listening for SIGINT"),
        _ = terminate.recv() => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], port: Option<&str>) -> Result<Args, String> {
        parse_args(
            args.iter().map(|arg| (*arg).to_owned()),
            port.map(str::to_owned),
        )
    }

    #[test]
    fn listen_comes_from_the_flag_then_origin_port_then_the_default() {
        let listen = |args: &[&str], port| parse(args, port).map(|args| args.listen.to_string());
        assert_eq!(listen(&[], None), Ok("127.0.0.1:3000".to_owned()));
        assert_eq!(listen(&[], Some("4100")), Ok("127.0.0.1:4100".to_owned()));
        assert_eq!(
            listen(&["--listen", "0.0.0.0:80"], Some("4100")),
            Ok("0.0.0.0:80".to_owned())
        );
        assert_eq!(
            listen(&["--listen=[::1]:8080"], None),
            Ok("[::1]:8080".to_owned())
        );
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse(&["--listen"], None).is_err());
        assert!(parse(&["--listen", "localhost"], None).is_err());
        assert!(parse(&["--port", "3000"], None).is_err());
        assert!(parse(&[], Some("http")).is_err());
        assert!(parse(&["-v"], None).is_ok_and(|args| args.verbose));
    }
}
