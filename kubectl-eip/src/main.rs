fn main() {
    eprintln!("kubectl-eip: not implemented yet");
    std::process::exit(2);
}
