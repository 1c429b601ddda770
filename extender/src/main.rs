fn main() {
    eprintln!("eip-extender: not implemented yet");
    std::process::exit(2);
}
