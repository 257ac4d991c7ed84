//! The zabkeeper binary (placeholder until the server lands).
fn main() {
    eprintln!("zabkeeper: server not built yet");
    std::process::exit(2);
}
