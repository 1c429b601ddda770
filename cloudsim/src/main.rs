fn main() {
    eprintln!("eip-cloudsim: not implemented yet");
    std::process::exit(2);
}
