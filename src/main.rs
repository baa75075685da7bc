//! The `cerebro` binary: parse the command line, set up logging to a file, dispatch.

mod cli;
mod tui;

use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    init_logging(&cli.config);
    let code = match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            1
        }
    };
    std::process::exit(code);
}

/// Logs go to `<store>/cerebro.log` beside the config (filter with `CEREBRO_LOG`), never to
/// the terminal. Without a writable store folder, nothing is logged.
fn init_logging(config: &std::path::Path) {
    let Ok(loaded) = cerebro::config::Config::load(config) else {
        return;
    };
    let store = loaded.store_path();
    if std::fs::create_dir_all(&store).is_err() {
        return;
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(store.join("cerebro.log"))
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CEREBRO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .try_init();
}
