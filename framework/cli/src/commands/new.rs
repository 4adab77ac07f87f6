//! `cairn new NAME --template small`: a ready chain directory that starts with one command.

use std::path::PathBuf;

use anyhow::{Result, bail};

use super::localnet;

#[derive(clap::Args)]
pub struct Args {
    /// Directory to create (must not exist or be empty).
    name: PathBuf,
    /// Chain template (see templates/README.md).
    #[arg(long, default_value = "small")]
    template: String,
    /// Number of validators (default: the template's).
    #[arg(long)]
    validators: Option<usize>,
    /// Chain id (default: the template's).
    #[arg(long)]
    chain_id: Option<String>,
    #[command(flatten)]
    engine: super::template::EngineArgs,
}

pub fn run(args: Args) -> Result<()> {
    if args.name.exists() && std::fs::read_dir(&args.name).map(|mut d| d.next().is_some()).unwrap_or(true) {
        bail!("{} already exists and is not empty: choose another NAME", args.name.display());
    }
    let t = super::template::load(&args.template)?;
    let validators = args.validators.unwrap_or(t.validators);
    let (nodes, _) =
        localnet::prepare(&args.name, &args.template, validators, args.chain_id, true, &args.engine)?;
    let exe = super::procs::cairn_exe()?;
    let script = format!(
        "#!/bin/sh\n# Starts this chain: {n} validators on loopback, logs in nodeI/node.log. Ctrl-C stops them.\n\
         cd \"$(dirname \"$0\")\" || exit 1\n\
         CAIRN=\"${{CAIRN:-$(command -v cairn || echo {exe})}}\"\n\
         exec \"$CAIRN\" localnet --dir . \"$@\"\n",
        n = nodes.len(),
        exe = shell_quote(&exe.display().to_string()),
    );
    let start = args.name.join("start.sh");
    std::fs::write(&start, script)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&start, std::fs::Permissions::from_mode(0o755))?;
    }
    println!(
        "created {} from template {}: {} ({} validators)",
        args.name.display(),
        t.name,
        t.description,
        nodes.len()
    );
    println!(
        "start it:  {}/start.sh     (or: cairn localnet --dir {})",
        args.name.display(),
        args.name.display()
    );
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
