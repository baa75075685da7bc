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
/// the terminal. Without a writable store folder, nothing is logged; when a write to the log
/// fails (a full disk), one line on stderr says so and logging stops for the process.
fn init_logging(config: &std::path::Path) {
    let Ok(loaded) = cerebro::config::Config::load(config) else {
        return;
    };
    let store = loaded.store_path();
    if std::fs::create_dir_all(&store).is_err() {
        return;
    }
    let path = store.join("cerebro.log");
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("CEREBRO_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::sync::Mutex::new(LogFile {
            file: Some(file),
            path,
        }))
        .with_ansi(false)
        // tracing-subscriber would otherwise print every failed write to stderr.
        .log_internal_errors(false)
        .try_init();
}

/// The log file, dropped (after one line on stderr) at its first failed write.
struct LogFile {
    file: Option<std::fs::File>,
    path: std::path::PathBuf,
}

impl std::io::Write for LogFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(f) = &mut self.file
            && let Err(e) = f.write_all(buf)
        {
            self.file = None;
            eprintln!(
                "cerebro: cannot write the log {} ({e}); logging is off for the rest of this run",
                self.path.display()
            );
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if let Some(f) = &mut self.file {
            let _ = f.flush();
        }
        Ok(())
    }
}
