fn main() {
    println!("ser");
}
