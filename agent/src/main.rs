fn main() {
    eprintln!("eip-agent: not implemented yet");
    std::process::exit(2);
}
