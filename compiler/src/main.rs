//! The `qforge` command line.

fn main() {
    eprintln!("qforge: the command line is not wired up yet");
    std::process::exit(1);
}
