//! kelos-controller: parse flags, set up logging, run until SIGTERM / Ctrl-C.

use clap::Parser;
use kelos_controller::cli::{self, Flags};

#[tokio::main]
async fn main() {
    let flags = Flags::parse();
    if let Err(e) = cli::init_tracing(&flags) {
        eprintln!("kelos-controller: {e}");
        std::process::exit(1);
    }
    if let Err(e) = kelos_controller::run_main(flags).await {
        tracing::error!(error = %e, "kelos-controller failed");
        std::process::exit(1);
    }
}
