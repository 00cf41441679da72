//! The `marauder` command line.

use anyhow::Context;
use clap::{Parser, Subcommand};
use marauder::ServeConfig;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "marauder", version, about = "Real-time location sharing: the Marauder's Map.")]
struct Cli {
    /// Log format.
    #[arg(long, env = "MARAUDER_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], global = true)]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server with the embedded store.
    Serve(ServeConfig),
    /// Run the reference benchmark against a server (by default, one it starts itself).
    Bench(marauder::bench::BenchArgs),
    /// Walkers strolling about a public map at walking speed, reporting like phones do.
    Simulate(marauder::simulate::SimulateArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_env("MARAUDER_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if cli.log_format == "json" {
        logs.json().init()
    } else {
        logs.init()
    }
    match cli.command {
        Command::Serve(config) => serve(config).await,
        Command::Bench(args) => bench(args).await,
        Command::Simulate(args) => simulate(args).await,
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    marauder::run(config, listener, shutdown).await
}

async fn bench(args: marauder::bench::BenchArgs) -> anyhow::Result<()> {
    let report = marauder::bench::run(&args).await?;
    if !args.quiet {
        eprint!("{}", report.table());
    }
    println!("{}", report.json_line());
    if !report.clean() {
        anyhow::bail!("the run was not clean: something missing, repeated, reordered or failed");
    }
    Ok(())
}

async fn simulate(args: marauder::simulate::SimulateArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    tokio::spawn(stop_on_signal(shutdown.clone()));
    let walked = marauder::simulate::run(&args, shutdown).await?;
    tracing::info!(accepted = walked.accepted, refused = walked.refused, "the walkers are done");
    anyhow::ensure!(walked.refused == 0, "{} of the walkers' reports were refused", walked.refused);
    Ok(())
}

/// Cancels `shutdown` on the first SIGINT or SIGTERM.
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
        _ = int.recv() => tracing::info!("SIGINT: shutting down"),
    }
    shutdown.cancel();
}
