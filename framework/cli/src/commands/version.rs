//! `cairn version`

#[derive(clap::Args)]
pub struct Args {
    /// Print as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let version = env!("CARGO_PKG_VERSION");
    // Protocol versions: bump when the wire format of the app boundary or the host API changes.
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "cairn": version, "app_api": "cairn.app.v1", "host_api": "cairn_v1" })
        );
    } else {
        println!("cairn {version}\napp boundary: cairn.app.v1\nmodule host API: cairn_v1");
    }
    Ok(())
}
