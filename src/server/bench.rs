//! `zabkeeper bench`: a bounded load generator (placeholder until written below).

/// Bench arguments.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {}

/// Runs the bench.
pub async fn run(_args: BenchArgs) -> anyhow::Result<String> {
    anyhow::bail!("bench not written yet")
}
