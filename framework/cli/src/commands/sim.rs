//! `cairn sim` — run a consensus engine in the deterministic network simulator and report finality, traffic and
//! safety. Same flags and seed ⇒ the same output, byte for byte.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cairn_sim::{Behaviour, Bft, Crash, Latency, Partition, Protocol, Report, SimConfig, Snow};
use cairn_snow::Params;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// Simplex-family BFT with rotating leaders (cairn-bft).
    Bft,
    /// Snowman-family sampling with a quorum fallback (cairn-snow).
    Snow,
}

#[derive(clap::Args)]
pub struct Args {
    /// Which consensus engine to simulate.
    #[arg(long, value_enum, default_value = "bft")]
    engine: EngineArg,
    /// Number of nodes (all validators with weight 1).
    #[arg(long, default_value_t = 7)]
    nodes: usize,
    /// One-way link delay: `50ms` or a uniform range `50ms..150ms`.
    #[arg(long, default_value = "50ms")]
    latency: String,
    /// Extra uniform delay per message, 0..=JITTER ms.
    #[arg(long, default_value_t = 0)]
    jitter: u64,
    /// Probability that a message is lost, in [0, 1).
    #[arg(long, default_value_t = 0.0)]
    loss: f64,
    /// How many nodes are Byzantine.
    #[arg(long, default_value_t = 0)]
    byzantine: usize,
    /// What the Byzantine nodes do: silent, equivocate, conflict, null, random, impersonate, unjustified,
    /// nullify_and_finalize, twins, split_votes (bft), balance (snow).
    #[arg(long, default_value = "silent")]
    behaviour: String,
    /// A partition: `0-2|3-6@2000..6000` (node ranges) or `halves@2000..6000` (ms). Repeatable.
    #[arg(long)]
    partition: Vec<String>,
    /// A crash: `NODE@AT` or `NODE@AT..RESTART` (ms); a restarted node recovers from its WAL. Repeatable.
    #[arg(long)]
    crash: Vec<String>,
    /// Stop once every honest node has finalized this many heights.
    #[arg(long, default_value_t = 100)]
    decisions: u64,
    /// Seed of everything random in the run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Leader timeout in ms: how long a view waits for a proposal before nullifying it.
    #[arg(long, default_value_t = 500)]
    leader_timeout: u64,
    /// Give up at this virtual time in ms (default: decisions × 10 s + 60 s).
    #[arg(long, default_value_t = 0)]
    max_time: u64,
    /// (snow) Fraction of honest nodes that each crash once between 1 s and 11 s and restart 2 s later.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// (snow) Peers sampled per poll (default 20).
    #[arg(long)]
    k: Option<u32>,
    /// (snow) Votes of k that switch preference and count toward confidence (default 15).
    #[arg(long)]
    alpha: Option<u32>,
    /// (snow) Consecutive successful polls that finalize (default 20).
    #[arg(long)]
    beta: Option<u32>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Write an SVG with the finality latency distribution and latency over time.
    #[arg(long, value_name = "FILE.svg")]
    plot: Option<PathBuf>,
}

fn parse_crash(s: &str) -> anyhow::Result<Crash> {
    let bad = || {
        format!("cannot parse --crash {s:?}: expected NODE@AT or NODE@AT..RESTART in ms, e.g. 3@1000..2500")
    };
    let (node, when) = s.split_once('@').with_context(bad)?;
    let node = node.trim().parse().with_context(bad)?;
    let (at, restart) = match when.split_once("..") {
        Some((a, r)) => (a.trim().parse().with_context(bad)?, Some(r.trim().parse().with_context(bad)?)),
        None => (when.trim().parse().with_context(bad)?, None),
    };
    Ok(Crash { node, at, restart, torn: false })
}

fn config(args: &Args) -> anyhow::Result<SimConfig> {
    let behaviour: Behaviour = args.behaviour.parse()?;
    if args.engine == EngineArg::Bft && behaviour == Behaviour::Balance {
        bail!(
            "the bft engine has no `balance` behaviour (answering polls with the minority preference only exists \
             in sampling engines); choose silent, equivocate, conflict, null, random or impersonate"
        );
    }
    if args.engine == EngineArg::Bft
        && (args.churn > 0.0 || args.k.is_some() || args.alpha.is_some() || args.beta.is_some())
    {
        bail!("--churn, --k, --alpha and --beta apply to --engine snow only");
    }
    if !(0.0..=1.0).contains(&args.churn) {
        bail!("--churn must be a fraction in [0, 1], got {}", args.churn);
    }
    let latency: Latency = args.latency.parse()?;
    let partitions =
        args.partition.iter().map(|p| Partition::parse(p, args.nodes)).collect::<Result<Vec<_>, _>>()?;
    let crashes = args.crash.iter().map(|c| parse_crash(c)).collect::<anyhow::Result<Vec<_>>>()?;
    let mut cfg = SimConfig {
        nodes: args.nodes,
        latency,
        jitter: args.jitter,
        loss: args.loss,
        partitions,
        crashes,
        decisions: args.decisions,
        max_time: args.max_time,
        seed: args.seed,
        leader_timeout: args.leader_timeout,
        ..SimConfig::default()
    }
    .with_byzantine(args.byzantine, behaviour);
    let skip: Vec<usize> = (0..args.byzantine).collect();
    cfg.crashes.extend(cairn_sim::churn(args.nodes, args.churn, args.seed, &skip, 1_000, 10_000, 2_000));
    cfg.validate()?;
    Ok(cfg)
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(cfg.decisions);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} simulating {pos}/{len} decisions [{elapsed}] {wide_bar}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let snow;
    let protocol: &dyn Protocol = match args.engine {
        EngineArg::Bft => &Bft,
        EngineArg::Snow => {
            let d = Params::default();
            let params = Params {
                k: args.k.unwrap_or(d.k),
                alpha_p: args.alpha.unwrap_or(d.alpha_p),
                alpha_c: args.alpha.unwrap_or(d.alpha_c),
                beta: args.beta.unwrap_or(d.beta),
                concurrent: d.concurrent.min(args.beta.unwrap_or(d.beta)),
                ..d
            };
            params.validate().map_err(|e| anyhow::anyhow!("{e} (check --k, --alpha, --beta)"))?;
            snow = Snow::new(params);
            &snow
        }
    };
    let report = cairn_sim::run(protocol, &cfg, &mut |decided| {
        if let Some(bar) = &bar {
            bar.set_position(decided);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let wall = started.elapsed();
    if let Some(path) = &args.plot {
        plot(&report, path).with_context(|| format!("cannot write the plot to {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print_human(&report, wall);
    }
    Ok(())
}

fn print_human(r: &Report, wall: std::time::Duration) {
    let f = &r.finality_ms;
    println!(
        "engine {} · {} nodes ({} byzantine {:?}) · latency {} · loss {} · seed {}",
        r.engine, r.nodes, r.byzantine, r.behaviours, r.latency, r.loss, r.seed
    );
    println!("decided            {}/{}", r.decided, r.decisions);
    println!("safety violations  {}", r.safety_violations);
    println!(
        "finality (ms)      p50 {} · p95 {} · p99 {} · max {} · mean {}",
        f.p50, f.p95, f.p99, f.max, f.mean
    );
    println!("views per decision {} · fallbacks {}", r.views_per_decision, r.fallbacks);
    println!(
        "per node/decision  {} msgs · {} bytes",
        r.msgs_per_node_per_decision, r.bytes_per_node_per_decision
    );
    println!("evidence           {} (against honest nodes: {})", r.evidence, r.evidence_against_honest);
    println!("network            {:?}", r.network);
    println!("virtual time       {} ms · wall time {:.2} s", r.virtual_time_ms, wall.as_secs_f64());
    println!("audit digest       {}", r.audit_digest);
}

/// Two panels: a histogram of finality latencies, and latency against the virtual time of finalization.
fn plot(r: &Report, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let err = |e: &dyn std::fmt::Display| anyhow::anyhow!("{e}");
    let root = SVGBackend::new(path, (1000, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let (top, bottom) = root.split_vertically(400);
    let latencies: Vec<u64> = r.samples.iter().map(|(_, l)| *l).collect();
    let max = latencies.iter().copied().max().unwrap_or(1).max(1);
    let bucket = (max / 50).max(1);
    let buckets = max / bucket + 1;
    let mut counts = vec![0u32; buckets as usize + 1];
    for l in &latencies {
        if let Some(c) = counts.get_mut((l / bucket) as usize) {
            *c += 1;
        }
    }
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    let mut hist = ChartBuilder::on(&top)
        .caption(
            format!(
                "finality latency, {} nodes, {} (p50 {} ms, p99 {} ms)",
                r.nodes, r.latency, r.finality_ms.p50, r.finality_ms.p99
            ),
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d((0u64..buckets * bucket + bucket).into_segmented(), 0u32..peak + peak / 10 + 1)
        .map_err(|e| err(&e))?;
    hist.configure_mesh()
        .x_desc("finality latency (ms)")
        .y_desc("decisions × nodes")
        .draw()
        .map_err(|e| err(&e))?;
    hist.draw_series(
        Histogram::vertical(&hist)
            .style(BLUE.mix(0.6).filled())
            .margin(1)
            .data(latencies.iter().map(|l| ((l / bucket) * bucket, 1u32))),
    )
    .map_err(|e| err(&e))?;

    let mut points: Vec<(u64, u64)> = r.samples.clone();
    points.sort_unstable();
    let t_max = points.last().map_or(1, |(t, _)| *t).max(1);
    let mut line = ChartBuilder::on(&bottom)
        .caption("latency over time", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(35)
        .y_label_area_size(50)
        .build_cartesian_2d(0u64..t_max + 1, 0u64..max + max / 10 + 1)
        .map_err(|e| err(&e))?;
    line.configure_mesh()
        .x_desc("virtual time of finalization (ms)")
        .y_desc("latency (ms)")
        .draw()
        .map_err(|e| err(&e))?;
    line.draw_series(LineSeries::new(points, RED.stroke_width(1))).map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
