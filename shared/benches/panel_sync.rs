//! Usage sync of 10,000 accounts from the fake Marzban (written below, in progress).
fn main() {}
