//! The `eip-agent` binary: parse arguments, install tracing, run the agent.
fn main() {
    eprintln!("eip-agent: not implemented yet");
}
