//! The `ser` command line; the commands are in `ser::cli`.

fn main() {
    ser::cli::main()
}
