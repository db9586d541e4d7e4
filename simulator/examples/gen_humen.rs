//! Prints the bundled Humen scenario (see `simulator::humen`).
//!
//! ```text
//! cargo run -p simulator --example gen_humen > scenarios/humen.json
//! ```

fn main() {
    print!("{}", simulator::humen::generate());
}
