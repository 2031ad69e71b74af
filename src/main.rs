fn main() {
    eprintln!("ipkit: the command line is not built yet");
    std::process::exit(2);
}
